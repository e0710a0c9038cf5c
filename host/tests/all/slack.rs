//! The Slack connector against a local server that speaks Slack's documented
//! shapes: the Web API's JSON (`auth.test`, `apps.connections.open`,
//! `chat.postMessage`, `reactions.add`, `users.info`, `ok: false` errors, 429
//! with `Retry-After`) and Socket Mode's websocket (`hello`, `events_api`
//! envelopes that must be acknowledged, `disconnect`). No Slack is reachable
//! from here; the connector under test is the same client a user points at
//! slack.com, with `api-url` pointing here instead.

use crate::common::{ANSWER_TIMEOUT, BotDir, Running, free_port};
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const BOT_TOKEN: &str = "xoxb-test-bot-token";
const APP_TOKEN: &str = "xapp-test-app-token";
pub const BOT_USER: &str = "U0BOT";

/// What the server saw and what it is told to do next.
#[derive(Default)]
struct Seen {
    /// Web API calls the bot made (method, JSON body), in order.
    calls: Vec<(String, Value)>,
    /// Envelope ids the bot acknowledged.
    acks: Vec<String>,
    /// Sockets opened so far, and the one events go to (the newest).
    opened: usize,
    sockets: Vec<(usize, mpsc::UnboundedSender<String>)>,
    /// Sockets open at once, at most: a refresh opens the next first.
    most_open: usize,
    /// The next this many chat.postMessage calls are answered 429.
    rate_limit: u32,
    next_envelope: u64,
}

