//! A websocket connector that speaks opsdroid's protocol, so an opsdroid web
//! client or load tool works unchanged:
//!
//! - `POST /connector/<name>` → `{"socket": "<id>"}` (429 past
//!   `max-connections`; with a `token`, the `Authorization` header must
//!   carry it, as is or after `Bearer `);
//! - `GET /connector/<name>/<id>` upgrades to a websocket, within
//!   `connection-timeout` of the POST;
//! - client frames are `{"message": …, "user": …, "socket": …}` or plain
//!   text; the bot answers with plain text frames on the same socket.
//!
//! Each socket is a room of its own. Its messages are handled at once (a slow
//! skill delays no one), and its answers go out in the order its messages
//! came (`in_order`). What a client can cost is bounded: frames over
//! `max-frame` close the socket, and a client that stops reading is
//! disconnected once `max-queue` answers wait for it. The user name a client
//! sends is only a display name: its stable id is the socket's id, or, with
//! `tokens`, the user its token maps to. With `page: true` (the default when
//! the server listens on loopback only) the web chat page is served at
//! `/chat` (`/chat/<name>` for an instance not named `websocket`).

use super::in_order::Conversations;
use super::{Connector, ConnectorSink, Context, Status, Web};
use crate::bus::Delivery;
use crate::event::{Event, Message as ChatMessage};
use crate::limits::{ByteSize, HumanDuration};
use crate::text::for_terminal;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebsocketSettings {
    /// Sockets requested or open at once; more get 429.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a requested socket waits to be opened.
    #[serde(default = "default_connection_timeout")]
    pub connection_timeout: HumanDuration,
    /// A secret clients must send in `Authorization`.
    #[serde(default)]
    pub token: Option<String>,
    /// Secrets that also say who the client is: token → user id.
    #[serde(default)]
    pub tokens: IndexMap<String, String>,
    /// The largest frame a client may send.
    #[serde(default = "default_max_frame")]
    pub max_frame: ByteSize,
    /// Answers waiting for one client before it is disconnected as too slow.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Serve the web chat page [default: when listening on loopback only].
    #[serde(default)]
    pub page: Option<bool>,
    /// The bot's name on the page.
    #[serde(default = "default_bot_name")]
    pub bot_name: String,
}

fn default_max_connections() -> usize {
    10
}
fn default_connection_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_max_frame() -> ByteSize {
    ByteSize(64 << 10)
}
fn default_max_queue() -> usize {
    256
}
fn default_bot_name() -> String {
    "sandbot".into()
}

/// tungstenite zero-fills its whole read buffer before every read (128 KiB
/// by default, twice per message: the frame, then the read that would
/// block): a profile put an eighth of the server's CPU in that memset. Chat
/// frames are small; a larger one takes a few more reads.
const READ_BUFFER: usize = 4 << 10;

/// The web chat page, with `{{CONNECTOR}}` and `{{BOT}}` to fill in.
const PAGE: &str = include_str!("chat.html");

pub struct Websocket {
    settings: WebsocketSettings,
    shared: Option<Arc<Shared>>,
}

impl super::registry::Kind for Websocket {
    type Settings = WebsocketSettings;
    fn from_settings(settings: WebsocketSettings) -> Self {
        Websocket {
            settings,
            shared: None,
        }
    }
}

struct Shared {
    name: String,
    settings: WebsocketSettings,
    events: ConnectorSink,
    status: Status,
    sockets: Mutex<Sockets>,
}

#[derive(Default)]
struct Sockets {
    /// Requested and not yet opened: when, and the user a token named.
    waiting: HashMap<String, (Instant, Option<String>)>,
    open: HashMap<String, Outbound>,
    order: Conversations<String, String>,
}

/// Where one socket's answers go.
#[derive(Clone)]
struct Outbound {
    tx: mpsc::Sender<String>,
    /// Told when the client is disconnected for being too slow.
    kick: Arc<Notify>,
}

