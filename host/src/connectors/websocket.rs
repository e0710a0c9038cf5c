//! A websocket connector that speaks opsdroid's protocol, so an opsdroid web
//! client or load tool works unchanged:
//!
//! - `POST /connector/<name>` → `{"socket": "<id>"}` (429 past
//!   `max-connections`, or past `max-connections-per-client` from one
//!   address; with a `token`, the `Authorization` header must carry it, as
//!   is or after `Bearer `);
//! - `GET /connector/<name>/<id>` upgrades to a websocket, within
//!   `connection-timeout` of the POST;
//! - client frames are `{"message": …, "user": …, "socket": …}` or plain
//!   text; the bot answers with plain text frames on the same socket.
//!
//! Each socket is a room of its own. Its messages are handled at once (a slow
//! skill delays no one), and its answers go out in the order its messages
//! came (`in_order`). What a client can cost is bounded by what it leaves
//! unread: frames over `max-frame` close the socket; a client that does not
//! take its answers (`max-queue` of them given to its socket and not taken,
//! or one not taken within `write-timeout`) is disconnected and its socket
//! freed at once, the writer included; a socket on which no message goes
//! either way for `idle-timeout` is closed. Answers held back to keep the
//! order are not unread (the client may be reading well); past four times
//! `max-queue` of them the socket is closed too. The user name a client
//! sends is only a display name: its stable id is the socket's id, or, with
//! `tokens`, the user its token maps to. With `page: true` (the default when
//! the server listens on loopback only) the web chat page is served at
//! `/chat` (`/chat/<name>` for an instance not named `websocket`).

use super::in_order::Conversations;
pub use super::websocket_settings::WebsocketSettings;
use super::{Closing, Connector, ConnectorSink, Context, Status, Web};
use crate::bus::Delivery;
use crate::event::{Event, Message as ChatMessage};
use crate::text::for_terminal;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// How often held answers are checked against `order-wait`.
const ORDER_CHECK: Duration = Duration::from_millis(250);

/// Answers held back behind an unfinished one, per `max-queue`, before
/// the socket is closed: they are not unread, but they are memory.
const HELD_PER_QUEUE: usize = 4;

/// How long a closing frame may take to go out to a client being
/// disconnected: its socket may be full.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
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
    /// Where its chat page is served, once `routes` has mounted it.
    page_at: Option<String>,
}

impl super::registry::Kind for Websocket {
    type Settings = WebsocketSettings;
    fn from_settings(settings: WebsocketSettings) -> Self {
        Websocket {
            settings,
            shared: None,
            page_at: None,
        }
    }
}

struct Shared {
    name: String,
    settings: WebsocketSettings,
    events: ConnectorSink,
    status: Status,
    sockets: Mutex<Sockets>,
    /// The bot's last moment: each socket holds it open until its answers
    /// are written and it is closed.
    closing: Closing,
    /// Cancelled once every answer taken from the outbox is in its
    /// socket's queue: the sockets write what they hold and close.
    handed_out: CancellationToken,
}

#[derive(Default)]
struct Sockets {
    /// Requested and not yet opened.
    waiting: HashMap<String, Waiting>,
    open: HashMap<String, Outbound>,
    order: Conversations<String, String>,
}

/// A socket requested: when, by whom, and the user a token named.
struct Waiting {
    at: Instant,
    client: IpAddr,
    user: Option<String>,
}

/// Where one socket's answers go.
#[derive(Clone)]
struct Outbound {
    queue: Queue,
    /// Told when the client is disconnected.
    kick: Arc<Kick>,
    client: IpAddr,
}

impl Sockets {
    fn count(&self) -> usize {
        self.waiting.len() + self.open.len()
    }

    fn count_from(&self, client: IpAddr) -> usize {
        let waiting = self.waiting.values().filter(|w| w.client == client);
        let open = self.open.values().filter(|o| o.client == client);
        waiting.count() + open.count()
    }
}

/// Answers on their way to one socket: given to its writer and not yet
/// taken by the client (`unread`).
#[derive(Clone)]
struct Queue {
    tx: mpsc::UnboundedSender<String>,
    unread: Arc<AtomicUsize>,
}

