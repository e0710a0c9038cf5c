//! `make bench`, web part: the load client. The real `sandbot` binary
//! serves opsdroid's websocket protocol (a POST names a socket, then the
//! upgrade, then JSON frames) pinned to one core; a closed-loop client in
//! this process, pinned to the other, keeps `c` messages in flight (one per
//! socket) and times every answer. Per scenario it prints the server's CPU
//! per message (from /proc, the figure least moved by noise) and its
//! history thread's share, replies/s, p50/p99, the client's own CPU per
//! message and how busy each core was (so a reader can tell the client was
//! not the limit); then long runs, round by round (does a message cost more
//! late in a run?); syscalls and allocations per message (`perf stat`, when
//! perf can attach); the in-process dispatcher alone; the piped shell.
//! Prints, asserts nothing but the answers.
//!
//! Hubot 14 is measured beside sandbot whenever `node` is on the PATH and
//! its packages are installed (`make bench-peers`, part of `make bench`;
//! `WEB_BENCH_HUBOT=off` leaves it out): in each `hello` scenario it is one
//! more server on the server's core, driven by the same client (an adapter
//! speaking opsdroid's websocket protocol, `peers/hubot/`), its rounds
//! alternated with sandbot's; then a table gives sandbot's CPU per message
//! ÷ Hubot's, paired round by round. Without node or the packages, one line
//! says why and the rest runs as before.
//!
//! `SANDBOT_BENCH_BINS=old=/path/a,new=/path/b` runs the websocket parts
//! against those binaries instead of this build's, their rounds alternated,
//! for before/after figures from one sitting on one machine.
//! `cargo bench -p sandbot --bench web -- long` runs only the parts whose
//! names contain `long` (websocket, long, counts, dispatcher, shell);
//! `WEB_BENCH_SETUP=history` only the scenarios whose label contains it,
//! `WEB_BENCH_CONCURRENCY=32` only that concurrency; `WEB_BENCH_MESSAGES`
//! and `WEB_BENCH_LONG` change how many messages a round and a long run
//! have; `WEB_BENCH_PROFILE` prints the server's pid and waits 3 s before
//! each timed round (to attach a profiler), and makes rounds 5× longer.

use futures::{SinkExt, StreamExt};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[path = "peers/hubot.rs"]
mod hubot;
mod support;
use support::builds;

/// Messages in one timed round of a scenario.
fn messages() -> usize {
    env_usize("WEB_BENCH_MESSAGES", 20_000)
}
/// Each figure is the round with the median server CPU of this many: on a
/// shared 2-core machine one round can be off by half.
const ROUNDS: usize = 3;
/// Untimed messages on each client before its scenario's rounds.
const WARM_UP: usize = 2_000;
/// A long run is cut into rounds of this many messages.
const LONG_ROUND: usize = 6_400;
/// Messages in a long run (before retention by count counted a run's
/// `running` row and its record once, it started deleting past 50,000).
fn long_run() -> usize {
    env_usize("WEB_BENCH_LONG", 64_000)
}
/// Messages in a window counted by perf (slow: every malloc traps).
const COUNTED: usize = 3_200;
/// The one user every frame names: the answer is `Hello alice`.
const USER: &str = "alice";

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a whole number")),
        Err(_) => default,
    }
}

