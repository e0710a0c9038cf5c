//! Slack, over Socket Mode and the Web API: no public URL needed.
//!
//! In: `apps.connections.open` with the app-level token gives a websocket
//! URL; every envelope on it is acknowledged with its `envelope_id` at once,
//! before the bot looks inside. `disconnect` (Slack refreshing the link, or
//! warning it will) opens the next socket first and then lets the old one
//! go, so nothing falls between. `events_api` envelopes carry `message`
//! (channels the bot is in, and DMs), `app_mention` (the same message again
//! when it names the bot: each is handled once), `reaction_added` and
//! channel joins and leaves. The bot's `<@BOTID>` (or `<@BOTID|name>`)
//! mention is taken out of the text and Slack's markup read as text
//! ([`from_slack`]); its own messages, and other bots' unless `allow-bots`,
//! are not handled. A token Slack refuses ends the connector with one
//! error naming the field to fix; retrying would not help.
//!
//! Out: `chat.postMessage` (in the thread when the event was in one) and
//! `reactions.add` with the bot token, from a task of their own so answers
//! keep flowing while the socket reconnects. HTTP 429 is waited out for as
//! long as `Retry-After` says; `ok: false` is logged with Slack's error
//! code; an empty answer is not sent (Slack would say `no_text`). A
//! skill's text is escaped the way Slack asks (`&`, `<`, `>`), so it
//! cannot ping `<!channel>` or dress up a link.
//!
//! The client is the one a user points at slack.com; `api-url` exists so the
//! tests can point it at a local server that speaks the same JSON.

