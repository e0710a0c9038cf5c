//! The Matrix connector when its homeserver misbehaves, against a real
//! Synapse: down for seconds while an answer is due (the answer waits and
//! goes out; given up past `deliver-within`, the record says so), the bot's
//! device logged out (it logs in again with its password), and `/sync`
//! answered 502 for a while (one WARN, one INFO, `GET /` not connected
//! meanwhile: a loopback proxy in front of Synapse answers the 502s).

use crate::common::{BotDir, free_port, http};
use crate::matrix::{BOT, Person, homeserver, start_bot, text};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A pass-through to Synapse on a loopback port that can answer every
/// `/sync` with 502 instead.
struct Proxy {
    port: u16,
    failing: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    failing: Arc<AtomicBool>,
    http: reqwest::Client,
}

impl Proxy {
    async fn start(upstream_port: u16) -> Proxy {
        let port = free_port();
        let failing = Arc::new(AtomicBool::new(false));
        let state = ProxyState {
            upstream: format!("http://127.0.0.1:{upstream_port}"),
            failing: failing.clone(),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Proxy {
            port,
            failing,
            server,
        }
    }

    fn fail_sync(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if state.failing.load(Ordering::SeqCst) && path.contains("/sync") {
        return (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response();
    }
    let method = request.method().clone();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let mut out = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    match out.send().await {
        Ok(answer) => {
            let status = answer.status();
            let kind = answer.headers().get("content-type").cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            if let Some(kind) = kind {
                response.headers_mut().insert("content-type", kind);
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// The bot's connector state in `GET /`.
fn state_of(web: u16, connector: &str) -> String {
    let (_, body) = http(web, "GET", "/", &[], "");
    let root: serde_json::Value = serde_json::from_str(&body).unwrap();
    root["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == connector)
        .map(|c| c["state"].as_str().unwrap().to_owned())
        .unwrap()
}

/// An answer due while the homeserver is down for about nine seconds goes
/// out when it is back, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_due_while_the_homeserver_is_down_goes_out_when_it_is_back() {
    let mut synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let bot = BotDir::with_connectors(&["slow", "hello"], &synapse.connector("matrix", "sandbot"));
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    alice.say(&room, "hello").await;
    alice.wait_for(&room, BOT, text("Hello alice")).await;
    // The answer is due in 1.5 s; the homeserver is down from now for 9 s.
    alice.say(&room, "work 1500").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    synapse.kill();
    tokio::time::sleep(Duration::from_secs(9)).await;
    synapse.start_again().await;
    alice
        .wait_for(&room, BOT, |s| s.what.starts_with("text:worked"))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let said = alice.said_by(&room, BOT);
    assert_eq!(
        said.iter().filter(|s| s.starts_with("text:worked")).count(),
        1,
        "once: {said:?}"
    );
    let log = running.log();
    assert!(log.contains("cannot send an answer yet"), "{log}");
    assert!(!log.contains("given up"), "{log}");
}

/// Past `deliver-within`, the answer is given up, and its execution's
/// record says it never reached the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_up_is_not_recorded_as_delivered() {
    let mut synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let web = free_port();
    let bot = BotDir::with_connectors(
        &["slow", "hello"],
        &format!(
            "{}    deliver-within: 3s\nweb: {{port: {web}}}\nhistory: {{token: t0ken}}\n",
            synapse.connector("matrix", "sandbot")
        ),
    );
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    alice.say(&room, "work 1000").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    synapse.kill();
    running.wait_for_log("was given up");
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let (_, body) = http(
            web,
            "GET",
            "/api/executions?skill=slow",
            &[("authorization", "Bearer t0ken")],
            "",
        );
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let first = list.as_array().and_then(|l| l.first()).cloned();
        if let Some(r) = first.filter(|r| r["undelivered"].is_string()) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no undelivered mark: {body}\n{}",
            running.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        record["undelivered"]
            .as_str()
            .unwrap()
            .contains("deliver-within"),
        "{record}"
    );
    synapse.start_again().await;
}

/// The bot's device logged out (its token revoked, as an admin or a
/// "sign out all sessions" does): it logs in again with its password, as
/// the same device, and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_device_logs_in_again_with_its_password() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let bot = BotDir::with_connectors(&["hello"], &synapse.connector("matrix", "sandbot"));
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    alice.say(&room, "hello").await;
    alice.wait_for(&room, BOT, text("Hello alice")).await;

    let session_file = bot.path().join("data/connectors/matrix/session.json");
    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&session_file).unwrap()).unwrap();
    let token = session["access_token"]
        .as_str()
        .or(session["tokens"]["access_token"].as_str())
        .unwrap()
        .to_owned();
    let device = session["device_id"]
        .as_str()
        .or(session["meta"]["device_id"].as_str())
        .unwrap()
        .to_owned();
    let out = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/logout", synapse.url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "{}", out.text().await.unwrap());

    running.wait_for_log("logged in to Matrix again");
    alice.say(&room, "hi").await;
    alice.wait_for(&room, BOT, text("Hi alice")).await;
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&session_file).unwrap()).unwrap();
    assert_eq!(
        again["device_id"]
            .as_str()
            .or(again["meta"]["device_id"].as_str()),
        Some(device.as_str()),
        "the same device"
    );
    assert_ne!(again.to_string(), session.to_string(), "a new token saved");
}

/// `/sync` answered 502 for a while: one WARN when it starts, one INFO
/// when it ends, and `GET /` says not connected meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_is_said_once_and_shown_as_not_connected() {
    let synapse = homeserver().await;
    let proxy = Proxy::start(synapse.port).await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let web = free_port();
    let connector = synapse
        .connector("matrix", "sandbot")
        .replace(&synapse.url(), &format!("http://127.0.0.1:{}", proxy.port));
    let bot = BotDir::with_connectors(&["hello"], &format!("{connector}web: {{port: {web}}}\n"));
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    assert!(
        state_of(web, "matrix").starts_with("connected"),
        "{}",
        state_of(web, "matrix")
    );

    proxy.fail_sync(true);
    // The long poll in flight ends within its 30 s; then every /sync fails.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state_of(web, "matrix").starts_with("not connected") {
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            state_of(web, "matrix"),
            running.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several failed attempts go by.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let state = state_of(web, "matrix");
    assert!(state.contains("502"), "{state}");
    proxy.fail_sync(false);
    // (A /sync that works is a long poll: it returns with the next event.)
    alice.say(&room, "hello").await;
    alice.wait_for(&room, BOT, text("Hello alice")).await;
    running.wait_for_log("Matrix /sync works again");
    assert!(state_of(web, "matrix").starts_with("connected"));
    let log = running.log();
    let warned = log
        .lines()
        .filter(|l| l.contains("Matrix /sync failed"))
        .count();
    let recovered = log
        .lines()
        .filter(|l| l.contains("Matrix /sync works again"))
        .count();
    assert_eq!((warned, recovered), (1, 1), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("Matrix /sync failed")),
        "{log}"
    );
}
