//! `make bench`, web part: the real binary serving the websocket connector,
//! a closed-loop client in this process on the other core. Replies per
//! second, p50/p99 latency and the server's own CPU time per message (from
//! /proc, the figure least moved by noise), at concurrency 1 and 32, with
//! `hello` alone, with `instance-reuse`, and with 1,000 regex skills loaded;
//! beside them, in the same run, the in-process dispatcher's CPU per event
//! on one core (what the websocket path adds is the difference); then the
//! piped shell's CPU per `hello`. Prints, asserts nothing.

use futures::{SinkExt, StreamExt};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

mod support;

const MESSAGES: usize = 20_000;
/// Each figure is the round with the median server CPU of this many: on a
/// shared 2-core machine one round can be off by half.
const ROUNDS: usize = 3;

fn median_of<T, K: Ord>(rounds: usize, key: impl Fn(&T) -> K, mut run: impl FnMut() -> T) -> T {
    let mut all: Vec<T> = (0..rounds).map(|_| run()).collect();
    all.sort_by_key(|t| key(t));
    all.swap_remove(rounds / 2)
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

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(extra_skills: usize, reuse: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let skills = dir.path().join("skills");
        std::fs::create_dir_all(&skills).unwrap();
        std::fs::copy(skill("hello"), skills.join("hello.wasm")).unwrap();
        std::fs::copy(skill("configured"), skills.join("configured.wasm")).unwrap();
        let port = free_port();
        let mut config = format!(
            "connectors:\n  websocket: {{max-connections: 256, page: false}}\nweb: {{port: {port}}}\nskills-dir: skills\ndata-dir: data\nskills:\n  hello: {{{}}}\n",
            if reuse { "instance-reuse: 1000000" } else { "" }
        );
        for i in 0..extra_skills {
            config.push_str(&format!(
                "  cmd{i}: {{path: skills/configured.wasm, pattern: '^cmd{i} (?P<x>\\w+)$'}}\n"
            ));
        }
        let path = dir.path().join("configuration.yaml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sandbot"));
        command
            .args(["start", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if cpus() > 1 {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(1, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                    Ok(())
                });
            }
        }
        let child = command.spawn().expect("starting sandbot");
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            port,
            _dir: dir,
        }
    }

    fn cpu(&self) -> Duration {
        support::cpu_of(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use support::connect;

struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_message: Duration,
}

fn measure(server: &Server, concurrency: usize, text: &str, expect: &str) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..concurrency {
            sockets.push(connect(server.port).await);
        }
        // Warm up: every socket once.
        for ws in &mut sockets {
            ws.send(Message::text(text)).await.unwrap();
            ws.next().await.unwrap().unwrap();
        }
        let mut per = MESSAGES / concurrency;
        if std::env::var_os("WEB_BENCH_PROFILE").is_some() {
            // Time to attach a profiler to the server, and more to profile.
            eprintln!("server pid {}", server.child.id());
            tokio::time::sleep(Duration::from_secs(3)).await;
            per *= 5;
        }
        let cpu = server.cpu();
        let start = Instant::now();
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                let (text, expect) = (text.to_string(), expect.to_string());
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t = Instant::now();
                        ws.send(Message::text(text.clone())).await.unwrap();
                        let reply = ws.next().await.unwrap().unwrap();
                        latencies.push(t.elapsed());
                        debug_assert_eq!(reply.to_text().unwrap(), expect);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let took = start.elapsed();
        let cpu = server.cpu() - cpu;
        latencies.sort();
        let n = latencies.len();
        Figures {
            rate: n as f64 / took.as_secs_f64(),
            p50: latencies[n / 2],
            p99: latencies[n * 99 / 100],
            cpu_per_message: cpu / n as u32,
        }
    })
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
    let many = total(MESSAGES);
    (many.saturating_sub(one)) / (MESSAGES as u32 - 1)
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
            pin_to(1);
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
            round(MESSAGES).await.unwrap();
            let cpu = self_cpu() - before;
            drop(app);
            cpu / MESSAGES as u32
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
        pin_to(0);
    }
    if want("websocket") {
        websocket();
    }
    if want("shell") {
        println!(
            "\npiped shell: {:.1} µs of CPU per `hello`",
            shell_cpu_per_hello().as_secs_f64() * 1e6
        );
    }
}

fn websocket() {
    println!(
        "\n## Websocket end to end: the server on one core, a closed-loop client on the other, {MESSAGES} messages, median of {ROUNDS} rounds"
    );
    println!(
        "| skills | concurrency | replies/s | p50 | p99 | server CPU per message | in-process dispatcher CPU per event | websocket path adds |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, extra, reuse) in [
        ("hello", 0, false),
        ("hello, instance-reuse", 0, true),
        ("hello + 1,000 regex skills", 1000, false),
    ] {
        let server = Server::start(extra, reuse);
        for concurrency in [1, 32] {
            let f = median_of(
                ROUNDS,
                |f: &Figures| f.cpu_per_message,
                || measure(&server, concurrency, "hello", "Hello user"),
            );
            let alone = (extra == 0).then(|| {
                median_of(
                    ROUNDS,
                    |d: &Duration| *d,
                    || in_process_cpu_per_event(reuse, concurrency),
                )
            });
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            let (alone, adds) = match alone {
                Some(d) => (
                    format!("{:.1} µs", us(d)),
                    format!("{:.1} µs", us(f.cpu_per_message) - us(d)),
                ),
                None => ("".into(), "".into()),
            };
            println!(
                "| {label} | {concurrency} | {:.0} | {:.0} µs | {:.0} µs | {:.1} µs | {alone} | {adds} |",
                f.rate,
                us(f.p50),
                us(f.p99),
                us(f.cpu_per_message),
            );
        }
    }
}