fn skill(name: &str) -> std::path::PathBuf {
    sandbot_test_skills::path(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The core the server runs on; the client takes core 0.
const SERVER_CORE: usize = 1;
const CLIENT_CORE: usize = 0;

/// Pins the calling thread (and what it spawns) to one CPU.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPUs online. Not `available_parallelism`, which counts only the CPUs this
/// thread may run on: once the client is pinned, that is one.
fn cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// A server's configuration: what differs between scenarios.
#[derive(Clone, Copy)]
struct Setup {
    label: &'static str,
    extra_skills: usize,
    reuse: bool,
    history: bool,
}

const SETUPS: [Setup; 5] = [
    Setup {
        label: "hello (defaults: fresh instance, history on)",
        extra_skills: 0,
        reuse: false,
        history: true,
    },
    Setup {
        label: "hello, history off",
        extra_skills: 0,
        reuse: false,
        history: false,
    },
    Setup {
        label: "hello, instance-reuse",
        extra_skills: 0,
        reuse: true,
        history: true,
    },
    Setup {
        label: "hello, instance-reuse, history off",
        extra_skills: 0,
        reuse: true,
        history: false,
    },
    Setup {
        label: "hello + 1,000 regex skills",
        extra_skills: 1000,
        reuse: false,
        history: true,
    },
];

fn setups() -> Vec<Setup> {
    let only = std::env::var("WEB_BENCH_SETUP").unwrap_or_default();
    SETUPS
        .into_iter()
        .filter(|s| s.label.contains(only.as_str()))
        .collect()
}

fn concurrencies() -> Vec<usize> {
    match std::env::var("WEB_BENCH_CONCURRENCY") {
        Ok(c) => vec![c.parse().expect("WEB_BENCH_CONCURRENCY: a number")],
        Err(_) => vec![1, 32],
    }
}

struct Server {
    child: Child,
    port: u16,
    /// sandbot (which has a history thread to count), not the peer.
    sandbot: bool,
    _dir: tempfile::TempDir,
}

/// Sockets a server accepts: sandbot's `max-connections`, and Hubot's.
const MAX_CONNECTIONS: usize = 256;

/// Has `command`'s process run on the server's core (when there are two).
fn on_server_core(command: &mut Command) -> &mut Command {
    if cpus() > 1 {
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(SERVER_CORE, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
    }
    command
}

impl Server {
    fn start(bin: &Path, setup: Setup) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let skills = dir.path().join("skills");
        std::fs::create_dir_all(&skills).unwrap();
        std::fs::copy(skill("hello"), skills.join("hello.wasm")).unwrap();
        std::fs::copy(skill("configured"), skills.join("configured.wasm")).unwrap();
        let port = free_port();
        let mut config = format!(
            "connectors:\n  websocket: {{max-connections: {MAX_CONNECTIONS}, page: false}}\nweb: {{port: {port}}}\nskills-dir: skills\ndata-dir: data\n{}skills:\n  hello: {{{}}}\n",
            if setup.history {
                ""
            } else {
                "history: {enabled: false}\n"
            },
            if setup.reuse {
                "instance-reuse: 1000000"
            } else {
                ""
            }
        );
        for i in 0..setup.extra_skills {
            config.push_str(&format!(
                "  cmd{i}: {{path: skills/configured.wasm, pattern: '^cmd{i} (?P<x>\\w+)$'}}\n"
            ));
        }
        let path = dir.path().join("configuration.yaml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(bin);
        command
            .args(["start", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = on_server_core(&mut command)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Server::listening(child, port, dir, true)
    }

    /// Hubot, with the same limit on sockets, on the same core.
    fn hubot(peer: &hubot::Hubot) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("hubot.log");
        let mut command = peer.command(port, MAX_CONNECTIONS, std::fs::File::create(&log).unwrap());
        let child = on_server_core(&mut command)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} (node): {e}", peer.label));
        Server::listening(child, port, dir, false)
    }

    /// Waits for `child` to listen on `port`; a child that exits first (or
    /// never listens) fails the bench with its log, if it wrote one.
    fn listening(mut child: Child, port: u16, dir: tempfile::TempDir, sandbot: bool) -> Server {
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.path().join("hubot.log")).unwrap_or_default();
                panic!(
                    "the server never listened ({exited:?}){}",
                    if log.is_empty() {
                        String::new()
                    } else {
                        format!(": {log}")
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            port,
            sandbot,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The whole process's CPU, and its history writer thread's (none for
    /// the peer).
    fn cpu(&self) -> (Duration, Option<Duration>) {
        let history = self.sandbot.then(|| {
            threads_cpu(self.pid())
                .into_iter()
                .filter(|(name, _)| name == "history")
                .map(|(_, cpu)| cpu)
                .sum()
        });
        (support::cpu_of(self.pid()), history)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each thread of process `pid`: its name and CPU time so far.
fn threads_cpu(pid: u32) -> Vec<(String, Duration)> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            // A thread may end between the listing and the read.
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
            Some((name, Duration::from_secs_f64(ticks as f64 / hz)))
        })
        .collect()
}

/// Busy and total jiffies of one core so far, from /proc/stat (every
/// process on it, not only ours).
fn core_jiffies(cpu: usize) -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let name = format!("cpu{cpu} ");
    let Some(line) = stat.lines().find(|l| l.starts_with(&name)) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU time of the calling thread (the client's runtime runs on it).
fn thread_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_THREAD)
}

/// What one timed round measured.
#[derive(Clone)]
struct Figures {
    messages: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    /// The server's CPU per reply, all threads.
    server: Duration,
    /// Of which its history writer thread (sandbot's only).
    history: Option<Duration>,
    /// The client's own CPU per reply.
    client: Duration,
    /// The share of the round the client's thread was on a CPU.
    client_busy: f64,
    /// How busy each core was over the round (all processes on it).
    client_core: f64,
    server_core: f64,
}

/// The closed-loop client: `c` sockets on one server, one message in flight
/// on each, on a one-thread runtime on this (pinned) thread.
struct Client {
    rt: tokio::runtime::Runtime,
    sockets: Vec<(Utf8Bytes, support::Socket)>,
}

impl Client {
    /// Opens `concurrency` sockets on `server` and sends one message on
    /// each (the server's first instance, the sockets' buffers).
    fn connect(server: &Server, concurrency: usize) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sockets = rt.block_on(async {
            let mut sockets = Vec::new();
            for _ in 0..concurrency {
                let (id, mut ws) = support::connect_named(server.port).await;
                // opsdroid's frame: the message, who says it, on which socket.
                let frame = serde_json::json!({"message": "hello", "user": USER, "socket": id});
                let frame = Utf8Bytes::from(frame.to_string());
                ws.send(Message::Text(frame.clone())).await.unwrap();
                ws.next().await.unwrap().unwrap();
                sockets.push((frame, ws));
            }
            sockets
        });
        Client { rt, sockets }
    }

    /// Sends about `messages` `hello`s (a multiple of the sockets), each
    /// socket's next once its answer is in, and measures.
    fn round(&mut self, server: &Server, messages: usize) -> Figures {
        let mut per = messages.div_ceil(self.sockets.len());
        if std::env::var_os("WEB_BENCH_PROFILE").is_some() {
            eprintln!("server pid {}", server.pid());
            std::thread::sleep(Duration::from_secs(3));
            per *= 5;
        }
        let expect = format!("Hello {USER}");
        let sockets = std::mem::take(&mut self.sockets);
        let (server_before, history_before) = server.cpu();
        let client_before = thread_cpu();
        let cores_before = (core_jiffies(CLIENT_CORE), core_jiffies(SERVER_CORE));
        let start = Instant::now();
        let (sockets, mut latencies) = self.rt.block_on(async {
            let tasks: Vec<_> = sockets
                .into_iter()
                .map(|(frame, mut ws)| {
                    let expect = expect.clone();
                    tokio::spawn(async move {
                        let mut latencies = Vec::with_capacity(per);
                        for _ in 0..per {
                            let t = Instant::now();
                            ws.send(Message::Text(frame.clone())).await.unwrap();
                            let reply = ws.next().await.unwrap().unwrap();
                            latencies.push(t.elapsed());
                            assert_eq!(reply.to_text().unwrap(), expect, "a wrong answer");
                        }
                        ((frame, ws), latencies)
                    })
                })
                .collect();
            let mut sockets = Vec::new();
            let mut latencies = Vec::new();
            for t in tasks {
                let (socket, l) = t.await.unwrap();
                sockets.push(socket);
                latencies.extend(l);
            }
            (sockets, latencies)
        });
        let took = start.elapsed();
        let client = thread_cpu() - client_before;
        let (server_after, history_after) = server.cpu();
        let busy =
            |(b0, t0): (u64, u64), (b1, t1): (u64, u64)| (b1 - b0) as f64 / (t1 - t0).max(1) as f64;
        let cores_after = (core_jiffies(CLIENT_CORE), core_jiffies(SERVER_CORE));
        self.sockets = sockets;
        latencies.sort_unstable();
        let n = latencies.len();
        Figures {
            messages: n,
            rate: n as f64 / took.as_secs_f64(),
            p50: latencies[n / 2],
            p99: latencies[n * 99 / 100],
            server: (server_after - server_before) / n as u32,
            history: history_after
                .zip(history_before)
                .map(|(after, before)| after.saturating_sub(before) / n as u32),
            client: client / n as u32,
            client_busy: client.as_secs_f64() / took.as_secs_f64(),
            client_core: busy(cores_before.0, cores_after.0),
            server_core: busy(cores_before.1, cores_after.1),
        }
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The round with the median server CPU, and the range of it over all.
fn median(mut rounds: Vec<Figures>) -> (Figures, Duration, Duration) {
    rounds.sort_by_key(|f| f.server);
    let (lo, hi) = (rounds[0].server, rounds[rounds.len() - 1].server);
    (rounds[rounds.len() / 2].clone(), lo, hi)
}

const TABLE_HEAD: &str = "| build | scenario | c | replies/s | p50 | p99 | server CPU/msg (range) | history thread/msg | client CPU/msg | client thread busy / its core busy | server core busy |\n|---|---|---|---|---|---|---|---|---|---|---|";

fn row(build: &str, scenario: &str, c: usize, f: &Figures, range: Option<(Duration, Duration)>) {
    let range = range
        .map(|(lo, hi)| format!(" ({:.0}–{:.0})", us(lo), us(hi)))
        .unwrap_or_default();
    let history = f.history.map_or("–".into(), |h| format!("{:.1} µs", us(h)));
    println!(
        "| {build} | {scenario} | {c} | {:.0} | {:.0} µs | {:.0} µs | {:.1} µs{range} | {history} | {:.1} µs | {:.0}% / {:.0}% | {:.0}% |",
        f.rate,
        us(f.p50),
        us(f.p99),
        us(f.server),
        us(f.client),
        f.client_busy * 100.0,
        f.client_core * 100.0,
        f.server_core * 100.0,
    );
}

/// Every scenario at every concurrency: the builds' rounds alternated;
/// then, when perf can attach, a counted window each.
fn websocket(counts: bool) {
    let builds = builds();
    let messages = messages();
    println!(
        "\n## Websocket end to end: the server on core {SERVER_CORE}, a closed-loop client on core {CLIENT_CORE}, {messages} messages a round, the median of {ROUNDS} rounds (builds alternated)"
    );
    let peer = hubot::Hubot::find();
    match &peer {
        Ok(peer) => println!(
            "{}: one more server in the `hello` scenarios (not those with other skills), on core {SERVER_CORE} too, its rounds alternated with sandbot's",
            peer.label
        ),
        Err(why) => println!("Hubot: not measured ({why})"),
    }
    println!("{TABLE_HEAD}");
    let mut counted = Vec::new();
    let mut ratios = Vec::new();
    let mut perf = counts.then(Perf::new);
    for setup in setups() {
        let mut servers: Vec<Server> = builds
            .iter()
            .map(|b| Server::start(&b.bin, setup))
            .collect();
        let mut labels: Vec<&str> = builds.iter().map(|b| b.label.as_str()).collect();
        // Hubot has no other skills: it is measured where sandbot has `hello` only.
        let peer = peer.as_ref().ok().filter(|_| setup.extra_skills == 0);
        if let Some(peer) = peer {
            servers.push(Server::hubot(peer));
            labels.push(&peer.label);
        }
        for c in concurrencies() {
            let mut clients: Vec<Client> = servers
                .iter()
                .map(|s| {
                    let mut client = Client::connect(s, c);
                    // Untimed: Hubot's JavaScript is compiled as it runs hot.
                    client.round(s, WARM_UP);
                    client
                })
                .collect();
            let mut rounds: Vec<Vec<Figures>> = vec![Vec::new(); servers.len()];
            for _ in 0..ROUNDS {
                for (i, server) in servers.iter().enumerate() {
                    rounds[i].push(clients[i].round(server, messages));
                }
            }
            if let Some(hubot) = peer.and(rounds.last()) {
                for (build, rounds) in builds.iter().zip(&rounds) {
                    ratios.push(Ratio::of(&build.label, setup.label, c, rounds, hubot));
                }
            }
            for (label, rounds) in labels.iter().zip(rounds) {
                let (f, lo, hi) = median(rounds);
                row(label, setup.label, c, &f, Some((lo, hi)));
            }
            if let Some(Ok(perf)) = &mut perf {
                for ((build, server), client) in builds.iter().zip(&servers).zip(&mut clients) {
                    let n = perf.count(server, client);
                    counted.push((build.label.clone(), setup.label, c, n));
                }
            }
        }
    }
    if !ratios.is_empty() {
        println!(
            "\n## sandbot's server CPU per message ÷ Hubot's, paired round by round (the median pair, and the range over the {ROUNDS} rounds)"
        );
        println!(
            "| build | scenario | c | sandbot CPU/msg | Hubot CPU/msg | sandbot ÷ Hubot (range) | replies/s, sandbot / Hubot |\n|---|---|---|---|---|---|---|"
        );
        for r in ratios {
            r.print();
        }
    }
    match perf {
        None => {}
        Some(Err(why)) => println!("\nSyscalls and allocations per message: not measured ({why})"),
        Some(Ok(perf)) => {
            println!(
                "\n## Per message, counted by `perf stat -p` over {COUNTED} messages (the whole server process; a separate window: the malloc probes slow it)"
            );
            println!(
                "| build | scenario | c | syscalls/msg | allocations/msg (malloc + calloc + realloc) |\n|---|---|---|---|---|"
            );
            for (build, scenario, c, n) in counted {
                match n {
                    Ok((syscalls, allocs)) => println!(
                        "| {build} | {scenario} | {c} | {syscalls:.1} | {} |",
                        allocs.map_or("not counted".into(), |a| format!("{a:.1}"))
                    ),
                    Err(e) => println!("| {build} | {scenario} | {c} | {e} | |"),
                }
            }
            drop(perf);
        }
    }
}

/// sandbot's CPU per message over Hubot's in one scenario, round by round.
struct Ratio {
    build: String,
    scenario: &'static str,
    c: usize,
    /// The rounds' ratios, sorted; with sandbot's and Hubot's figures.
    each: Vec<(f64, Figures, Figures)>,
}

impl Ratio {
    /// Round i of `sandbot` against round i of `hubot`: the two ran one
    /// after the other, under the same load.
    fn of(
        build: &str,
        scenario: &'static str,
        c: usize,
        sandbot: &[Figures],
        hubot: &[Figures],
    ) -> Ratio {
        let mut each: Vec<(f64, Figures, Figures)> = sandbot
            .iter()
            .zip(hubot)
            .map(|(s, h)| {
                (
                    us(s.server) / us(h.server).max(f64::MIN_POSITIVE),
                    s.clone(),
                    h.clone(),
                )
            })
            .collect();
        each.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ratio {
            build: build.into(),
            scenario,
            c,
            each,
        }
    }

    fn print(&self) {
        let (ratio, s, h) = &self.each[self.each.len() / 2];
        let (lo, hi) = (self.each[0].0, self.each[self.each.len() - 1].0);
        println!(
            "| {} | {} | {} | {:.1} µs | {:.1} µs | {ratio:.2} ({lo:.2}–{hi:.2}) | {:.0} / {:.0} |",
            self.build,
            self.scenario,
            self.c,
            us(s.server),
            us(h.server),
            s.rate,
            h.rate
        );
    }
}

/// One long run per build, the defaults at c=32, cut into rounds: a cost
/// that grows with the run shows as rounds getting dearer.
fn long() {
    let builds = builds();
    let total = long_run();
    let setup = SETUPS[0];
    println!(
        "\n## A long run: {total} messages at c=32, `{}`, in rounds of {LONG_ROUND} (builds alternated round by round)",
        setup.label
    );
    println!("{TABLE_HEAD}");
    let servers: Vec<Server> = builds
        .iter()
        .map(|b| Server::start(&b.bin, setup))
        .collect();
    let mut clients: Vec<Client> = servers.iter().map(|s| Client::connect(s, 32)).collect();
    let mut all: Vec<Vec<Figures>> = vec![Vec::new(); builds.len()];
    for round in 1..=total.div_ceil(LONG_ROUND) {
        for (i, server) in servers.iter().enumerate() {
            let f = clients[i].round(server, LONG_ROUND);
            let sent: usize = all[i].iter().map(|f| f.messages).sum::<usize>() + f.messages;
            row(
                &builds[i].label,
                &format!("round {round}, to message {sent}"),
                32,
                &f,
                None,
            );
            all[i].push(f);
        }
    }
    for (build, rounds) in builds.iter().zip(all) {
        let half = rounds.len() / 2;
        let mean =
            |r: &[Figures]| r.iter().map(|f| us(f.server)).sum::<f64>() / r.len().max(1) as f64;
        println!(
            "\n{}: server CPU per message, first half of the run {:.1} µs, second half {:.1} µs",
            build.label,
            mean(&rounds[..half]),
            mean(&rounds[half..])
        );
    }
}

/// `perf stat` attached to a server for a window: syscalls (the
/// `raw_syscalls:sys_enter` tracepoint) and allocations (uprobes on libc's
/// malloc, calloc and realloc, added for this run and removed after it).
struct Perf {
    /// The probes this run added, to delete when done.
    added: Vec<String>,
    allocs: bool,
}

const ALLOCATORS: [&str; 3] = ["malloc", "calloc", "realloc"];

impl Perf {
    fn new() -> Result<Perf, String> {
        let ok = |args: &[&str]| {
            Command::new("perf")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["stat", "-e", "raw_syscalls:sys_enter", "--", "true"]) {
            return Err("`perf stat -e raw_syscalls:sys_enter` does not run here".into());
        }
        let listed = Command::new("perf")
            .args(["probe", "-l"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let libc = libc_path();
        let mut added = Vec::new();
        let mut allocs = libc.is_some();
        for f in ALLOCATORS {
            let event = format!("probe_libc:{f}");
            if listed.contains(&format!("{event} ")) {
                continue;
            }
            match &libc {
                Some(libc) if ok(&["probe", "-q", "-x", libc, "--add", f]) => added.push(event),
                _ => allocs = false,
            }
        }
        Ok(Perf { added, allocs })
    }

    /// Syscalls and allocations per message over [`COUNTED`] messages.
    fn count(
        &mut self,
        server: &Server,
        client: &mut Client,
    ) -> Result<(f64, Option<f64>), String> {
        let mut args = vec![
            "stat".to_string(),
            "-x".into(),
            ",".into(),
            "-e".into(),
            "raw_syscalls:sys_enter".into(),
        ];
        if self.allocs {
            for f in ALLOCATORS {
                args.extend(["-e".into(), format!("probe_libc:{f}")]);
            }
        }
        args.extend(["-p".into(), server.pid().to_string()]);
        let perf = Command::new("perf")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("perf: {e}"))?;
        // perf attaches to every thread before it counts.
        std::thread::sleep(Duration::from_millis(500));
        let f = client.round(server, COUNTED);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
        let out = perf.wait_with_output().map_err(|e| format!("perf: {e}"))?;
        let text = String::from_utf8_lossy(&out.stderr);
        let value = |event: &str| -> Option<f64> {
            text.lines()
                .map(|l| l.split(',').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[2] == event)
                .and_then(|f| f[0].parse().ok())
        };
        let n = f.messages as f64;
        let syscalls = value("raw_syscalls:sys_enter")
            .ok_or_else(|| format!("no count in perf's output: {}", text.trim()))?;
        let allocs = self.allocs.then(|| {
            ALLOCATORS
                .iter()
                .filter_map(|f| value(&format!("probe_libc:{f}")))
                .sum::<f64>()
                / n
        });
        Ok((syscalls / n, allocs))
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        for event in &self.added {
            let _ = Command::new("perf")
                .args(["probe", "-q", "--del", event])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The C library this process (and so the server, built alike) links.
fn libc_path() -> Option<String> {
    std::fs::read_to_string("/proc/self/maps")
        .ok()?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .map(str::to_owned)
}

/// The piped shell: CPU per `hello`, 20,000 lines written ahead.
fn shell_cpu_per_hello() -> Duration {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skills")).unwrap();
    std::fs::copy(skill("hello"), dir.path().join("skills/hello.wasm")).unwrap();
    let config = dir.path().join("configuration.yaml");
    std::fs::write(
        &config,
        "connectors: {shell: {}}\nskills-dir: skills\ndata-dir: data\nlogging: {level: error}\n",
    )
    .unwrap();
    let run = |lines: usize| -> Duration {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandbot"))
            .args(["start", "-c"])
            .arg(&config)
            .env("USER", "alice")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input: String = "hello\n".repeat(lines);
        let writer = std::thread::spawn(move || {
            stdin.write_all(input.as_bytes()).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert_eq!(out.stdout.len(), "Hello alice\n".len() * lines);
        Duration::ZERO
    };
    // The CPU of a whole run, less that of a run with one line: start-up
    // (loading, compiling from the cache) cancels out.
    let total = |lines: usize| -> Duration {
        let before = children_cpu();
        run(lines);
        children_cpu() - before
    };
    total(1);
    let one = total(1);
    let many = total(messages());
    (many.saturating_sub(one)) / (messages() as u32 - 1)
}

/// CPU time of the children this process has waited for.
fn children_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_CHILDREN)
}

fn rusage_cpu(who: libc::c_int) -> Duration {
    // SAFETY: a zeroed rusage is valid for getrusage to fill.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The dispatcher alone, in this process on one core (a one-worker runtime,
/// as the pinned server has), `concurrency` events in flight: CPU per
/// `hello` from the process's counters, which see only this while it runs.
fn in_process_cpu_per_event(reuse: bool, concurrency: usize) -> Duration {
    use sandbot::event::{Event, Message as ChatMessage, now_ms};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skills")).unwrap();
    std::fs::copy(skill("hello"), dir.path().join("skills/hello.wasm")).unwrap();
    let path = dir.path().join("configuration.yaml");
    std::fs::write(
        &path,
        format!(
            "connectors: {{shell: {{}}}}\nskills-dir: skills\ndata-dir: data\nlogging: {{level: error}}\nskills:\n  hello: {{{}}}\n",
            if reuse { "instance-reuse: 1000000" } else { "" }
        ),
    )
    .unwrap();
    std::thread::spawn(move || {
        if cpus() > 1 {
            pin_to(SERVER_CORE);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = sandbot::config::load(&path).unwrap();
            let mut app = sandbot::app::App::start(config).await.unwrap();
            let mut outbox = app.take_outbox("shell").unwrap();
            tokio::spawn(async move { while outbox.recv().await.is_some() {} });
            let bot = app.bot.clone();
            let round = |n: usize| {
                let bot = bot.clone();
                tokio::spawn(async move {
                    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
                    let mut tasks = tokio::task::JoinSet::new();
                    for i in 0..n {
                        let permit = sem.clone().acquire_owned().await.unwrap();
                        let bot = bot.clone();
                        tasks.spawn(async move {
                            let event = Event::Message(ChatMessage {
                                id: i.to_string(),
                                text: "hello".into(),
                                user: "user".into(),
                                user_id: "bench".into(),
                                room: "bench".into(),
                                connector: "shell".into(),
                                thread: None,
                                received_at: now_ms(),
                                addressed: true,
                            });
                            bot.dispatch(event).await;
                            drop(permit);
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                })
            };
            round(1000).await.unwrap();
            let before = self_cpu();
            round(messages()).await.unwrap();
            let cpu = self_cpu() - before;
            drop(app);
            cpu / messages() as u32
        })
    })
    .join()
    .unwrap()
}

fn self_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_SELF)
}

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    if cpus() > 1 {
        pin_to(CLIENT_CORE);
    }
    // The counted windows use the scenarios' servers and clients.
    if want("websocket") || want("counts") {
        websocket(want("counts"));
    }
    if want("long") {
        long();
    }
    if want("dispatcher") {
        dispatcher();
    }
    if want("shell") {
        println!(
            "\npiped shell: {:.1} µs of CPU per `hello`",
            shell_cpu_per_hello().as_secs_f64() * 1e6
        );
    }
}

/// The in-process dispatcher's CPU per `hello`, on one core: what the
/// websocket path adds is the difference from the server's figure.
fn dispatcher() {
    println!(
        "\n## The dispatcher alone, in this process on one core ({} events, the median of {ROUNDS} rounds)",
        messages()
    );
    println!("| scenario | c | CPU per event |\n|---|---|---|");
    for (label, reuse) in [("hello", false), ("hello, instance-reuse", true)] {
        for c in concurrencies() {
            let mut all: Vec<Duration> = (0..ROUNDS)
                .map(|_| in_process_cpu_per_event(reuse, c))
                .collect();
            all.sort();
            println!("| {label} | {c} | {:.1} µs |", us(all[ROUNDS / 2]));
        }
    }
}
