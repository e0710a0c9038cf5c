//! The HTTP server's budget against hostile clients, with the real binary
//! on loopback: bodies sent before any secret is proved, heads sent a line
//! a second, TLS connections that say nothing, connections kept alive with
//! nothing to ask, more connections than the bot may open files, websocket
//! clients that never read or never speak, and pages from another site.
//! Each is cut off on time or refused while another client is served, and
//! the bot's memory stays bounded. Answers a socket waits for only to keep
//! its order are not held against it (within a bound of their own).
//!
//! Clients that play an attacker connect from 127.0.0.2 (all of 127/8 is
//! loopback), so a client from 127.0.0.1 is "someone else" to the bot.

use crate::common::{BotDir, Running, free_port, http, wait_for_port};
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "s3cret";
const HOOK: &str = "/skill/webhook-alert/alert";

/// A bot with the webhook example behind a secret, the websocket connector
/// (its settings in `websocket`) and `web` settings added to its port.
fn bot(web: &str, websocket: &str) -> (BotDir, Running, u16) {
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["webhook-alert", "hello", "loudnoises", "infinite-loop"],
        &format!(
            "  websocket: {websocket}
web: {{port: {port}, {web}}}
skills:
  webhook-alert:
    room: shell:shell
    webhook: {{secret: {SECRET}}}
    allow: {{send: ['shell:shell']}}
  hello: {{limits: {{queue: 1000}}}}
  loudnoises: {{}}
  infinite-loop: {{limits: {{time: 1s}}}}
"
        ),
    );
    let run = bot.start();
    wait_for_port(port);
    (bot, run, port)
}

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A TCP connection to the bot from loopback address `from`.
fn dial_from(from: &str, port: u16) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.into()
}

async fn dial_from_async(from: &str, port: u16) -> TcpStream {
    let stream = dial_from(from, port);
    stream.set_nonblocking(true).unwrap();
    TcpStream::from_std(stream).unwrap()
}

/// One request as written, from `from`: (status, body).
fn exchange(from: &str, port: u16, request: &str) -> (u16, String) {
    let mut stream = dial_from(from, port);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// How long until the server closes `stream` (EOF or reset), reading
/// whatever it sends; `None` if it is still open after `patience`.
async fn closed_after(
    stream: &mut TcpStream,
    started: Instant,
    patience: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + patience).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A value from /proc/PID/status, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Files the bot has open, sockets included.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The bot's CPU time so far (user and system), from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the name: state is field 3, utime 14 and stime 15.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// 600 clients each send just under 1 MiB to a webhook with a wrong
/// signature, at once. The signature needs the body, so bodies are read,
/// but only as many bytes at once as `max-bodies-in-flight` (the default,
/// 32 MiB); the rest are answered 503. The bot's resident memory is
/// sampled throughout: its peak grows by a bounded amount (unbounded, this
/// was +627 MiB; with a budget of 2 GiB, +430 MiB), and a signed request
/// is served right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bodies_cost_bounded_memory() {
    const CLIENTS: usize = 600;
    const SIZE: usize = (1 << 20) - 4096;
    let (_bot, run, port) = bot(
        "max-connections: 2000, max-connections-per-client: 2000",
        "{}",
    );
    let ok = r#"{"name": "Warm"}"#;
    let (status, _) = http(
        port,
        "POST",
        HOOK,
        &[("x-hub-signature-256", &signature(ok.as_bytes()))],
        ok,
    );
    assert_eq!(status, 200, "{}", run.log());
    let pid = run.pid();
    let before = proc_kib(pid, "VmRSS:");
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(proc_kib(pid, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };

    let body: Arc<Vec<u8>> = Arc::new(vec![b'x'; SIZE]);
    let head = format!(
        "POST {HOOK} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {SIZE}\r\nx-hub-signature-256: {}\r\n\r\n",
        signature(b"something else")
    );
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (body, head) = (body.clone(), head.clone());
        clients.spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let mut response = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
                    .await;
            String::from_utf8_lossy(&response)
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = clients.join_next().await {
        *statuses.entry(status.unwrap()).or_insert(0) += 1;
    }
    let took = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let after = proc_kib(pid, "VmRSS:");
    println!(
        "{CLIENTS} bodies of {SIZE} bytes in {took:.1?}: answers {statuses:?} (None: closed unanswered); \
         RSS {before} KiB before, peak {peak} KiB (+{} KiB), {after} KiB after",
        peak.saturating_sub(before)
    );
    assert!(
        statuses.keys().all(|s| matches!(s, Some(401 | 503) | None)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&Some(401)),
        "some bodies were read and their signature checked: {statuses:?}"
    );
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 96 << 10,
        "the bot grew by {grew} KiB for {CLIENTS} unauthenticated bodies"
    );
    let (status, body) = http(
        port,
        "POST",
        HOOK,
        &[("x-hub-signature-256", &signature(ok.as_bytes()))],
        ok,
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "ok"),
        "the budget was given back"
    );
}