impl Sockets {
    fn count(&self) -> usize {
        self.waiting.len() + self.open.len()
    }
}

impl Connector for Websocket {
    fn routes(&mut self, web: &Web) -> Option<Router> {
        let shared = Arc::new(Shared {
            name: web.name.clone(),
            settings: self.settings.clone(),
            events: web.events.clone(),
            status: web.status.clone(),
            sockets: Mutex::default(),
        });
        self.shared = Some(shared.clone());
        // Its routes answer as soon as the server does, which may be
        // before `run` is first polled: it is listening from here on.
        web.status.set("listening");
        let base = format!("/connector/{}", web.name);
        let mut router = Router::new()
            .route(&base, post(new_socket))
            .route(&format!("{base}/{{id}}"), get(open_socket));
        if self.settings.page.unwrap_or(web.loopback) {
            let at = if web.name == "websocket" {
                "/chat".to_string()
            } else {
                format!("/chat/{}", web.name)
            };
            router = router.route(&at, get(page));
        }
        Some(router.with_state(shared))
    }

    fn run(self: Box<Self>, cx: Context) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(shared) = self.shared else {
                anyhow::bail!("the websocket connector needs the HTTP server");
            };
            cx.status.set("listening");
            deliver(shared, cx).await;
            Ok(())
        })
    }
}

/// Carries answers from the outbox to the sockets, in each one's order.
async fn deliver(shared: Arc<Shared>, mut cx: Context) {
    while let Some(delivery) = cx.outbox.recv().await {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let (room, texts) = match delivery {
            Delivery::Response(r) => {
                let text = render(&r.body);
                let room = r.target.room;
                match sockets.order.answer(&room, r.in_reply_to, text) {
                    Some(text) => (room, vec![text]),
                    None => (room, Vec::new()),
                }
            }
            Delivery::Finished(id) => match sockets.order.finished(id) {
                Some(done) => done,
                None => continue,
            },
        };
        let Some(out) = sockets.open.get(&room).cloned() else {
            continue;
        };
        let held = sockets.order.held(&room);
        let mut too_slow = held > shared.settings.max_queue;
        for text in texts {
            if out.tx.try_send(text).is_err() {
                too_slow = true;
                break;
            }
        }
        if too_slow {
            tracing::warn!(connector = %shared.name, socket = %room, "a client stopped reading; disconnecting it");
            sockets.open.remove(&room);
            sockets.order.remove(&room);
            out.kick.notify_one();
        }
    }
}

/// An answer as a text frame: lines kept, control characters shown.
fn render(body: &crate::event::ResponseBody) -> String {
    match body {
        crate::event::ResponseBody::Text(text) => text
            .split('\n')
            .map(|l| for_terminal(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
        crate::event::ResponseBody::Reaction { emoji, .. } => {
            format!("(reacts {})", for_terminal(emoji))
        }
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// The secret a request carries, as is or after `Bearer `.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ").unwrap_or(value).trim())
}

async fn new_socket(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let settings = &shared.settings;
    let user = match presented(&headers) {
        Some(t) if settings.tokens.contains_key(t) => Some(settings.tokens[t].clone()),
        Some(t) if settings.token.as_deref() == Some(t) => None,
        _ if settings.token.is_some() || !settings.tokens.is_empty() => {
            return refuse(StatusCode::FORBIDDEN, "a valid token is needed in the Authorization header");
        }
        _ => None,
    };
    let id = socket_id();
    let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
    let timeout = settings.connection_timeout.0;
    sockets.waiting.retain(|_, (at, _)| at.elapsed() <= timeout);
    if sockets.count() >= settings.max_connections {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many connections (max-connections: {})", settings.max_connections),
        );
    }
    sockets.waiting.insert(id.clone(), (Instant::now(), user));
    axum::Json(serde_json::json!({ "socket": id })).into_response()
}

async fn open_socket(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let waited = {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.waiting.remove(&id)
    };
    let user = match waited {
        Some((at, user)) if at.elapsed() <= shared.settings.connection_timeout.0 => user,
        Some(_) => return refuse(StatusCode::NOT_FOUND, "that socket's connection timeout passed; POST for a new one"),
        None => return refuse(StatusCode::NOT_FOUND, "no such socket; POST to /connector/<name> for one"),
    };
    let max = shared.settings.max_frame.0 as usize;
    upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |ws| serve_socket(shared, id, user, ws))
}

/// A random socket id (32 hex digits).
fn socket_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut id = String::with_capacity(32);
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(crate::event::now_ms());
        id.push_str(&format!("{:016x}", h.finish()));
    }
    id
}