#[derive(Clone)]
struct FakeState {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

/// A Slack workspace on a loopback port.
pub struct FakeSlack {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
    runtime: tokio::runtime::Runtime,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeSlack {
    pub fn start() -> FakeSlack {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut slack = FakeSlack {
            port: free_port(),
            seen: Arc::default(),
            runtime,
            server: None,
        };
        slack.serve();
        slack
    }

    fn serve(&mut self) {
        let state = FakeState {
            port: self.port,
            seen: self.seen.clone(),
        };
        let app = axum::Router::new()
            .route("/api/{method}", post(web_api))
            .route("/link", any(socket))
            .with_state(state);
        let port = self.port;
        let listener = self.runtime.block_on(async move {
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap()
        });
        self.server = Some(self.runtime.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// The connector's settings for this workspace.
    pub fn connector(&self, name: &str) -> String {
        format!(
            "  {name}:\n    type: slack\n    bot-token: ${{SLACK_BOT_TOKEN}}\n    app-token: ${{SLACK_APP_TOKEN}}\n    api-url: http://127.0.0.1:{}/api/\n",
            self.port
        )
    }

    /// The environment the connector's `${VAR}`s come from.
    pub fn env() -> [(&'static str, &'static str); 2] {
        [
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_APP_TOKEN", APP_TOKEN),
        ]
    }

    /// Waits for the `sockets`th socket to be open. (Its URL is handed out
    /// before it connects, so `opened` alone does not say it is.)
    pub fn wait_connected(&self, sockets: usize) {
        self.wait(
            |s| s.sockets.iter().any(|(id, _)| *id >= sockets),
            "a socket",
        );
    }

    /// Sends an `events_api` envelope with `event` on the newest socket and
    /// returns its envelope id.
    pub fn push(&self, event: Value) -> String {
        let mut seen = self.seen.lock().unwrap();
        seen.next_envelope += 1;
        let id = format!("env-{}", seen.next_envelope);
        let envelope = json!({
            "envelope_id": id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "verification-token",
                "team_id": "T0TEAM",
                "api_app_id": "A0APP",
                "event": event,
                "type": "event_callback",
                "event_id": format!("Ev{}", seen.next_envelope),
                "event_time": 1_700_000_000,
            },
        });
        let (_, socket) = seen.sockets.last().expect("no socket is open");
        socket.send(envelope.to_string()).unwrap();
        id
    }

    /// Tells the bot, on its socket, that Slack wants it to reconnect.
    pub fn disconnect(&self, reason: &str) {
        let seen = self.seen.lock().unwrap();
        let (_, socket) = seen.sockets.last().expect("no socket is open");
        let message =
            json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-test"}});
        socket.send(message.to_string()).unwrap();
    }

    /// Answers the next `n` chat.postMessage calls with 429.
    pub fn rate_limit(&self, n: u32) {
        self.seen.lock().unwrap().rate_limit = n;
    }

    pub fn acks(&self) -> Vec<String> {
        self.seen.lock().unwrap().acks.clone()
    }

    pub fn sockets_opened(&self) -> usize {
        self.seen.lock().unwrap().opened
    }

    pub fn most_open(&self) -> usize {
        self.seen.lock().unwrap().most_open
    }

    /// Every Web API call so far of `method`.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        seen.calls
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits for the `n`-th call of `method` (counting from 1) and returns it.
    pub fn nth_call(&self, method: &str, n: usize) -> Value {
        self.wait(
            |s| s.calls.iter().filter(|(m, _)| m == method).count() >= n,
            method,
        );
        self.calls(method)[n - 1].clone()
    }

    fn wait(&self, done: impl Fn(&Seen) -> bool, what: &str) {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while !done(&self.seen.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "no {what} within {ANSWER_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Goes away: the listener and every socket close.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.seen.lock().unwrap().sockets.clear();
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Comes back on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.serve();
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ok(mut fields: Value) -> Response {
    fields["ok"] = json!(true);
    axum::Json(fields).into_response()
}

fn error(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

/// The Web API: JSON bodies, bearer tokens, Slack's answers.
async fn web_api(
    State(state): State<FakeState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let wanted = if method == "apps.connections.open" {
        APP_TOKEN
    } else {
        BOT_TOKEN
    };
    if token != wanted {
        return error("invalid_auth");
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return error("invalid_arguments");
    }
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut seen = state.seen.lock().unwrap();
    match method.as_str() {
        "auth.test" => ok(json!({
            "url": "https://test.slack.com/", "team": "Test", "user": "sandbot",
            "team_id": "T0TEAM", "user_id": BOT_USER, "bot_id": "B0BOT",
        })),
        "apps.connections.open" => {
            seen.opened += 1;
            ok(json!({"url": format!("ws://127.0.0.1:{}/link?ticket={}", state.port, seen.opened)}))
        }
        "users.info" => {
            let id = body["user"].as_str().unwrap_or_default().to_owned();
            let name = match id.as_str() {
                "U0ALICE" => "alice",
                "U0BOB" => "bob",
                _ => return error("user_not_found"),
            };
            ok(
                json!({"user": {"id": id, "name": name, "real_name": name, "profile": {"display_name": name, "real_name": name}}}),
            )
        }
        "chat.postMessage" => {
            if seen.rate_limit > 0 {
                seen.rate_limit -= 1;
                seen.calls.push(("rate-limited".into(), body));
                let mut answer =
                    axum::Json(json!({"ok": false, "error": "ratelimited"})).into_response();
                *answer.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                answer
                    .headers_mut()
                    .insert("retry-after", "1".parse().unwrap());
                return answer;
            }
            seen.calls.push((method.clone(), body.clone()));
            if body["channel"] == "C0GONE" {
                return error("channel_not_found");
            }
            let text = body["text"].as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return error("no_text");
            }
            // Slack truncates text past 40,000 characters and answers
            // `msg_too_long` for a message it will not take; it asks for
            // 4,000 at most for people to read. This server holds the bot
            // to the 4,000.
            if text.chars().count() > 4_000 {
                return error("msg_too_long");
            }
            ok(
                json!({"channel": body["channel"], "ts": "1700000000.000100", "message": {"text": body["text"]}}),
            )
        }
        "reactions.add" => {
            seen.calls.push((method.clone(), body.clone()));
            if body["name"].as_str().is_none_or(str::is_empty) {
                return error("invalid_name");
            }
            ok(json!({}))
        }
        _ => error("unknown_method"),
    }
}

/// Socket Mode: `hello` first, then envelopes; acks are recorded.
async fn socket(State(state): State<FakeState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |ws| talk(state, ws))
}

async fn talk(state: FakeState, mut ws: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut seen = state.seen.lock().unwrap();
        let id = seen.opened;
        seen.sockets.push((id, tx));
        seen.most_open = seen.most_open.max(seen.sockets.len());
        id
    };
    let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "applink-test"}, "connection_info": {"app_id": "A0APP"}});
    if ws.send(WsMessage::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if ws.send(WsMessage::text(text)).await.is_err() { break },
                None => break,
            },
            frame = ws.recv() => match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(ack) = v["envelope_id"].as_str() {
                        state.seen.lock().unwrap().acks.push(ack.to_owned());
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    state.seen.lock().unwrap().sockets.retain(|(s, _)| *s != id);
}

fn message(user: &str, channel: &str, ts: &str, text: &str) -> Value {
    json!({"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts, "channel_type": "channel"})
}

/// A bot on these workspaces, with `admins` as the admin list.
fn start_bot(slack: &[&FakeSlack], names: &[&str], admins: &str) -> (BotDir, Running) {
    let mut connectors = String::new();
    for (s, name) in slack.iter().zip(names) {
        connectors.push_str(&s.connector(name));
    }
    let bot = BotDir::with_connectors(&["hello", "events"], &connectors);
    let config = std::fs::read_to_string(bot.config()).unwrap();
    bot.write_config(&config.replace("admins: [alice]", &format!("admins: {admins}")));
    let running = Running::start(&bot.config(), &FakeSlack::env());
    for s in slack {
        s.wait_connected(1);
    }
    (bot, running)
}

#[test]
fn mentions_messages_threads_dms_and_reactions() {
    let slack = FakeSlack::start();
    let (_bot, running) = start_bot(&[&slack], &["slack"], "[alice]");

    // An app_mention: the mention is not part of the command.
    let envelope = slack.push(json!({
        "type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> hello",
        "ts": "1700000001.000100", "channel": "C0OPS", "event_ts": "1700000001.000100",
    }));
    let answer = slack.nth_call("chat.postMessage", 1);
    assert_eq!(answer["channel"], "C0OPS");
    assert_eq!(answer["text"], "Hello alice");
    assert!(answer.get("thread_ts").is_none(), "{answer}");
    assert!(
        slack.acks().contains(&envelope),
        "every envelope is acknowledged"
    );
    // The same message as a `message` event is not handled a second time.
    slack.push(message(
        "U0ALICE",
        "C0OPS",
        "1700000001.000100",
        "<@U0BOT> hello",
    ));

    // In a thread, the answer goes to the thread.
    let mut threaded = message("U0ALICE", "C0OPS", "1700000002.000200", "whoami");
    threaded["thread_ts"] = json!("1700000000.000050");
    slack.push(threaded);
    let answer = slack.nth_call("chat.postMessage", 2);
    assert_eq!(answer["thread_ts"], "1700000000.000050");
    assert_eq!(
        answer["text"],
        "id=U0ALICE name=alice connector=slack room=C0OPS thread=1700000000.000050"
    );

    // A direct message.
    let mut dm = message("U0BOB", "D0BOB", "1700000003.000300", "hello");
    dm["channel_type"] = json!("im");
    slack.push(dm);
    let answer = slack.nth_call("chat.postMessage", 3);
    assert_eq!(
        (answer["channel"].as_str(), answer["text"].as_str()),
        (Some("D0BOB"), Some("Hello bob"))
    );

    // The bot reacts with reactions.add; a reaction comes in as an event.
    slack.push(message("U0ALICE", "C0OPS", "1700000004.000400", "react"));
    let reaction = slack.nth_call("reactions.add", 1);
    assert_eq!(
        reaction,
        json!({"channel": "C0OPS", "timestamp": "1700000004.000400", "name": "+1"})
    );
    slack.push(json!({
        "type": "reaction_added", "user": "U0BOB", "reaction": "eyes",
        "item": {"type": "message", "channel": "C0OPS", "ts": "1700000004.000400"},
        "item_user": "U0ALICE", "event_ts": "1700000005.000500",
    }));
    let answer = slack.nth_call("chat.postMessage", 4);
    assert_eq!(answer["text"], "U0BOB reacted eyes to 1700000004.000400");

    // Its own messages and other bots' are not handled.
    slack.push(message(BOT_USER, "C0OPS", "1700000006.000600", "hello"));
    let mut other_bot = message("U0OTHERBOT", "C0OPS", "1700000007.000700", "hello");
    other_bot["bot_id"] = json!("B0OTHER");
    slack.push(other_bot);
    slack.push(message("U0ALICE", "C0OPS", "1700000008.000800", "hello"));
    let answer = slack.nth_call("chat.postMessage", 5);
    assert_eq!(answer["text"], "Hello alice");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        slack.calls("chat.postMessage").len(),
        5,
        "nothing else was answered"
    );
    let log = running.log();
    assert!(
        !log.contains(BOT_TOKEN) && !log.contains(APP_TOKEN),
        "tokens leaked:\n{log}"
    );
}

#[test]
fn rate_limits_are_waited_out_and_errors_logged_with_slacks_code() {
    let slack = FakeSlack::start();
    let (_bot, running) = start_bot(&[&slack], &["slack"], "[alice]");
    slack.rate_limit(1);
    let asked = Instant::now();
    slack.push(message("U0ALICE", "C0OPS", "1700000010.000100", "hello"));
    let answer = slack.nth_call("chat.postMessage", 1);
    assert_eq!(answer["text"], "Hello alice");
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({:?})",
        asked.elapsed()
    );
    assert_eq!(slack.calls("rate-limited").len(), 1);
    running.wait_for_log("rate-limited");

    slack.push(message("U0ALICE", "C0GONE", "1700000011.000100", "hello"));
    slack.nth_call("chat.postMessage", 2);
    running.wait_for_log("channel_not_found");
}

#[test]
fn a_refresh_opens_the_next_socket_first_and_a_restart_is_survived() {
    let mut slack = FakeSlack::start();
    let (_bot, running) = start_bot(&[&slack], &["slack"], "[alice]");
    slack.disconnect("refresh_requested");
    slack.wait_connected(2);
    // The bot closes the old socket only once the new one said hello.
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while slack.seen.lock().unwrap().sockets.len() > 1 {
        assert!(Instant::now() < deadline, "the old socket stayed open");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        slack.most_open(),
        2,
        "the next socket opened before the old closed"
    );
    slack.push(message("U0ALICE", "C0OPS", "1700000020.000100", "hello"));
    assert_eq!(slack.nth_call("chat.postMessage", 1)["text"], "Hello alice");

    // Slack goes away and comes back: the bot reconnects by itself.
    slack.restart();
    running.wait_for_log("retrying in");
    let opened = slack.sockets_opened();
    slack.wait_connected(opened.max(3));
    slack.push(message("U0ALICE", "C0OPS", "1700000021.000100", "hello"));
    assert_eq!(slack.nth_call("chat.postMessage", 2)["text"], "Hello alice");
}

#[test]
fn two_workspaces_and_admins_by_connector_and_user_id() {
    let a = FakeSlack::start();
    let b = FakeSlack::start();
    // Alice is an admin in workspace A only: the same id elsewhere is not her.
    let (_bot, _running) = start_bot(&[&a, &b], &["slack-a", "slack-b"], "['slack-a:U0ALICE']");

    a.push(message("U0ALICE", "C0A", "1700000030.000100", "whoami"));
    b.push(message("U0BOB", "C0B", "1700000030.000200", "whoami"));
    assert!(
        a.nth_call("chat.postMessage", 1)["text"]
            .as_str()
            .unwrap()
            .contains("connector=slack-a room=C0A")
    );
    assert!(
        b.nth_call("chat.postMessage", 1)["text"]
            .as_str()
            .unwrap()
            .contains("connector=slack-b room=C0B")
    );

    b.push(message("U0ALICE", "C0B", "1700000031.000100", "reload"));
    let refused = b.nth_call("chat.postMessage", 2);
    assert!(
        refused["text"].as_str().unwrap().contains("only admins"),
        "{refused}"
    );
    a.push(message("U0BOB", "C0A", "1700000031.000200", "reload"));
    let refused = a.nth_call("chat.postMessage", 2);
    assert!(
        refused["text"].as_str().unwrap().contains("only admins"),
        "{refused}"
    );
    a.push(message("U0ALICE", "C0A", "1700000031.000300", "reload"));
    let accepted = a.nth_call("chat.postMessage", 3);
    assert!(
        !accepted["text"].as_str().unwrap().contains("only admins"),
        "{accepted}"
    );
}

/// Slack's mention markup is text for people, not a channel: a skill
/// granted `slack:*` that sends to `<#C0OPS|ops>` is refused by the grant
/// check, the refusal is recorded, and Slack's API never sees the markup
/// as a channel.
#[test]
fn a_wildcard_grant_never_takes_slack_markup_for_a_channel() {
    let slack = FakeSlack::start();
    let web = free_port();
    let bot = BotDir::with_connectors(
        &["relay"],
        &format!(
            "{}web: {{port: {web}}}\nhistory: {{token: t0ken}}\nskills:\n  relay:\n    to: 'slack:<#C0OPS|ops>'\n    allow: {{send: ['slack:*']}}\n",
            slack.connector("slack")
        ),
    );
    let _running = Running::start(&bot.config(), &FakeSlack::env());
    slack.wait_connected(1);
    slack.push(message(
        "U0ALICE",
        "C0DEV",
        "1700000001.000100",
        "relay psst",
    ));
    let answer = slack.nth_call("chat.postMessage", 1);
    assert_eq!(answer["channel"], "C0DEV", "{answer}");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("is refused: it is Slack markup"),
        "{answer}"
    );
    let record = crate::grants::last_record(web, "relay");
    assert_eq!(record["outcome"], "denied", "{record}");
    std::thread::sleep(Duration::from_millis(300));
    let calls = slack.calls("chat.postMessage");
    assert_eq!(calls.len(), 1, "only the refusal was said: {calls:?}");
}

/// Slack's documented message formatting reaches skills as text: the bot's
/// mention with its name (`<@U0BOT|sandbot>`) is recognised and taken out,
/// a channel link is `#name`, a link its URL, and `&lt; &gt; &amp;` are
/// undone. (The relay skill repeats what it was given.)
#[test]
fn mentions_with_a_name_and_markup_reach_skills_as_text() {
    let slack = FakeSlack::start();
    let bot = BotDir::with_connectors(
        &["relay"],
        &format!(
            "{}skills:\n  relay:\n    to: 'slack:C0OUT'\n    allow: {{send: ['slack:C0OUT']}}\n",
            slack.connector("slack")
        ),
    );
    let _running = Running::start(&bot.config(), &FakeSlack::env());
    slack.wait_connected(1);
    slack.push(json!({
        "type": "app_mention", "user": "U0ALICE", "channel": "C0OPS",
        "ts": "1700000040.000100", "event_ts": "1700000040.000100",
        "text": "<@U0BOT|sandbot> relay see <#C0DEV|dev> and <https://x.example/a?b=1&amp;c=2> or <http://y.example|y.example> &lt;now&gt; &amp; later",
    }));
    let relayed = slack.nth_call("chat.postMessage", 1);
    assert_eq!(relayed["channel"], "C0OUT", "{relayed}");
    // Escaped again on the way out, as every answer is.
    assert_eq!(
        relayed["text"],
        "[slack C0OPS] alice: see #dev and https://x.example/a?b=1&amp;c=2 or y.example &lt;now&gt; &amp; later"
    );
    assert_eq!(
        slack.nth_call("chat.postMessage", 2)["text"],
        "Relayed to slack:C0OUT."
    );
}

/// An empty answer is not posted: Slack would only answer `no_text`.
#[test]
fn an_empty_answer_is_not_posted() {
    let slack = FakeSlack::start();
    let bot = BotDir::with_connectors(
        &["configured", "hello"],
        &format!(
            "{}skills:\n  configured:\n    pattern: '^blank(?P<x>)$'\n    reply: ''\n",
            slack.connector("slack")
        ),
    );
    let running = Running::start(&bot.config(), &FakeSlack::env());
    slack.wait_connected(1);
    slack.push(message("U0ALICE", "C0OPS", "1700000050.000100", "blank"));
    slack.push(message("U0ALICE", "C0OPS", "1700000050.000200", "hello"));
    assert_eq!(slack.nth_call("chat.postMessage", 1)["text"], "Hello alice");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slack.calls("chat.postMessage").len(), 1);
    assert!(!running.log().contains("no_text"), "{}", running.log());
}