/// A secret shown as a token is checked before a byte of the body is read:
/// a wrong token with a large declared body and no body at all is refused
/// at once. A right token whose body never comes gets 408 at
/// `body-timeout`.
#[test]
fn a_token_is_checked_before_the_body_and_a_body_has_a_deadline() {
    let (_bot, _run, port) = bot("body-timeout: 1s", "{}");
    let head = |token: &str| {
        format!(
            "POST {HOOK} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: 500000\r\nx-sandbot-token: {token}\r\n\r\n"
        )
    };
    let asked = Instant::now();
    let (status, body) = exchange("127.0.0.1", port, &head("guess"));
    assert_eq!((status, body.as_str()), (401, "unauthorized\n"));
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    let asked = Instant::now();
    let (status, body) = exchange("127.0.0.1", port, &head(SECRET));
    assert_eq!(
        (status, body.as_str()),
        (
            408,
            "the body did not arrive within 1s (web.body-timeout)\n"
        )
    );
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

/// Fifty clients send a request head one line a second: each is closed at
/// `header-timeout` (2 s), not kept, while a client from elsewhere is
/// served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_are_cut_off_at_the_header_timeout() {
    let (_bot, run, port) = bot("header-timeout: 2s, idle-timeout: 5s", "{}");
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..50 {
        slow.spawn(async move {
            let mut stream = dial_from_async("127.0.0.2", port).await;
            let started = Instant::now();
            let _ = stream
                .write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n")
                .await;
            for line in 0.. {
                let tick = started + Duration::from_secs(line + 1);
                let patience = tick.saturating_duration_since(started);
                if let Some(closed) = closed_after(&mut stream, started, patience).await {
                    return Some(closed);
                }
                if stream
                    .write_all(format!("x-line-{line}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                    || line == 8
                {
                    return closed_after(&mut stream, started, Duration::from_secs(10)).await;
                }
            }
            None
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let (status, _) = tokio::task::spawn_blocking(move || http(port, "GET", "/", &[], ""))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let mut closed = Vec::new();
    while let Some(after) = slow.join_next().await {
        closed.push(after.unwrap().expect("a slow head is closed"));
    }
    closed.sort();
    println!(
        "50 slow heads closed after {:?} .. {:?}",
        closed[0], closed[49]
    );
    assert!(closed[0] >= Duration::from_millis(1800), "{:?}", closed[0]);
    assert!(closed[49] < Duration::from_millis(3500), "{:?}", closed[49]);
    drop(run);
}

/// Fifty TCP connections to the HTTPS server that never start a handshake
/// are closed at `handshake-timeout`; a real TLS client is served
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tls_connections_are_closed_at_the_handshake_timeout() {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let port = free_port();
    let bot = BotDir::new(
        &["hello"],
        &format!(
            "web: {{port: {port}, cert: tls/cert.pem, key: tls/key.pem, handshake-timeout: 1s, idle-timeout: 10s}}\n"
        ),
    );
    let tls = bot.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), issued.cert.pem()).unwrap();
    std::fs::write(tls.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    let _run = bot.start();
    wait_for_port(port);

    let mut silent = tokio::task::JoinSet::new();
    for _ in 0..50 {
        silent.spawn(async move {
            let mut stream = dial_from_async("127.0.0.2", port).await;
            closed_after(&mut stream, Instant::now(), Duration::from_secs(10)).await
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(issued.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .expect("a TLS handshake beside the silent ones");
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let mut closed = Vec::new();
    while let Some(after) = silent.join_next().await {
        closed.push(after.unwrap().expect("a silent connection is closed"));
    }
    closed.sort();
    println!(
        "50 silent TLS connections closed after {:?} .. {:?}",
        closed[0], closed[49]
    );
    assert!(closed[0] >= Duration::from_millis(900), "{:?}", closed[0]);
    assert!(closed[49] < Duration::from_millis(2500), "{:?}", closed[49]);
}

/// Runs the bot allowed `files` open files (soft and hard limit).
fn start_with_files(bot: &BotDir, files: u64) -> Running {
    Running::start_with(&bot.config(), &[], |command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: files as libc::rlim_t,
                    rlim_max: files as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

async fn silent_connections(from: &'static str, port: u16, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(dial_from_async(from, port).await);
    }
    held
}

/// The bot may open 256 files. With the default limits its connections
/// stay under half of that (128, 64 from one address): 300 silent
/// connections from one address leave room, and a client from another is
/// served at once. Told to take 1,000, it runs out of files: accepting
/// backs off (a fraction of a core, one log line for the whole burst) and
/// a new client is served once the silent ones reach `idle-timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_is_served_under_a_low_open_file_limit() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web: {{port: {port}}}\n"));
    let run = start_with_files(&bot, 256);
    wait_for_port(port);
    run.wait_for_log("(at most 128 connections, 64 from one address)");
    let held = silent_connections("127.0.0.2", port, 300).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let (status, _) = tokio::task::spawn_blocking(move || http(port, "GET", "/", &[], ""))
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", run.log());
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    run.wait_for_log("too many connections from this address (web.max-connections-per-client: 64)");
    // One more from that address is told why, in one line, and closed.
    let mut refused = dial_from("127.0.0.2", port);
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    refused.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503")
            && answer.ends_with(
                "\r\n\r\ntoo many connections from this address (web.max-connections-per-client: 64)\n"
            ),
        "{answer:?}"
    );
    let refusals = run.log().matches("refusing connections").count();
    assert_eq!(refusals, 1, "236 refusals, logged once: {}", run.log());
    drop(held);
    drop(run);

    let port = free_port();
    bot.write_config(&format!(
        "admins: [alice]\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\n\
         web: {{port: {port}, max-connections: 1000, max-connections-per-client: 1000, idle-timeout: 1500ms}}\n"
    ));
    let run = start_with_files(&bot, 256);
    wait_for_port(port);
    run.wait_for_log("web.max-connections is 1000, but the bot may open only 256 files");
    let held = silent_connections("127.0.0.2", port, 400).await;
    run.wait_for_log("accepting connections failed: Too many open files");
    let cpu_before = cpu_time(run.pid());
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cpu = cpu_time(run.pid()) - cpu_before;
    let asked = Instant::now();
    let (status, _) = tokio::task::spawn_blocking(move || http(port, "GET", "/", &[], ""))
        .await
        .unwrap();
    let waited = asked.elapsed();
    println!("out of files: {cpu:?} of CPU in 700 ms; a new client served after {waited:?}");
    assert_eq!(status, 200, "{}", run.log());
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    assert!(
        cpu < Duration::from_millis(350),
        "a hot accept loop: {cpu:?} in 700 ms"
    );
    // Once per burst (the silent ones waiting to be accepted may make a
    // second when the first are closed), never once per attempt.
    let log = run.log();
    let bursts = log.matches("accepting connections failed").count();
    let attempts: u64 = log
        .split("accepting connections again, after ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("{bursts} bursts of failed accepts, {attempts} attempts in all");
    assert!((1..=3).contains(&bursts), "{log}");
    assert!(attempts > 0 && attempts < 60, "{log}");
    drop(held);
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// POSTs for a websocket from loopback address `from`: (status, id or body).
fn new_socket(from: &str, port: u16) -> (u16, String) {
    let (status, body) = exchange(
        from,
        port,
        &format!(
            "POST /connector/websocket HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        ),
    );
    if status != 200 {
        return (status, body);
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    (status, json["socket"].as_str().unwrap().to_string())
}

/// Opens socket `id` over a connection whose receive buffer is small, so
/// the kernel does not read much for a client that does not.
async fn open_unread(port: u16, id: &str) -> Socket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket)).unwrap();
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .unwrap()
        .0
}

/// The next text frame, or the close frame's code and reason.
async fn next_frame(ws: &mut Socket) -> Result<String, (u16, String)> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(Some(f)))) => return Err((f.code.into(), f.reason.to_string())),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err((0, format!("{other:?}"))),
        }
    }
}

/// Eight clients in turn, with four sockets allowed: each shouts and never
/// reads its answers. Each is disconnected once eight answers wait for it
/// (or one waits a second), its socket freed at once, so the next one gets
/// a socket; then a client that reads is answered, and the bot's memory
/// stayed bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_clients_that_do_not_read_are_freed() {
    let (_bot, run, port) = bot(
        "",
        "{max-connections: 4, max-connections-per-client: 4, max-queue: 8, write-timeout: 1s}",
    );
    let before = run.rss_kib();
    let files_before = open_files(run.pid());
    let shout = "A".repeat(15_000);
    let mut kept = Vec::new();
    for client in 0..8 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = loop {
            let (status, id) = tokio::task::spawn_blocking(move || new_socket("127.0.0.1", port))
                .await
                .unwrap();
            if status == 200 {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "client {client}: no slot freed: {status} {id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut ws = open_unread(port, &id).await;
        // The bot closes the socket, so a send fails; a bot that kept it
        // (stuck writing to it) would stop reading and the sends would hang.
        let flood = async {
            for _ in 0..600 {
                if ws.send(Message::text(shout.clone())).await.is_err() {
                    return true;
                }
            }
            false
        };
        let closed = tokio::time::timeout(Duration::from_secs(10), flood).await;
        assert_eq!(closed, Ok(true), "client {client} was not disconnected");
        kept.push(ws); // never read, never closed by this side
    }
    // The bot holds none of their sockets any more.
    let files = open_files(run.pid());
    assert!(
        files <= files_before + 1,
        "{files_before} open files before, {files} after"
    );
    let (status, id) = tokio::task::spawn_blocking(move || new_socket("127.0.0.1", port))
        .await
        .unwrap();
    assert_eq!(status, 200, "{id}");
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let (mut reader, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    reader.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_frame(&mut reader).await, Ok("Hello user".to_string()));
    // Disconnected as not reading, or (their answers held back behind a
    // busy skill's) as holding too many.
    let kicked = run.log().matches("; disconnecting").count();
    assert!(kicked >= 8, "{kicked} of 8 disconnected:\n{}", run.log());
    let grew = run.rss_kib().saturating_sub(before);
    println!("8 clients that never read: {kicked} disconnected; the bot grew by {grew} KiB");
    assert!(grew < 64 << 10, "the bot grew by {grew} KiB");
}

/// Two sockets per address: a third from the same address is refused
/// while another address gets one. A socket on which nothing is said is
/// closed at `idle-timeout`, and its slot is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_slots_are_per_client_and_idle_sockets_close() {
    let (_bot, _run, port) = bot(
        "",
        "{max-connections: 6, max-connections-per-client: 2, idle-timeout: 1s}",
    );
    let (status, first) = new_socket("127.0.0.2", port);
    assert_eq!(status, 200);
    assert_eq!(new_socket("127.0.0.2", port).0, 200);
    let (status, body) = new_socket("127.0.0.2", port);
    assert_eq!(
        (status, body.trim()),
        (
            429,
            "too many connections from your address (max-connections-per-client: 2)"
        )
    );
    assert_eq!(
        new_socket("127.0.0.1", port).0,
        200,
        "another address is served"
    );

    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{first}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Ok("Hello user".to_string()));
    let quiet = Instant::now();
    assert_eq!(
        next_frame(&mut ws).await,
        Err((1000, "idle for 1s (idle-timeout)".to_string()))
    );
    let after = quiet.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "{after:?}"
    );
    assert_eq!(
        new_socket("127.0.0.2", port).0,
        200,
        "the idle socket's slot is free"
    );
}