impl Queue {
    /// Queues `texts` unless `max` are already unread (then the count).
    /// A batch goes whole: answers released together were held back, not
    /// left unread.
    fn push(&self, texts: Vec<String>, max: usize) -> Result<(), usize> {
        let unread = self.unread.load(Ordering::Relaxed);
        if unread >= max {
            return Err(unread);
        }
        for text in texts {
            self.unread.fetch_add(1, Ordering::Relaxed);
            if self.tx.send(text).is_err() {
                self.unread.fetch_sub(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// A client disconnected by the bot, and why.
#[derive(Default)]
struct Kick {
    notify: Notify,
    reason: OnceLock<String>,
}

impl Kick {
    fn kick(&self, reason: String) {
        let _ = self.reason.set(reason);
        self.notify.notify_one();
    }

    fn reason(&self) -> Option<String> {
        self.reason.get().cloned()
    }
}

/// When a message last went either way on a socket.
struct Activity {
    born: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_at(&self, idle: Duration) -> Instant {
        self.born + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
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
            closing: web.closing.clone(),
            handed_out: CancellationToken::new(),
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
            self.page_at = Some(at);
        }
        Some(router.with_state(shared))
    }

    fn page(&self) -> Option<String> {
        self.page_at.clone()
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
    let _hold = cx.closing.hold();
    let mut check = tokio::time::interval(ORDER_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            delivery = cx.outbox.recv() => match delivery {
                Some(delivery) => vec![delivery_for(&shared, delivery)],
                None => return,
            },
            _ = check.tick() => overdue(&shared),
            // The bot is stopping and what its grace said is queued: each
            // socket gets its part, then writes it and closes.
            () = cx.closing.told() => {
                while let Ok(delivery) = cx.outbox.try_recv() {
                    if let Some((room, texts)) = delivery_for(&shared, delivery) {
                        send_to(&shared, room, texts);
                    }
                }
                shared.handed_out.cancel();
                return;
            }
        };
        for (room, texts) in due.into_iter().flatten() {
            send_to(&shared, room, texts);
        }
    }
}

/// A delivery from the outbox: the socket and what may go out to it now.
fn delivery_for(shared: &Shared, delivery: Delivery) -> Option<(String, Vec<String>)> {
    let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
    match delivery {
        Delivery::Response(r) => {
            let text = render(&r.body);
            let room = r.target.room;
            match sockets.order.answer(&room, r.in_reply_to, text) {
                Some(text) => Some((room, vec![text])),
                None => Some((room, Vec::new())),
            }
        }
        Delivery::Finished(id) => sockets.order.finished(id),
    }
}

/// The answers released from behind messages unfinished past `order-wait`.
fn overdue(shared: &Shared) -> Vec<Option<(String, Vec<String>)>> {
    let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
    let wait = shared.settings.order_wait.0;
    sockets
        .order
        .overdue(Instant::now(), wait, |asked| {
            for_terminal(&super::in_order::still_running(asked)).into_owned()
        })
        .into_iter()
        .map(Some)
        .collect()
}

/// Gives a socket what may go out to it, or disconnects a client that
/// does not take its answers.
fn send_to(shared: &Shared, room: String, texts: Vec<String>) {
    let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
    let Some(out) = sockets.open.get(&room).cloned() else {
        return;
    };
    let max_queue = shared.settings.max_queue;
    let held = sockets.order.held(&room);
    let why = if held > max_queue * HELD_PER_QUEUE {
        tracing::warn!(connector = %shared.name, socket = %room, "over {held} answers held back behind an unfinished one; disconnecting the client");
        Some(format!(
            "over {} answers held back behind a slow one",
            max_queue * HELD_PER_QUEUE
        ))
    } else if !texts.is_empty()
        && let Err(unread) = out.queue.push(texts, max_queue)
    {
        tracing::warn!(connector = %shared.name, socket = %room, "a client stopped reading; disconnecting it");
        Some(format!("too slow: {unread} answers were not taken"))
    } else {
        None
    };
    if let Some(why) = why {
        sockets.open.remove(&room);
        sockets.order.remove(&room);
        out.kick.kick(why);
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
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    Some(value.strip_prefix("Bearer ").unwrap_or(value).trim())
}

async fn new_socket(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let settings = &shared.settings;
    let user = match presented(&headers) {
        Some(t) if settings.tokens.contains_key(t) => Some(settings.tokens[t].clone()),
        Some(t) if settings.token.as_deref() == Some(t) => None,
        _ if settings.token.is_some() || !settings.tokens.is_empty() => {
            return refuse(
                StatusCode::FORBIDDEN,
                "a valid token is needed in the Authorization header",
            );
        }
        _ => None,
    };
    let id = socket_id();
    let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
    let timeout = settings.connection_timeout.0;
    sockets.waiting.retain(|_, w| w.at.elapsed() <= timeout);
    if sockets.count() >= settings.max_connections {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many connections (max-connections: {})",
                settings.max_connections
            ),
        );
    }
    let client = peer.ip().to_canonical();
    let per_client = settings.max_per_client();
    if sockets.count_from(client) >= per_client {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many connections from your address (max-connections-per-client: {per_client})"
            ),
        );
    }
    sockets.waiting.insert(
        id.clone(),
        Waiting {
            at: Instant::now(),
            client,
            user,
        },
    );
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
    let (client, user) = match waited {
        Some(w) if w.at.elapsed() <= shared.settings.connection_timeout.0 => (w.client, w.user),
        Some(_) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "that socket's connection timeout passed; POST for a new one",
            );
        }
        None => {
            return refuse(
                StatusCode::NOT_FOUND,
                "no such socket; POST to /connector/<name> for one",
            );
        }
    };
    let max = shared.settings.max_frame.0 as usize;
    upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |ws| serve_socket(shared, id, client, user, ws))
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

