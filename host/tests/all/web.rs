//! The HTTP server and the websocket connector, over real sockets and with
//! a real websocket client, as opsdroid's clients speak to it.

use crate::common::{BotDir, Running, free_port, http, wait_for_port};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SKILLS: &[&str] = &["hello", "infinite-loop", "loudnoises", "dance"];

/// A bot with the websocket connector (its settings in `websocket`) on a
/// port of its own.
fn bot(websocket: &str) -> (BotDir, Running, u16) {
    let port = free_port();
    let bot = BotDir::with_connectors(
        SKILLS,
        &format!(
            "  websocket: {websocket}\nweb: {{port: {port}}}\nskills:\n  hello: {{}}\n  infinite-loop: {{limits: {{time: 1s}}}}\n  loudnoises: {{}}\n  dance: {{}}\n"
        ),
    );
    let run = bot.start();
    wait_for_port(port);
    (bot, run, port)
}

/// POSTs for a socket id.
fn new_socket(port: u16, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, body) = http(port, "POST", "/connector/websocket", headers, "");
    if status != 200 {
        return (status, body);
    }
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    (status, json["socket"].as_str().unwrap().to_string())
}

async fn open(port: u16, id: &str) -> Socket {
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn connect(port: u16) -> (Socket, String) {
    let (status, id) = new_socket(port, &[]);
    assert_eq!(status, 200, "{id}");
    (open(port, &id).await, id)
}

async fn say(ws: &mut Socket, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

async fn said(ws: &mut Socket, user: &str, socket: &str, text: &str) {
    let frame = serde_json::json!({"message": text, "user": user, "socket": socket});
    say(ws, &frame.to_string()).await;
}

/// The next text frame (pings and pongs skipped).
async fn answer(ws: &mut Socket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an answer within 20 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opsdroid_protocol_round_trip() {
    let (_bot, mut run, port) = bot("{max-connections: 3, max-connections-per-client: 3}");
    let (status, body) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 200, "{body}");
    let root: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(root["name"], "sandbot");
    assert!(
        root["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "websocket"
                && c["type"] == "websocket"
                && c["state"].as_str().unwrap().starts_with("listening")),
        "{root}"
    );
    assert!(
        root["skills"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "hello"),
        "{root}"
    );

    let (mut ws, id) = connect(port).await;
    said(&mut ws, "ada", &id, "hello").await;
    assert_eq!(answer(&mut ws).await, "Hello ada");
    say(&mut ws, "hi").await;
    assert_eq!(
        answer(&mut ws).await,
        "Hi user",
        "a plain text frame is a message too"
    );
    say(&mut ws, "dance").await;
    let steps = [
        answer(&mut ws).await,
        answer(&mut ws).await,
        answer(&mut ws).await,
        answer(&mut ws).await,
    ];
    assert_eq!(steps, [":D|-<", ":D/-<", ":D|-<", ":D\\-<"]);
    // A frame several times the server's read buffer arrives whole.
    let long = "LOUD ".repeat(2_400);
    said(&mut ws, "ada", &id, long.trim_end()).await;
    assert_eq!(
        answer(&mut ws).await,
        format!("{}!!! WHY ARE WE SHOUTING?", long.trim_end())
    );

    // Three sockets at most: one open, two more requested, then 429.
    assert_eq!(new_socket(port, &[]).0, 200);
    assert_eq!(new_socket(port, &[]).0, 200);
    let (status, body) = new_socket(port, &[]);
    assert_eq!(
        (status, body.trim()),
        (429, "too many connections (max-connections: 3)")
    );

    let url = format!("ws://127.0.0.1:{port}/connector/websocket/nope");
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("no such socket"), "{body}");
        }
        other => panic!("an unknown socket must be refused: {other:?}"),
    }
    let (status, body) = http(port, "GET", "/connector/websocket/nope", &[], "");
    assert_eq!(status, 400, "not a websocket upgrade: {body}");
    let (status, body) = http(port, "GET", "/nothing/here", &[], "");
    assert_eq!(
        (status, body.trim()),
        (404, "no such endpoint: /nothing/here")
    );
    let (status, _) = http(port, "GET", "/connector/websocket", &[], "");
    assert_eq!(status, 405, "GET where POST is expected");
    assert_eq!(
        run.ask("hello"),
        "Hello alice",
        "the shell answers beside it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_the_connection_timeout() {
    let (_bot, _run, port) =
        bot("{token: s3cret, tokens: {t-ada: ada}, connection-timeout: 300ms}");
    let (status, body) = new_socket(port, &[]);
    assert_eq!(
        (status, body.trim()),
        (403, "a valid token is needed in the Authorization header")
    );
    assert_eq!(new_socket(port, &[("authorization", "wrong")]).0, 403);
    let (status, id) = new_socket(port, &[("authorization", "Bearer s3cret")]);
    assert_eq!(status, 200);
    let mut ws = open(port, &id).await;
    said(&mut ws, "Mallory", &id, "reload").await;
    assert_eq!(
        answer(&mut ws).await,
        "Sorry Mallory, only admins may reload skills.",
        "a display name is no identity"
    );
    // A token mapped to a user: that user it is, whatever name is sent.
    let (_, id) = new_socket(port, &[("authorization", "t-ada")]);
    let mut ada = open(port, &id).await;
    said(&mut ada, "someone else", &id, "hello").await;
    assert_eq!(answer(&mut ada).await, "Hello ada");

    let (_, late) = new_socket(port, &[("authorization", "s3cret")]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{late}");
    let refused = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(refused.to_string().contains("404"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_a_clear_answer_or_close() {
    let (_bot, _run, port) = bot("{max-frame: 1KiB}");
    let (mut ws, id) = connect(port).await;
    say(&mut ws, "{\"message\": oops").await;
    assert!(
        answer(&mut ws)
            .await
            .starts_with("⚠ that frame is not JSON the bot reads: "),
    );
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        answer(&mut ws).await,
        "⚠ binary frames are not read here: send text, or JSON like {\"message\": \"hello\"}"
    );
    said(&mut ws, "ada", "someone-elses", "hello").await;
    assert_eq!(
        answer(&mut ws).await,
        format!("⚠ this is socket {id}; that frame is for another")
    );
    // Over the frame limit: the socket is closed with 1009 (message too
    // big) and why, not dropped (1006), and the bot serves on.
    say(&mut ws, &"A".repeat(4096)).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the socket is closed");
    assert_eq!(
        closed,
        Some((1009, "a frame over 1KiB (max-frame)".to_string()))
    );
    let (mut other, id) = connect(port).await;
    said(&mut other, "bob", &id, "hello").await;
    assert_eq!(answer(&mut other).await, "Hello bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_each_get_only_their_own_answers() {
    let (_bot, _run, port) = bot("{}");
    let (mut a, ida) = connect(port).await;
    let (mut b, idb) = connect(port).await;
    for _ in 0..10 {
        said(&mut a, "ada", &ida, "hello").await;
        said(&mut b, "bob", &idb, "hi").await;
    }
    for _ in 0..10 {
        assert_eq!(answer(&mut a).await, "Hello ada");
        assert_eq!(answer(&mut b).await, "Hi bob");
    }
}

/// A skill that runs for a second delays no other client's message, and a
/// client's own answers come in the order of its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_skill_delays_no_one_and_each_client_keeps_its_order() {
    let (_bot, _run, port) = bot("{}");
    let (mut slow, ids) = connect(port).await;
    let (mut quick, idq) = connect(port).await;
    said(&mut slow, "ada", &ids, "loop").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = Instant::now();
    said(&mut quick, "bob", &idq, "hello").await;
    assert_eq!(answer(&mut quick).await, "Hello bob");
    let greeted = asked.elapsed();
    // The loop is still running (its budget is 1 s): nothing yet for ada.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), slow.next())
            .await
            .is_err(),
        "the loop answered before its budget ran out"
    );
    assert_eq!(
        answer(&mut slow).await,
        "⚠ infinite-loop: took longer than its 1s budget and was stopped"
    );
    println!("hello answered in {greeted:?} while a skill ran for 1 s");

    // Ada asks the slow thing, then a quick one: the quick answer waits.
    said(&mut slow, "ada", &ids, "loop").await;
    said(&mut slow, "ada", &ids, "hello").await;
    assert_eq!(
        answer(&mut slow).await,
        "⚠ infinite-loop: took longer than its 1s budget and was stopped"
    );
    assert_eq!(answer(&mut slow).await, "Hello ada");
}

/// A client that stops reading is disconnected once its queue is full; it
/// costs the bot bounded memory and delays no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected() {
    let (_bot, run, port) = bot("{max-queue: 8, max-frame: 64KiB}");
    let (status, id) = new_socket(port, &[]);
    assert_eq!(status, 200);
    // A small receive buffer, so the kernel does not read for it long.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.set_nonblocking(true).unwrap();
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket)).unwrap();
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let (mut slow, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let shout = "A".repeat(15_000);
    let rss_before = run.rss_kib();
    for _ in 0..600 {
        if slow.send(Message::text(shout.clone())).await.is_err() {
            break;
        }
    }
    // Disconnected as not reading or, when the machine is busy and the
    // shouts finish out of order, for the answers held back behind a slow
    // one: either way it is freed, which is what this test is about.
    let deadline = Instant::now() + Duration::from_secs(30);
    let freed = [
        "a client stopped reading; disconnecting it",
        "answers held back behind an unfinished one; disconnecting the client",
    ];
    while !freed.iter().any(|line| run.log().contains(line)) {
        assert!(
            Instant::now() < deadline,
            "never disconnected:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut other, idb) = connect(port).await;
    said(&mut other, "bob", &idb, "hello").await;
    assert_eq!(answer(&mut other).await, "Hello bob");
    let grew = run.rss_kib().saturating_sub(rss_before);
    assert!(
        grew < 64 << 10,
        "the bot grew by {grew} KiB for one slow client"
    );
}

/// `make run`'s configuration serves the chat page beside the shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_configuration_serves_the_page_beside_the_shell() {
    let bot = BotDir::new(
        &["hello", "seen", "dance", "loudnoises", "deploy", "alerts"],
        "",
    );
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configuration.yaml"
    ))
    .unwrap();
    let port = free_port();
    bot.write_config(&default.replace("port: 8080", &format!("port: {port}")));
    let mut run = bot.start();
    wait_for_port(port);
    let (status, page) = http(port, "GET", "/chat", &[], "");
    assert_eq!(status, 200);
    assert!(
        page.contains("data-connector=\"/connector/websocket\""),
        "{page}"
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    let (mut ws, id) = connect(port).await;
    said(&mut ws, "ada", &id, "hi").await;
    assert_eq!(answer(&mut ws).await, "Hi ada");
    // The bot's name in front is taken off here too.
    said(&mut ws, "ada", &id, "sandbot: hi").await;
    assert_eq!(answer(&mut ws).await, "Hi ada");
}