/// A page on another site can neither post to the bot nor open its
/// websocket (a foreign `Origin`), nor reach it under its own name after
/// pointing that name at 127.0.0.1 (a foreign `Host`: DNS rebinding). The
/// bot's own pages and the origins allowed are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_or_host_is_refused() {
    let (_bot, run, port) = bot("allowed-origins: ['http://ops.example:3000']", "{}");
    let post = |origin: &str, host: &str| {
        exchange(
            "127.0.0.1",
            port,
            &format!(
                "POST /connector/websocket HTTP/1.1\r\nhost: {host}\r\norigin: {origin}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
            ),
        )
    };
    let mine = format!("127.0.0.1:{port}");
    let (status, body) = post("http://evil.example", &mine);
    assert_eq!(
        (status, body.as_str()),
        (
            403,
            "the Origin `http://evil.example` is not this server's or in web.allowed-origins\n"
        )
    );
    let (status, body) = post(
        &format!("http://evil.example:{port}"),
        &format!("evil.example:{port}"),
    );
    assert_eq!(
        (status, body.as_str()),
        (
            403,
            format!(
                "the Host `evil.example:{port}` is not a name of this server (web.allowed-hosts)\n"
            )
            .as_str()
        )
    );
    let (status, body) = post(&format!("http://127.0.0.1:{port}"), &mine);
    assert_eq!(status, 200, "the bot's own page: {body}");
    let (status, id) = post("http://ops.example:3000", &mine);
    assert_eq!(status, 200, "an allowed origin: {id}");
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let id = id["socket"].as_str().unwrap();

    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(
                body.starts_with("the Origin `http://evil.example`"),
                "{body}"
            );
        }
        other => panic!("a foreign page's websocket must be refused: {other:?}"),
    }
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "origin",
        format!("http://127.0.0.1:{port}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Ok("Hello user".to_string()));
    let (status, _) = exchange(
        "127.0.0.1",
        port,
        &format!(
            "POST {HOOK} HTTP/1.1\r\nhost: {mine}\r\norigin: http://evil.example\r\nx-sandbot-token: {SECRET}\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{{}}"
        ),
    );
    assert_eq!(
        status, 403,
        "a webhook, even with its secret, from a foreign page"
    );
    // Refusals are logged, the first at once, then a count every 10 s.
    run.wait_for_log(
        "refused POST /connector/websocket: the Origin `http://evil.example` is not this server's or in web.allowed-origins (1 refused since the last such line)",
    );
    let lines = run
        .log()
        .lines()
        .filter(|l| l.contains(" refused "))
        .count();
    assert_eq!(lines, 1, "{}", run.log());
}