/// How a socket's service ended.
enum Ending {
    /// The client closed it, or the bot is stopping.
    Closed,
    /// The bot disconnected the client: why.
    Kicked(String),
    /// The client sent a frame over `max-frame` (close code 1009).
    TooBig,
    Idle,
    /// The bot is stopping; the socket's answers are written (1001).
    Stopping,
}

async fn serve_socket(
    shared: Arc<Shared>,
    id: String,
    client: IpAddr,
    token_user: Option<String>,
    ws: WebSocket,
) {
    // Held until the socket is closed, so a stopping bot waits for it.
    let _hold = shared.closing.hold();
    let (mut to_client, mut from_client) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let queue = Queue {
        tx,
        unread: Arc::default(),
    };
    let kick = Arc::new(Kick::default());
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.open.insert(
            id.clone(),
            Outbound {
                queue: queue.clone(),
                kick: kick.clone(),
                client,
            },
        );
        shared
            .status
            .set(format!("listening, {} sockets open", sockets.open.len()));
    }
    let activity = Activity::new();
    let settings = &shared.settings;
    // Reading, writing and the idle clock race: whichever ends first ends
    // the socket, and the others are dropped with it, so a writer stuck on
    // a client that does not read is never waited for.
    let ending = tokio::select! {
        e = write_answers(&shared, &id, &mut to_client, &mut rx, &queue, &kick, &activity) => e,
        e = read_messages(&shared, &id, token_user, &mut from_client, &queue, &activity) => e,
        () = idle(&activity, settings.idle_timeout.0) => Ending::Idle,
    };
    let ending = match kick.reason() {
        Some(why) => Ending::Kicked(why),
        None => ending,
    };
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.open.remove(&id);
        sockets.order.remove(&id);
        shared
            .status
            .set(format!("listening, {} sockets open", sockets.open.len()));
    }
    let (code, reason) = match ending {
        Ending::Closed => return,
        Ending::Kicked(why) => (1008, why),
        Ending::TooBig => (
            1009,
            format!("a frame over {} (max-frame)", settings.max_frame),
        ),
        Ending::Stopping => (1001, "the bot is stopping".to_owned()),
        Ending::Idle => {
            tracing::debug!(connector = %shared.name, socket = %id, "closing an idle socket");
            (
                1000,
                format!("idle for {} (idle-timeout)", settings.idle_timeout),
            )
        }
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(CLOSE_GRACE, to_client.send(close)).await;
}

/// Writes a socket's answers as they come, each within `write-timeout`.
async fn write_answers(
    shared: &Shared,
    id: &str,
    to_client: &mut SplitSink<WebSocket, Message>,
    rx: &mut mpsc::UnboundedReceiver<String>,
    queue: &Queue,
    kick: &Kick,
    activity: &Activity,
) -> Ending {
    let settings = &shared.settings;
    let within = settings.write_timeout.0;
    loop {
        let text = tokio::select! {
            biased;
            () = kick.notify.notified() => return Ending::Closed,
            text = rx.recv() => match text {
                Some(text) => text,
                None => return Ending::Closed,
            },
            // Only once nothing is queued: every answer goes out first.
            () = shared.handed_out.cancelled() => return Ending::Stopping,
        };
        let sent = tokio::select! {
            biased;
            () = kick.notify.notified() => return Ending::Closed,
            sent = tokio::time::timeout(within, to_client.send(Message::Text(text.into()))) => sent,
        };
        match sent {
            Ok(Ok(())) => {
                queue.unread.fetch_sub(1, Ordering::Relaxed);
                activity.touch();
            }
            Ok(Err(_)) => return Ending::Closed,
            Err(_) => {
                tracing::warn!(connector = %shared.name, socket = %id, "a client stopped reading; disconnecting it");
                return Ending::Kicked(format!(
                    "too slow: an answer was not taken within {} (write-timeout)",
                    settings.write_timeout
                ));
            }
        }
    }
}