use super::backoff::Backoff;
use super::slack_text::{escape, escaped_weight, from_slack, starts_with_mention};
use super::split;
use super::{ConnectorSink, Context, Status};
use crate::bus::Delivery;
use crate::config::Secret;
use crate::limits::HumanDuration;
use crate::event::{Event, Membership, Message, Reaction, Response, ResponseBody, now_ms};
use anyhow::{Context as _, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlackSettings {
    /// The bot token (`xoxb-…`), for the Web API.
    pub bot_token: Secret,
    /// The app-level token (`xapp-…`) with `connections:write`, for Socket Mode.
    pub app_token: Secret,
    /// Where the Web API is [default: `https://slack.com/api/`].
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Handle messages other bots post (never the bot's own).
    #[serde(default)]
    pub allow_bots: bool,
    /// The most messages one answer becomes; past it, the first and a
    /// notice of where the whole answer is kept.
    #[serde(default = "default_max_parts")]
    pub max_parts: usize,
    /// How long an answer is retried while Slack cannot be reached before
    /// it is given up and its record says so.
    #[serde(default = "default_deliver_within")]
    pub deliver_within: HumanDuration,
}

fn default_max_parts() -> usize {
    10
}

fn default_deliver_within() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

fn default_api_url() -> String {
    "https://slack.com/api/".into()
}

/// Slack truncates a message past 40,000 characters, may answer
/// `msg_too_long` well before, and asks for 4,000 at most for people to
/// read: answers go out in messages of at most this many bytes once
/// escaped (bytes are never fewer than characters).
const MESSAGE_BYTES: usize = 3_500;
/// How many times one call waits out a rate limit before giving up.
const RATE_LIMIT_TRIES: u32 = 5;
/// Without a frame for this long, the socket is taken for dead.
const SILENCE: Duration = Duration::from_secs(75);
const PING_EVERY: Duration = Duration::from_secs(25);

settings_kind!(Slack, SlackSettings, |slack, cx| serve(slack.settings, cx));

/// What Slack says about a call that did not work.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// `ok: false`, with Slack's error code (`channel_not_found`, ...).
    #[error("Slack said `{0}`")]
    Slack(String),
    #[error("{0:#}")]
    Transport(anyhow::Error),
}

/// The Web API with one of the two tokens.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> anyhow::Result<Api> {
        let base = if base.ends_with('/') {
            base.to_owned()
        } else {
            format!("{base}/")
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("sandbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot make an HTTP client")?;
        Ok(Api { http, base })
    }

    /// One call: POST `method` with a JSON body, as Slack's Web API takes.
    async fn call(&self, method: &str, token: &Secret, body: &Value) -> Result<Value, ApiError> {
        let answer = self
            .http
            .post(format!("{}{method}", self.base))
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| ApiError::Transport(anyhow!("{method}: {e}")))?;
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let seconds = answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Err(ApiError::RateLimited(Duration::from_secs(seconds)));
        }
        let status = answer.status();
        if status.is_server_error() {
            // Slack having a bad moment: worth another try, unlike `ok: false`.
            return Err(ApiError::Transport(anyhow!("{method}: HTTP {status}")));
        }
        let value: Value = answer
            .json()
            .await
            .map_err(|e| ApiError::Transport(anyhow!("{method}: HTTP {status}, {e}")))?;
        if value["ok"].as_bool() == Some(true) {
            Ok(value)
        } else {
            let code = value["error"].as_str().unwrap_or("unknown error");
            Err(ApiError::Slack(code.to_owned()))
        }
    }

    /// A call that waits out rate limits (a few times) before it fails.
    async fn call_patiently(
        &self,
        connector: &str,
        method: &str,
        token: &Secret,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut tries = 0;
        loop {
            match self.call(method, token, body).await {
                Err(ApiError::RateLimited(wait)) if tries < RATE_LIMIT_TRIES => {
                    tries += 1;
                    tracing::warn!(connector, method, "Slack rate-limited the bot; retrying in {} s", wait.as_secs());
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}

/// Slack's answers that say a token will never work as it is: retrying
/// cannot help, the operator must change the configuration.
const REFUSED_TOKEN: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
];

impl ApiError {
    /// Slack refused the token itself (see [`REFUSED_TOKEN`]).
    fn refused_token(&self) -> Option<&str> {
        match self {
            ApiError::Slack(code) if REFUSED_TOKEN.contains(&code.as_str()) => Some(code),
            _ => None,
        }
    }
}

/// The connector's end when Slack refuses one of its tokens: one clear
/// error naming the field to fix (the bot stops this connector, logs it
/// once and shows it in `GET /`), not a retry forever.
fn token_refused(connector: &str, field: &str, code: &str) -> anyhow::Error {
    anyhow!(
        "Slack refused connectors.{connector}.{field} (`{code}`): the token is wrong, revoked or its app uninstalled; fix it in configuration.yaml and restart the bot"
    )
}

/// Who the bot is on Slack (`auth.test`).
#[derive(Debug, Clone)]
struct Me {
    user_id: String,
    bot_id: Option<String>,
}

async fn serve(settings: SlackSettings, cx: Context) -> anyhow::Result<()> {
    super::install_tls_provider();
    let Context {
        name,
        events,
        outbox,
        status,
        ..
    } = cx;
    let api = Arc::new(Api::new(&settings.api_url)?);
    let mut backoff = Backoff::default();
    // Who the bot is, before any event can be judged.
    let me = loop {
        match api
            .call_patiently(&name, "auth.test", &settings.bot_token, &json!({}))
            .await
        {
            Ok(v) => {
                break Me {
                    user_id: v["user_id"].as_str().unwrap_or_default().to_owned(),
                    bot_id: v["bot_id"].as_str().map(str::to_owned),
                };
            }
            Err(e) => {
                if let Some(code) = e.refused_token() {
                    return Err(token_refused(&name, "bot-token", code));
                }
                backoff
                    .wait_after(&name, &status, "Slack auth.test", &e.to_string())
                    .await;
            }
        }
    };
    backoff.reset();
    let sender = tokio::spawn(send_answers(
        Outbound {
            api: api.clone(),
            token: settings.bot_token.clone(),
            connector: name.clone(),
            max_parts: settings.max_parts,
            deliver_within: settings.deliver_within.0,
            events: events.clone(),
        },
        outbox,
    ));
    let mut listener = Listener {
        api,
        settings,
        name,
        events,
        status,
        me,
        seen: Seen::default(),
        names: HashMap::new(),
    };
    tokio::select! {
        // The outbox closed: the bot is stopping.
        _ = sender => Ok(()),
        ended = listener.listen(backoff) => ended,
    }
}

/// The receiving side: sockets, envelopes, events.
struct Listener {
    api: Arc<Api>,
    settings: SlackSettings,
    name: String,
    events: ConnectorSink,
    status: Status,
    me: Me,
    seen: Seen,
    /// Display names by user id, asked of `users.info` once each.
    names: HashMap<String, String>,
}

type Socket = tokio_tungstenite::WebSocketStream<
    tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
>;

impl Listener {
    /// Keeps a socket open for as long as the bot runs, or until Slack
    /// refuses the app token.
    async fn listen(&mut self, mut backoff: Backoff) -> anyhow::Result<()> {
        loop {
            let ended = match self.open().await {
                Ok(socket) => {
                    backoff.reset();
                    self.status.set("connected (Socket Mode)");
                    tracing::info!(connector = %self.name, "connected to Slack (Socket Mode)");
                    self.talk(socket).await
                }
                Err(e) => Err(e),
            };
            match ended {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if let Some(ApiError::Slack(code)) = e.downcast_ref::<ApiError>()
                        && REFUSED_TOKEN.contains(&code.as_str())
                    {
                        return Err(token_refused(&self.name, "app-token", code));
                    }
                    backoff
                        .wait_after(&self.name, &self.status, "Slack socket", &format!("{e:#}"))
                        .await;
                }
            }
        }
    }

    /// A new socket, open once Slack has said `hello` on it.
    async fn open(&self) -> anyhow::Result<Socket> {
        let answer = self
            .api
            .call_patiently(
                &self.name,
                "apps.connections.open",
                &self.settings.app_token,
                &json!({}),
            )
            .await
            .map_err(|e| anyhow::Error::new(e).context("apps.connections.open"))?;
        let url = answer["url"]
            .as_str()
            .context("apps.connections.open gave no url")?;
        let (mut socket, _) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .map_err(|_| anyhow!("the Socket Mode websocket did not open in 30 s"))?
        .context("cannot open the Socket Mode websocket")?;
        let hello = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(frame) = socket.next().await {
                if let WsMessage::Text(text) = frame? {
                    let v: Value = serde_json::from_str(&text).unwrap_or_default();
                    if v["type"] == "hello" {
                        return Ok(());
                    }
                }
            }
            bail!("the socket closed before Slack said hello")
        });
        hello
            .await
            .map_err(|_| anyhow!("Slack did not say hello in 30 s"))??;
        Ok(socket)
    }

    /// Reads envelopes until the socket dies (an error) or the bot stops
    /// (`Ok`). A `disconnect` swaps in a new socket first.
    async fn talk(&mut self, mut socket: Socket) -> anyhow::Result<()> {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout(SILENCE, socket.next()) => frame,
                _ = ping.tick() => {
                    socket.send(WsMessage::Ping(Default::default())).await.context("cannot ping")?;
                    continue;
                }
            };
            let frame = match frame {
                Err(_) => bail!("no word from Slack in {} s", SILENCE.as_secs()),
                Ok(None) => bail!("the socket closed"),
                Ok(Some(frame)) => frame.context("the socket failed")?,
            };
            let text = match frame {
                WsMessage::Text(text) => text,
                WsMessage::Close(close) => bail!(
                    "Slack closed the socket{}",
                    close.map(|c| format!(": {}", c.reason)).unwrap_or_default()
                ),
                _ => continue,
            };
            let envelope: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(connector = %self.name, "Slack sent something that is not JSON: {e}");
                    continue;
                }
            };
            // Acknowledge first: Slack resends what is not acknowledged
            // within 3 s, whatever the bot then does with it.
            if let Some(id) = envelope["envelope_id"].as_str() {
                let ack = json!({ "envelope_id": id }).to_string();
                socket
                    .send(WsMessage::text(ack))
                    .await
                    .context("cannot acknowledge an envelope")?;
            }
            match envelope["type"].as_str().unwrap_or_default() {
                "events_api" => {
                    let event = &envelope["payload"]["event"];
                    if let Some(event) = self.event(event).await
                        && self.events.submit(event).await.is_err()
                    {
                        return Ok(());
                    }
                }
                "disconnect" => {
                    let reason = envelope["reason"].as_str().unwrap_or("no reason");
                    tracing::info!(connector = %self.name, reason, "Slack asked for a new socket; opening it before the old one closes");
                    let next = self.open().await?;
                    let _ = socket.close(None).await;
                    socket = next;
                }
                "hello" => {}
                other => tracing::debug!(connector = %self.name, kind = other, "an envelope the bot does not handle"),
            }
        }
    }

    /// The bot's event for a Slack event, if it is one the bot handles.
    async fn event(&mut self, e: &Value) -> Option<Event> {
        let kind = e["type"].as_str()?;
        let user_id = e["user"].as_str().unwrap_or_default().to_owned();
        if user_id == self.me.user_id {
            return None;
        }
        match kind {
            "message" | "app_mention" => {
                // Edits, deletions, joins... come as subtypes; a reply
                // also sent to the channel is still a message.
                let subtype = e["subtype"].as_str();
                if subtype.is_some_and(|s| {
                    !matches!(s, "thread_broadcast" | "file_share" | "me_message" | "bot_message")
                }) {
                    return None;
                }
                let from_bot = e["bot_id"].is_string() || subtype == Some("bot_message");
                if from_bot
                    && (!self.settings.allow_bots
                        || e["bot_id"].as_str() == self.me.bot_id.as_deref())
                {
                    return None;
                }
                let channel = e["channel"].as_str()?.to_owned();
                let ts = e["ts"].as_str()?.to_owned();
                if !self.seen.first_time(&channel, &ts) {
                    return None;
                }
                let raw = e["text"].as_str().unwrap_or_default();
                let mentioned = starts_with_mention(raw, &self.me.user_id);
                // A direct message is always for the bot.
                let direct = e["channel_type"] == "im" || channel.starts_with('D');
                let text = from_slack(raw, &self.me.user_id);
                if text.is_empty() {
                    return None;
                }
                let user_id = if user_id.is_empty() {
                    e["bot_id"].as_str().unwrap_or_default().to_owned()
                } else {
                    user_id
                };
                Some(Event::Message(Message {
                    id: ts,
                    text,
                    user: self.display_name(&user_id).await,
                    user_id,
                    room: channel,
                    connector: String::new(),
                    thread: e["thread_ts"].as_str().map(str::to_owned),
                    received_at: now_ms(),
                    addressed: direct || mentioned || kind == "app_mention",
                }))
            }
            "reaction_added" => {
                let item = &e["item"];
                if item["type"] != "message" {
                    return None;
                }
                Some(Event::Reaction(Reaction {
                    emoji: e["reaction"].as_str()?.to_owned(),
                    message_id: item["ts"].as_str()?.to_owned(),
                    user: self.display_name(&user_id).await,
                    user_id,
                    room: item["channel"].as_str()?.to_owned(),
                    connector: String::new(),
                    received_at: now_ms(),
                }))
            }
            "member_joined_channel" | "member_left_channel" => {
                let m = Membership {
                    user: self.display_name(&user_id).await,
                    user_id,
                    room: e["channel"].as_str()?.to_owned(),
                    connector: String::new(),
                    received_at: now_ms(),
                };
                Some(if kind == "member_joined_channel" {
                    Event::Join(m)
                } else {
                    Event::Leave(m)
                })
            }
            _ => None,
        }
    }

    /// A user's display name, asked of Slack once (the id when it will not say).
    async fn display_name(&mut self, user_id: &str) -> String {
        if let Some(name) = self.names.get(user_id) {
            return name.clone();
        }
        let asked = self
            .api
            .call("users.info", &self.settings.bot_token, &json!({ "user": user_id }))
            .await;
        let name = match asked {
            Ok(v) => {
                let u = &v["user"];
                [
                    &u["profile"]["display_name"],
                    &u["profile"]["real_name"],
                    &u["real_name"],
                    &u["name"],
                ]
                .into_iter()
                .filter_map(|n| n.as_str())
                .find(|n| !n.is_empty())
                .unwrap_or(user_id)
                .to_owned()
            }
            Err(e) => {
                tracing::debug!(connector = %self.name, "users.info for {user_id}: {e}");
                user_id.to_owned()
            }
        };
        if self.names.len() > 10_000 {
            self.names.clear();
        }
        self.names.insert(user_id.to_owned(), name.clone());
        name
    }
}

