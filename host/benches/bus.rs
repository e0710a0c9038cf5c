//! `make bench`, bus part: what the NATS bus costs. The same closed-loop
//! websocket client drives `hello` through one process on the local bus,
//! then through a connector host and one worker on NATS JetStream, then
//! with two workers: replies per second, p50/p99 at concurrency 32, and the
//! sandbot processes' own CPU per message (from /proc), beside nats-server's.
//! The bus's added cost is the NATS figure's CPU less the local one's.
//! History and memory are the same embedded ones in every set-up, so only
//! the bus differs. Prints, asserts nothing.

use futures::{SinkExt, StreamExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

mod support;

const MESSAGES: usize = 10_000;
const CONCURRENCY: usize = 32;
/// Runs of each set-up; the median is printed.
const RUNS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed when dropped.
struct Process(Child);

impl Process {
    fn cpu(&self) -> Duration {
        support::cpu_of(self.0.id())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server(dir: &std::path::Path) -> (Process, u16) {
    let port = free_port();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let child = Command::new(target.join("test-servers/venv/bin/nats-server"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (host/tests/servers.sh installs it)");
    wait_for_port(port);
    (Process(child), port)
}

/// A sandbot process with `config` (after the common header) in its own folder.
fn sandbot(dir: &std::path::Path, name: &str, config: &str) -> Process {
    let home = dir.join(name);
    std::fs::create_dir_all(home.join("skills")).unwrap();
    std::fs::copy(
        sandbot_test_skills::path("hello"),
        home.join("skills/hello.wasm"),
    )
    .unwrap();
    let path = home.join("configuration.yaml");
    std::fs::write(
        &path,
        format!("skills-dir: skills\ndata-dir: data\nhistory: {{enabled: false}}\n{config}"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(["start", "-c"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting sandbot");
    Process(child)
}

use support::connect;

struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
    /// The sandbot processes' CPU per message, and nats-server's.
    cpu: Duration,
    /// The first process's share (the connector host's).
    first_cpu: Duration,
    nats_cpu: Duration,
}

/// The median (by sandbot CPU) of `RUNS` runs of [`measure_once`].
fn measure(port: u16, servers: &[&Process], nats: Option<&Process>) -> Figures {
    let mut runs: Vec<Figures> = (0..RUNS)
        .map(|_| measure_once(port, servers, nats))
        .collect();
    runs.sort_by_key(|f| f.cpu);
    runs.swap_remove(RUNS / 2)
}

/// `MESSAGES` `hello`s over `CONCURRENCY` sockets, closed loop.
fn measure_once(port: u16, servers: &[&Process], nats: Option<&Process>) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..CONCURRENCY {
            sockets.push(connect(port).await);
        }
        for ws in &mut sockets {
            ws.send(Message::text("hello")).await.unwrap();
            ws.next().await.unwrap().unwrap();
        }
        let per = MESSAGES / CONCURRENCY;
        let cpu = |ps: &[&Process]| ps.iter().map(|p| p.cpu()).sum::<Duration>();
        let (before, nats_before) = (cpu(servers), nats.map(Process::cpu).unwrap_or_default());
        let first_before = servers[0].cpu();
        let start = Instant::now();
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(per);
                    for _ in 0..per {
                        let t = Instant::now();
                        ws.send(Message::text("hello")).await.unwrap();
                        ws.next().await.unwrap().unwrap();
                        latencies.push(t.elapsed());
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
        let n = latencies.len();
        let used = cpu(servers) - before;
        let first_used = servers[0].cpu() - first_before;
        let nats_used = nats.map(Process::cpu).unwrap_or_default() - nats_before;
        latencies.sort();
        Figures {
            rate: n as f64 / took.as_secs_f64(),
            p50: latencies[n / 2],
            p99: latencies[n * 99 / 100],
            cpu: used / n as u32,
            first_cpu: first_used / n as u32,
            nats_cpu: nats_used / n as u32,
        }
    })
}

fn print(what: &str, f: &Figures) {
    println!(
        "{what:<32} {:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  sandbot CPU {:>6.1} µs/msg (first host {:>5.1})  nats-server {:>5.1} µs/msg",
        f.rate,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.cpu.as_secs_f64() * 1e6,
        f.first_cpu.as_secs_f64() * 1e6,
        f.nats_cpu.as_secs_f64() * 1e6,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours skips this.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "bus".contains(a.as_str())) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    println!(
        "bus: {MESSAGES} `hello`s at concurrency {CONCURRENCY} over the websocket connector (median of {RUNS} runs)"
    );

    let port = free_port();
    let local = sandbot(
        dir.path(),
        "local",
        &format!(
            "connectors:\n  websocket: {{max-connections: 256, page: false}}\nweb: {{port: {port}}}\n"
        ),
    );
    wait_for_port(port);
    let local_figures = measure(port, &[&local], None);
    print("local bus, one process", &local_figures);
    drop(local);

    let (nats, nats_port) = nats_server(&dir.path().join("nats"));
    let bus = |host: &str, roles: &str| {
        format!(
            "bus: {{type: nats, url: 'nats://127.0.0.1:{nats_port}', host: {host}}}\nroles: [{roles}]\n"
        )
    };
    let port = free_port();
    let connector = sandbot(
        dir.path(),
        "connector",
        &format!(
            "connectors:\n  websocket: {{max-connections: 256, page: false}}\nweb: {{port: {port}}}\n{}",
            bus("connector", "connectors")
        ),
    );
    wait_for_port(port);
    let w1 = sandbot(dir.path(), "w1", &bus("w1", "workers"));
    // The worker is pulling once an answer comes back.
    std::thread::sleep(Duration::from_secs(2));
    let one = measure(port, &[&connector, &w1], Some(&nats));
    print("NATS, connector host + 1 worker", &one);
    let w2 = sandbot(dir.path(), "w2", &bus("w2", "workers"));
    std::thread::sleep(Duration::from_secs(2));
    let two = measure(port, &[&connector, &w1, &w2], Some(&nats));
    print("NATS, connector host + 2 workers", &two);
    let added = one.cpu.as_secs_f64() - local_figures.cpu.as_secs_f64();
    println!(
        "bus cost: {:+.1} µs of sandbot CPU per message across both hosts (target ≤ 30), plus {:.1} µs in nats-server",
        added * 1e6,
        one.nats_cpu.as_secs_f64() * 1e6
    );
    drop((w1, w2, connector, nats));
}