/// A name a client may pick for itself: what the page's "as" field takes
/// (letters, digits, `.`, `_`, `-`; at most 32).
fn picked_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Who a client is: the user its token names; else the name it picked,
/// marked `~` as IRC marks an ident nobody checked (`websocket:~ada`): the
/// same across reconnects, but a claim, so it never matches an admin or a
/// permission written for a token's user; else its socket.
fn identity(token_user: Option<&str>, picked: Option<&str>, socket: &str) -> String {
    match (token_user, picked) {
        (Some(user), _) => user.to_owned(),
        (None, Some(name)) => format!("~{name}"),
        (None, None) => socket.to_owned(),
    }
}

/// Reads a client's frames and submits its messages.
async fn read_messages(
    shared: &Shared,
    id: &str,
    token_user: Option<String>,
    from_client: &mut SplitStream<WebSocket>,
    queue: &Queue,
    activity: &Activity,
) -> Ending {
    let max_queue = shared.settings.max_queue;
    // A notice to the client itself; one that does not take them is
    // disconnected like one that does not take its answers.
    let notice = |text: String| {
        queue.push(vec![text], max_queue).map_err(|unread| {
            tracing::warn!(connector = %shared.name, socket = %id, "a client stopped reading; disconnecting it");
            Ending::Kicked(format!("too slow: {unread} answers were not taken"))
        })
    };
    let mut n = 0u64;
    while let Some(frame) = from_client.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Binary(_)) => {
                activity.touch();
                if let Err(end) = notice("⚠ binary frames are not read here: send text, or JSON like {\"message\": \"hello\"}".into()) {
                    return end;
                }
                continue;
            }
            Ok(Message::Close(_)) => return Ending::Closed,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Err(e) => {
                let e = e.into_inner();
                if let Some(tokio_tungstenite::tungstenite::Error::Capacity(_)) = e.downcast_ref() {
                    tracing::info!(connector = %shared.name, socket = %id, "a frame over max-frame: closing the socket");
                    return Ending::TooBig;
                }
                tracing::debug!(connector = %shared.name, socket = %id, "the socket failed: {e}");
                return Ending::Closed;
            }
        };
        activity.touch();
        let (message, user) = if text.trim_start().starts_with('{') {
            match serde_json::from_str::<Frame>(&text) {
                Ok(frame) if frame.socket.as_deref().is_some_and(|s| s != id) => {
                    if let Err(end) =
                        notice(format!("⚠ this is socket {id}; that frame is for another"))
                    {
                        return end;
                    }
                    continue;
                }
                Ok(frame) => (frame.message, frame.user),
                Err(e) => {
                    if let Err(end) = notice(format!("⚠ that frame is not JSON the bot reads: {e}"))
                    {
                        return end;
                    }
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
        let picked = user.as_deref().filter(|u| picked_name(u));
        let user_id = identity(token_user.as_deref(), picked, id);
        let user = token_user
            .clone()
            .or(user)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "user".into());
        // `sandbot: hello` on a page or socket that is only the bot's anyway.
        let said = super::address::strip_name(message.trim(), &shared.settings.bot_name);
        let event = Event::Message(ChatMessage {
            id: format!("{id}-{n}"),
            text: said.to_owned(),
            user,
            user_id: user_id.clone(),
            room: id.to_owned(),
            connector: shared.name.clone(),
            thread: None,
            received_at: crate::event::now_ms(),
            addressed: true,
        });
        let event_id = shared.events.new_id();
        {
            let mut sockets = shared.sockets.lock().unwrap_or_else(|e| e.into_inner());
            if !sockets.open.contains_key(id) {
                return Ending::Closed; // disconnected: the kick says why
            }
            sockets
                .order
                .expect(&id.to_owned(), event_id, message.trim(), Instant::now());
        }
        if shared.events.submit_as(event_id, event).await.is_err() {
            return Ending::Closed;
        }
    }
    Ending::Closed
}

/// Resolves once nothing has gone either way for `idle`.
async fn idle(activity: &Activity, idle: Duration) {
    loop {
        let at = activity.idle_at(idle);
        if at <= Instant::now() {
            return;
        }
        tokio::time::sleep_until(at.into()).await;
    }
}

async fn page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    Html(
        PAGE.replace(
            "{{CONNECTOR}}",
            &escape(&format!("/connector/{}", shared.name)),
        )
        .replace("{{BOT}}", &escape(&shared.settings.bot_name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picked_name_is_a_marked_claim_and_a_token_wins() {
        assert_eq!(identity(None, Some("ada"), "s1"), "~ada");
        assert_eq!(identity(Some("alice"), Some("ada"), "s1"), "alice");
        assert_eq!(identity(None, None, "s1"), "s1");
        assert!(picked_name("ada.l-1_x"));
        for bad in ["", "ada lovelace", "~ada", "a:b", &"x".repeat(33)] {
            assert!(!picked_name(bad), "{bad}");
        }
    }
}