/// Events seen lately, by channel and timestamp: Slack sends a message that
/// names the bot twice (`message` and `app_mention`), and resends what it
/// thinks was not acknowledged.
#[derive(Default)]
struct Seen {
    order: VecDeque<(String, String)>,
    set: HashSet<(String, String)>,
}

impl Seen {
    const KEEP: usize = 1024;

    fn first_time(&mut self, channel: &str, ts: &str) -> bool {
        let key = (channel.to_owned(), ts.to_owned());
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > Self::KEEP
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// Slack names reactions (`thumbsup`); skills often give the character.
fn reaction_name(emoji: &str) -> String {
    let name = match emoji.trim_end_matches('\u{fe0f}') {
        "👍" => "+1",
        "👎" => "-1",
        "❤" => "heart",
        "✅" => "white_check_mark",
        "❌" => "x",
        "👀" => "eyes",
        "🎉" => "tada",
        "🚀" => "rocket",
        "🔥" => "fire",
        "👋" => "wave",
        "🙏" => "pray",
        "😄" => "smile",
        "😂" => "joy",
        "⚠" => "warning",
        "💃" => "dancer",
        "🤖" => "robot_face",
        other => other,
    };
    name.trim_matches(':').to_owned()
}

/// What the sending task works with.
struct Outbound {
    api: Arc<Api>,
    token: Secret,
    connector: String,
    max_parts: usize,
    /// How long an answer is retried while Slack cannot be reached.
    deliver_within: Duration,
    /// Where an answer given up on is reported, for its record.
    events: ConnectorSink,
}

/// Sends answers in order until the outbox closes. A message Slack cannot
/// be reached for (refused connection, 5xx) is retried with backoff for up
/// to `deliver-within`; one Slack refuses (`channel_not_found`, ...) or
/// given up on is logged once and reported, so its execution's record
/// does not say it reached the room.
async fn send_answers(out: Outbound, mut outbox: mpsc::Receiver<Delivery>) {
    while let Some(delivery) = outbox.recv().await {
        let Delivery::Response(response) = delivery else {
            continue;
        };
        for (method, body) in calls(&response, out.max_parts) {
            let Err(why) = out.deliver(method, &body).await else {
                continue;
            };
            tracing::warn!(connector = %out.connector, method, channel = %response.target.room, "Slack did not take an answer: {why}");
            if method == "chat.postMessage" {
                if let Some(id) = response.in_reply_to {
                    out.events.undelivered(id, why).await;
                }
                break;
            }
        }
    }
}

impl Outbound {
    async fn deliver(&self, method: &str, body: &Value) -> Result<(), String> {
        let started = std::time::Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            match self
                .api
                .call_patiently(&self.connector, method, &self.token, body)
                .await
            {
                Ok(_) => {
                    if backoff.attempt() > 0 {
                        tracing::info!(connector = %self.connector, method, tries = backoff.attempt() + 1, "an answer went out once Slack could be reached");
                    }
                    return Ok(());
                }
                Err(ApiError::Transport(e)) => {
                    let wait = backoff.fail();
                    if started.elapsed() + wait > self.deliver_within {
                        return Err(format!(
                            "Slack could not be reached within {:?} (deliver-within): {e:#}",
                            self.deliver_within
                        ));
                    }
                    if backoff.attempt() == 1 {
                        tracing::warn!(connector = %self.connector, method, "cannot reach Slack to send an answer yet: {e:#}; retrying for up to {:?} (deliver-within)", self.deliver_within);
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// The Web API calls that deliver one answer: a long text as several
/// messages, by the rules every connector follows (`split`).
fn calls(response: &Response, max_parts: usize) -> Vec<(&'static str, Value)> {
    let target = &response.target;
    match &response.body {
        // Slack refuses an empty message (`no_text`): there is nothing to say.
        ResponseBody::Text(text) if text.trim().is_empty() => Vec::new(),
        ResponseBody::Text(text) => {
            split::for_chat(text, MESSAGE_BYTES, max_parts, escaped_weight, response.in_reply_to)
                .into_iter()
                .map(|piece| {
                    let mut body = json!({ "channel": target.room, "text": escape(&piece) });
                    if let Some(thread) = &target.thread {
                        body["thread_ts"] = json!(thread);
                    }
                    ("chat.postMessage", body)
                })
                .collect()
        }
        ResponseBody::Reaction { message_id, emoji } => vec![(
            "reactions.add",
            json!({ "channel": target.room, "timestamp": message_id, "name": reaction_name(emoji) }),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Target;

    #[test]
    fn a_skill_cannot_ping_the_channel_and_threads_are_kept() {
        let response = Response {
            target: Target {
                connector: "slack".into(),
                room: "C1".into(),
                thread: Some("1.2".into()),
            },
            body: ResponseBody::Text("<!channel> a & b".into()),
            in_reply_to: None,
        };
        let calls = calls(&response, 10);
        assert_eq!(calls[0].0, "chat.postMessage");
        assert_eq!(calls[0].1["text"], "&lt;!channel&gt; a &amp; b");
        assert_eq!(calls[0].1["thread_ts"], "1.2");
        assert_eq!(reaction_name("👍"), "+1");
        assert_eq!(reaction_name(":eyes:"), "eyes");
    }

    #[test]
    fn each_message_is_handled_once() {
        let mut seen = Seen::default();
        assert!(seen.first_time("C1", "1.1"));
        assert!(!seen.first_time("C1", "1.1"));
        assert!(seen.first_time("C2", "1.1"));
        for n in 0..2000 {
            seen.first_time("C3", &n.to_string());
        }
        assert!(seen.set.len() <= Seen::KEEP + 1);
    }

    #[test]
    fn the_http_client_builds_with_both_tls_providers_present() {
        crate::connectors::install_tls_provider();
        Api::new("https://slack.com/api").unwrap();
    }
}