/// Answers held back to keep a socket's order are not unread: a skill that
/// runs for a second, then 300 quick messages on the same socket (more than
/// the default `max-queue` of 256 wait behind it): all 301 are answered, in
/// order, and the socket stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_held_back_for_order_are_not_unread() {
    let (_bot, run, port) = bot("", "{}");
    let (status, id) = new_socket("127.0.0.1", port);
    assert_eq!(status, 200, "{id}");
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("loop")).await.unwrap();
    for n in 0..300 {
        ws.send(Message::text(format!(
            "{{\"message\": \"hello\", \"user\": \"u{n}\"}}"
        )))
        .await
        .unwrap();
    }
    assert_eq!(
        next_frame(&mut ws).await,
        Ok("⚠ infinite-loop: took longer than its 1s budget and was stopped".to_string())
    );
    for n in 0..300 {
        assert_eq!(
            next_frame(&mut ws).await,
            Ok(format!("Hello u{n}")),
            "{}",
            run.log()
        );
    }
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Ok("Hi user".to_string()));
}

/// A message unfinished past `order-wait` stops holding the answers to
/// the socket's later ones: the client is told it is still running, the
/// answers behind it go out at once, and its own comes when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_holds_later_answers_only_until_the_order_wait() {
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["slow", "hello"],
        &format!(
            "  websocket: {{order-wait: 1s}}\nweb: {{port: {port}}}\nskills:\n  slow: {{limits: {{time: 30s}}}}\n  hello: {{}}\n"
        ),
    );
    let run = bot.start();
    wait_for_port(port);
    let (status, id) = new_socket("127.0.0.1", port);
    assert_eq!(status, 200, "{id}");
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let asked = Instant::now();
    ws.send(Message::text("work 5000")).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        next_frame(&mut ws).await,
        Ok("⌛ `work 5000` is still running; answers continue".to_string()),
        "{}",
        run.log()
    );
    assert_eq!(next_frame(&mut ws).await, Ok("Hello user".to_string()));
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the answer behind the long message came after {waited:?}"
    );
    // Once let go of, the long message holds nothing back...
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_frame(&mut ws).await, Ok("Hello user".to_string()));
    // ...and its own answer still comes, on the same socket.
    assert_eq!(next_frame(&mut ws).await, Ok("worked 5000 ms".to_string()));
    assert!(asked.elapsed() >= Duration::from_secs(5));
}

/// A connection kept alive after its answer, with nothing more to ask, is
/// closed at `idle-timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_when_idle() {
    let (_bot, _run, port) = bot("idle-timeout: 1s", "{}");
    let mut stream = dial_from_async("127.0.0.2", port).await;
    stream
        .write_all(format!("GET / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    let answered = Instant::now();
    let closed = closed_after(&mut stream, answered, Duration::from_secs(5)).await;
    let closed = closed.expect("the idle connection is closed");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2500),
        "{closed:?}"
    );
}

/// Answers held back behind a slow one are bounded too: past four times
/// `max-queue` of them (here 16), the socket is closed, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_answers_held_back_close_the_socket() {
    let (_bot, run, port) = bot("", "{max-queue: 16}");
    let (status, id) = new_socket("127.0.0.1", port);
    assert_eq!(status, 200, "{id}");
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("loop")).await.unwrap();
    for _ in 0..100 {
        ws.send(Message::text("hello")).await.unwrap();
    }
    assert_eq!(
        next_frame(&mut ws).await,
        Err((
            1008,
            "over 64 answers held back behind a slow one".to_string()
        ))
    );
    run.wait_for_log("answers held back behind an unfinished one; disconnecting the client");
}