/// A client frame: JSON as opsdroid sends it.
#[derive(Deserialize)]
struct Frame {
    message: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    socket: Option<String>,
}

async fn serve_socket(shared: Arc<Shared>, id: String, token_user: Option<String>, ws: WebSocket) {
    let (mut to_client, mut from_client) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(shared.settings.max_queue.max(1));
    let kick = Arc::new(Notify::new());
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.open.insert(
            id.clone(),
            Outbound {
                tx: tx.clone(),
                kick: kick.clone(),
            },
        );
        shared.status.set(format!("listening, {} sockets open", sockets.open.len()));
    }
    let max_queue = shared.settings.max_queue;
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                text = rx.recv() => match text {
                    Some(text) => if to_client.send(Message::Text(text.into())).await.is_err() { break },
                    None => break,
                },
                _ = kick.notified() => {
                    let reason = format!("too slow: over {max_queue} answers were waiting");
                    let _ = to_client.send(Message::Close(Some(CloseFrame { code: 1008, reason: reason.into() }))).await;
                    break;
                }
            }
        }
    });
    let user_id = token_user.clone().unwrap_or_else(|| id.clone());
    let mut n = 0u64;
    while let Some(frame) = from_client.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Binary(_)) => {
                let _ = tx.try_send("⚠ binary frames are not read here: send text, or JSON like {\"message\": \"hello\"}".into());
                continue;
            }
            Ok(Message::Close(_)) => break,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Err(e) => {
                tracing::debug!(connector = %shared.name, socket = %id, "the socket failed: {e}");
                break;
            }
        };
        let (message, user) = if text.trim_start().starts_with('{') {
            match serde_json::from_str::<Frame>(&text) {
                Ok(frame) if frame.socket.as_deref().is_some_and(|s| s != id) => {
                    let _ = tx.try_send(format!("⚠ this is socket {id}; that frame is for another"));
                    continue;
                }
                Ok(frame) => (frame.message, frame.user),
                Err(e) => {
                    let _ = tx.try_send(format!("⚠ that frame is not JSON the bot reads: {e}"));
                    continue;
                }
            }
        } else {
            (text, None)
        };
        if message.trim().is_empty() {
            continue;
        }
        n += 1;
        let user = token_user
            .clone()
            .or(user)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "user".into());
        let event = Event::Message(ChatMessage {
            id: format!("{id}-{n}"),
            text: message.trim().to_owned(),
            user,
            user_id: user_id.clone(),
            room: id.clone(),
            connector: shared.name.clone(),
            thread: None,
            received_at: crate::event::now_ms(),
            addressed: true,
        });
        let event_id = shared.events.new_id();
        {
            let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
            if !sockets.open.contains_key(&id) {
                break; // disconnected as too slow
            }
            sockets.order.expect(&id, event_id);
        }
        if shared.events.submit_as(event_id, event).await.is_err() {
            break;
        }
    }
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.open.remove(&id);
        sockets.order.remove(&id);
        shared.status.set(format!("listening, {} sockets open", sockets.open.len()));
    }
    drop(tx);
    let _ = writer.await;
}

async fn page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    Html(
        PAGE.replace("{{CONNECTOR}}", &escape(&format!("/connector/{}", shared.name)))
            .replace("{{BOT}}", &escape(&shared.settings.bot_name)),
    )
}