/// With `cert` and `key` the server speaks HTTPS, websockets included; a
/// certificate that cannot be read stops the start with its path named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_and_key() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["hello"],
        &format!(
            "  websocket: {{}}\nweb: {{port: {port}, cert: tls/cert.pem, key: tls/key.pem}}\nskills:\n  hello: {{}}\n"
        ),
    );
    let tls = bot.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), issued.cert.pem()).unwrap();
    std::fs::write(tls.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    let _run = bot.start();
    wait_for_port(port);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(issued.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let dial = || async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.expect("a TLS handshake")
    };

    // Plain HTTP/1.1 over TLS: the status, then a socket id.
    let exchange = |request: &'static str| async move {
        let dial = &dial;
        let mut stream = dial().await;
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        response
    };
    let root = exchange("GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await;
    assert!(root.starts_with("HTTP/1.1 200"), "{root}");
    assert!(root.contains("\"name\":\"sandbot\""), "{root}");
    let created = exchange(
        "POST /connector/websocket HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let body = created.split_once("\r\n\r\n").unwrap().1;
    let id = serde_json::from_str::<serde_json::Value>(body).unwrap()["socket"]
        .as_str()
        .unwrap()
        .to_string();

    // The websocket upgrade over the same TLS.
    let url = format!("wss://localhost:{port}/connector/websocket/{id}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, dial().await)
        .await
        .unwrap();
    let frame = serde_json::json!({"message": "hello", "user": "ada", "socket": id});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, Message::text("Hello ada"));

    // A plain-HTTP client gets no answer it could mistake for one.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut plain, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut got);
    assert!(!got.starts_with(b"HTTP/1.1 200"));

    // A missing key: the start fails and names the file.
    std::fs::remove_file(tls.join("key.pem")).unwrap();
    let port2 = free_port();
    bot.write_config(
        &std::fs::read_to_string(bot.config())
            .unwrap()
            .replace(&format!("port: {port}"), &format!("port: {port2}")),
    );
    let config = bot.config();
    let (status, _, stderr) = crate::common::sandbot(&["start", "-c", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains("reading the private key") && stderr.contains("key.pem"),
        "{stderr}"
    );
}

/// Admin commands sent back to back on one socket run in the order sent:
/// each `skill disable` and `skill enable` finds the state the one before
/// it left (not "already enabled" while `skills` says disabled), and the
/// last one wins. Another socket's message does not wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_commands_on_a_socket_run_in_the_order_sent() {
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["hello"],
        &format!("  websocket: {{tokens: {{t-alice: alice}}}}\nweb: {{port: {port}}}\n"),
    );
    let config = std::fs::read_to_string(bot.config()).unwrap();
    bot.write_config(&config.replace("admins: [alice]", "admins: [alice, 'websocket:alice']"));
    let _run = bot.start();
    wait_for_port(port);
    let (status, id) = new_socket(port, &[("authorization", "t-alice")]);
    assert_eq!(status, 200, "{id}");
    let mut ws = open(port, &id).await;
    const PAIRS: usize = 15;
    for _ in 0..PAIRS {
        say(&mut ws, "skill disable hello").await;
        say(&mut ws, "skill enable hello").await;
    }
    say(&mut ws, "skills").await;
    let mut answers = Vec::new();
    for _ in 0..2 * PAIRS {
        answers.push(answer(&mut ws).await);
    }
    for pair in answers.chunks(2) {
        assert_eq!(
            pair,
            ["`hello` is disabled.", "`hello` is enabled."],
            "{answers:#?}"
        );
    }
    let skills = answer(&mut ws).await;
    assert!(
        skills.contains("hello") && !skills.contains("disabled"),
        "{skills}"
    );
    say(&mut ws, "hello").await;
    assert_eq!(answer(&mut ws).await, "Hello alice");
}