/// A token Slack refuses (`invalid_auth`, `token_revoked`, ...) is one
/// clear error naming the field to fix, shown in `GET /`, and not retried
/// forever with a line per attempt.
#[test]
fn a_refused_token_fails_clearly_once() {
    for (env, field) in [
        (
            [
                ("SLACK_BOT_TOKEN", "xoxb-wrong"),
                ("SLACK_APP_TOKEN", APP_TOKEN),
            ],
            "bot-token",
        ),
        (
            [
                ("SLACK_BOT_TOKEN", BOT_TOKEN),
                ("SLACK_APP_TOKEN", "xapp-wrong"),
            ],
            "app-token",
        ),
    ] {
        let slack = FakeSlack::start();
        let web = free_port();
        let bot = BotDir::with_connectors(
            &["hello"],
            &format!("{}web: {{port: {web}}}\n", slack.connector("slack")),
        );
        let running = Running::start(&bot.config(), &env);
        let wanted = format!("connectors.slack.{field}");
        running.wait_for_log(&wanted);
        // Long enough for several retries had there been any (0.5 s, 1 s, 2 s).
        std::thread::sleep(Duration::from_secs(4));
        let log = running.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("invalid_auth")).collect();
        assert_eq!(lines.len(), 1, "one line about it:\n{log}");
        assert!(lines[0].contains("ERROR"), "{log}");
        assert!(!log.contains("retrying"), "{log}");
        let (_, body) = crate::common::http(web, "GET", "/", &[], "");
        let root: Value = serde_json::from_str(&body).unwrap();
        let state = root["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "slack")
            .map(|c| c["state"].as_str().unwrap().to_owned())
            .unwrap();
        assert!(
            state.starts_with("stopped") && state.contains(&wanted),
            "{state}"
        );
        // The bot itself carries on.
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// The texts of the `chat.postMessage` calls from `from` on, until one
/// ends with `(n/n)` or has no mark: one answer's messages.
fn answer_parts(slack: &FakeSlack, from: usize) -> Vec<String> {
    let mut parts = Vec::new();
    loop {
        let text = slack.nth_call("chat.postMessage", from + parts.len())["text"]
            .as_str()
            .unwrap()
            .to_owned();
        let last = match text.rsplit_once("\n(") {
            Some((_, mark)) => mark
                .strip_suffix(')')
                .and_then(|m| m.split_once('/'))
                .is_none_or(|(i, n)| i == n),
            None => true,
        };
        parts.push(text);
        if last {
            return parts;
        }
    }
}

/// A long answer (200 lines, 12 KB) arrives whole as several messages Slack
/// takes (it answers `msg_too_long` past 4,000 characters here): cut
/// between lines, marked `(i/n)`, in order. Past `max-parts`, the first
/// message and a notice naming the execution, whose record keeps it all.
#[test]
fn a_long_answer_is_split_between_lines_and_past_max_parts_points_to_history() {
    let slack = FakeSlack::start();
    let web = free_port();
    let bot = BotDir::with_connectors(
        &["events"],
        &format!(
            "{}    max-parts: 4\nweb: {{port: {web}}}\nhistory: {{token: t0ken, max-text: 64KiB}}\nskills:\n  events: {{limits: {{response-size: 64KiB}}}}\n",
            slack.connector("slack")
        ),
    );
    let running = Running::start(&bot.config(), &FakeSlack::env());
    slack.wait_connected(1);
    let line = |i: usize| format!("line {i:04} {}", "x".repeat(50));

    slack.push(message(
        "U0ALICE",
        "C0OPS",
        "1700000060.000100",
        "lines 200",
    ));
    let parts = answer_parts(&slack, 1);
    let n = parts.len();
    assert_eq!(n, 4, "{parts:?}");
    let mut lines = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            part.chars().count() <= 4_000,
            "part {i} is {} chars",
            part.chars().count()
        );
        let (body, mark) = part.rsplit_once('\n').unwrap();
        assert_eq!(mark, format!("({}/{n})", i + 1));
        lines.extend(body.lines().map(str::to_owned));
    }
    let wanted: Vec<String> = (1..=200).map(line).collect();
    assert_eq!(lines, wanted, "every line, whole, in order");

    // 400 lines: 8 messages, over max-parts (4).
    slack.push(message(
        "U0ALICE",
        "C0OPS",
        "1700000060.000200",
        "lines 400",
    ));
    let first = slack.nth_call("chat.postMessage", n + 1)["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first.starts_with(&line(1)) && first.ends_with("\n(1/8)"),
        "{first}"
    );
    let notice = slack.nth_call("chat.postMessage", n + 2)["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(notice.contains("max-parts (4)"), "{notice}");
    let api = notice
        .split("`GET ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no API path in {notice}"));
    let (status, record) =
        crate::common::http(web, "GET", api, &[("authorization", "Bearer t0ken")], "");
    assert_eq!(status, 200, "{api}: {record}");
    let record: Value = serde_json::from_str(&record).unwrap();
    let kept = record["responses"][0]["body"]["text"].as_str().unwrap();
    assert_eq!(kept, (1..=400).map(line).collect::<Vec<_>>().join("\n"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slack.calls("chat.postMessage").len(), n + 2);
    let log = running.log();
    assert!(!log.contains("msg_too_long"), "{log}");
}

/// An answer due while Slack cannot be reached goes out when it can, once;
/// one Slack refuses (`channel_not_found`) is recorded as undelivered.
#[test]
fn an_answer_waits_out_slack_being_away_and_a_refused_one_is_recorded() {
    let mut slack = FakeSlack::start();
    let web = free_port();
    let bot = BotDir::with_connectors(
        &["slow", "hello"],
        &format!(
            "{}web: {{port: {web}}}\nhistory: {{token: t0ken}}\n",
            slack.connector("slack")
        ),
    );
    let running = Running::start(&bot.config(), &FakeSlack::env());
    slack.wait_connected(1);
    slack.push(message(
        "U0ALICE",
        "C0OPS",
        "1700000070.000100",
        "work 1000",
    ));
    std::thread::sleep(Duration::from_millis(200));
    slack.stop();
    std::thread::sleep(Duration::from_secs(4));
    slack.restart();
    assert_eq!(
        slack.nth_call("chat.postMessage", 1)["text"],
        "worked 1000 ms"
    );
    running.wait_for_log("cannot reach Slack to send an answer yet");

    let opened = slack.sockets_opened();
    slack.wait_connected(opened.max(2));
    slack.push(message("U0ALICE", "C0GONE", "1700000071.000100", "hello"));
    slack.nth_call("chat.postMessage", 2);
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let (_, body) = crate::common::http(
            web,
            "GET",
            "/api/executions?skill=hello",
            &[("authorization", "Bearer t0ken")],
            "",
        );
        let list: Value = serde_json::from_str(&body).unwrap();
        if list[0]["undelivered"]
            .as_str()
            .is_some_and(|w| w.contains("channel_not_found"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(slack.calls("chat.postMessage").len(), 2, "each once");
}
