//! IRC (RFC 2812 / 1459) on tokio, over TCP or TLS (rustls): registration
//! (PASS, NICK, USER, another nick while one is taken), PING/PONG both ways
//! (a server silent for 90 s is dialed again), joining the configured
//! channels, CTCP VERSION and PING, and pacing what it sends (a burst, then
//! one line at a time, so servers do not kick the bot for flooding). Lines
//! are read through [`LineReader`]: bytes that are not UTF-8 (Latin-1 from
//! an old client) become U+FFFD and never end the connection. On top: which
//! channel talk is for the bot (`sandbot: deploy …` or a prefix such as
//! `!deploy …`; private messages always are), answers cut into lines that
//! fit IRC's 512 bytes without breaking a character, answers only ever to
//! one channel or nick, and reconnecting with backoff when the server goes
//! away. The wire format is `irc_wire.rs`.
//!
//! A user's stable id is their whole `nick!user@host` (configure admins as
//! `irc:alice!~alice@host.example`, globs allowed): a nick alone is taken by
//! whoever connects first, so it never grants anything.

use super::backoff::Backoff;
use super::split::split_to_fit;
use super::irc_wire::{self as wire, Message, Source};
use super::{Context, LineReader, render};
use crate::bus::Delivery;
use crate::config::Secret;
use crate::event::{Event, Membership, Message as ChatMessage, Response, now_ms};
use crate::limits::HumanDuration;
use anyhow::Context as _;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader, WriteHalf};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IrcSettings {
    /// The server's host name or address.
    pub server: String,
    /// 6697 with `tls`, else 6667.
    pub port: Option<u16>,
    /// TLS (rustls, trusting the Mozilla roots and the system's).
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of certificates to trust besides those: a private
    /// network's own CA, or a self-signed server. An absolute path.
    pub ca_file: Option<std::path::PathBuf>,
    pub nick: String,
    /// Nicks to try when `nick` is taken [default: `nick_`, `nick__`, `nick___`].
    #[serde(default)]
    pub alt_nicks: Vec<String>,
    /// The user name (the part after `!`) [default: the nick].
    pub username: Option<String>,
    pub realname: Option<String>,
    /// The server password (PASS), if the server wants one.
    pub password: Option<Secret>,
    /// Channels to join, `#ops` or `#ops key`.
    #[serde(default)]
    pub channels: Vec<String>,
    /// In a channel, a message beginning with this is for the bot, as is
    /// one beginning with its nick (`sandbot: …`, `sandbot, …`).
    pub prefix: Option<String>,
    /// Also pass on channel talk that is not addressed to the bot, for
    /// matchers that hear ambient talk [default: false: busy channels stay
    /// quiet, and only what is said to the bot reaches the skills].
    #[serde(default)]
    pub hear: bool,
    /// Lines sent at once before the rest are paced [default: 5].
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// After a burst, one line per this long [default: 2s]. With the
    /// burst, RFC 1459's flood rule (§8.10), which servers still enforce.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// The most lines one answer may take; longer answers are cut with a note.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
}

fn default_burst() -> u32 {
    5
}
fn default_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}
fn default_max_lines() -> usize {
    20
}

/// Lines waiting to be paced out before the outbox is read again: a skill
/// that answers faster than IRC may carry waits for the queue, it does not
/// grow it.
const QUEUE_LINES: usize = 256;

/// IRC's limit on a line, CR LF included (RFC 2812 §2.3).
const LINE_LIMIT: usize = 512;
/// The longest host name a server may show for the bot (RFC 2812 §2.3.1).
const HOST_ALLOWANCE: usize = 63;

settings_kind!(Irc, IrcSettings, |irc, cx| irc.serve(cx));

/// Why a connection ended.
enum Ended {
    /// The bot is stopping: its outbox closed.
    Stopping,
    Lost(anyhow::Error),
}

/// How long the server may stay silent before the bot asks it for a PONG,
/// and how long it then has to answer: a server gone without closing the
/// connection is noticed within their sum (90 s).
const PING_AFTER: Duration = Duration::from_secs(60);
const PONG_WITHIN: Duration = Duration::from_secs(30);
/// Dialing (TCP and TLS), and then being welcomed, each within this.
const CONNECT_WITHIN: Duration = Duration::from_secs(30);
/// A line the server does not take within this means the connection is
/// stuck: it is dropped and dialed again.
const WRITE_WITHIN: Duration = Duration::from_secs(30);
/// The longest line read: 512 bytes and IRCv3's 8,191 bytes of tags. A
/// longer one is a broken or hostile server; it is skipped.
const READ_LIMIT: usize = 8191 + 512;

/// Either side of a connection: plain TCP or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// One registered connection: the messages in, the lines out, who the bot is.
struct Connection {
    /// Messages read by `reader`, or the error that ended it.
    incoming: mpsc::Receiver<anyhow::Result<Message>>,
    /// Reads lines in a task of its own: a line read half-way when another
    /// branch of the connection's `select!` wins would otherwise be lost.
    /// Stopped when the connection is dropped.
    _reader: tokio_util::task::AbortOnDropHandle<()>,
    out: WriteHalf<Box<dyn Stream>>,
    /// The nick the server knows the bot by.
    nick: String,
    /// When the server last said anything.
    heard: Instant,
    /// When the bot asked for a PONG, if it is waiting for one.
    pinged: Option<Instant>,
}


impl Connection {
    fn new(stream: Box<dyn Stream>, nick: &str) -> Connection {
        let (read, out) = tokio::io::split(stream);
        let (tx, incoming) = mpsc::channel(64);
        let reader = tokio::spawn(async move {
            let mut lines = LineReader::new(BufReader::new(read), READ_LIMIT);
            loop {
                let message = match lines.next_line().await {
                    Err(e) => Err(anyhow::Error::new(e).context("connection lost")),
                    Ok(None) => Err(anyhow::anyhow!("the server closed the connection")),
                    Ok(Some(line)) if line.cut > 0 => {
                        tracing::debug!("an IRC line over {READ_LIMIT} bytes, skipped");
                        continue;
                    }
                    Ok(Some(line)) => match Message::parse(&line.text) {
                        Some(message) => Ok(message),
                        None => continue,
                    },
                };
                let last = message.is_err();
                if tx.send(message).await.is_err() || last {
                    return;
                }
            }
        });
        Connection {
            incoming,
            _reader: tokio_util::task::AbortOnDropHandle::new(reader),
            out,
            nick: nick.to_owned(),
            heard: Instant::now(),
            pinged: None,
        }
    }

    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        tokio::time::timeout(WRITE_WITHIN, self.out.write_all(line.as_bytes()))
            .await
            .map_err(|_| anyhow::anyhow!("the server took no line for {}s", WRITE_WITHIN.as_secs()))?
            .context("cannot send")
    }

    /// The next message, or why the connection is over. Cancel-safe.
    async fn next(&mut self) -> anyhow::Result<Message> {
        let message = self
            .incoming
            .recv()
            .await
            .unwrap_or_else(|| Err(anyhow::anyhow!("the connection's reader stopped")))?;
        self.heard = Instant::now();
        self.pinged = None;
        Ok(message)
    }
}

impl Irc {
    async fn serve(self, mut cx: Context) -> anyhow::Result<()> {
        super::install_tls_provider();
        let address = format!("{}:{}", self.settings.server, self.port());
        let mut backoff = Backoff::default();
        loop {
            cx.status.set(format!("connecting to {address}"));
            let mut connected = false;
            match self.connect_and_talk(&mut cx, &mut connected).await {
                Ended::Stopping => return Ok(()),
                Ended::Lost(e) => {
                    if connected {
                        backoff.reset();
                    }
                    let what = format!("IRC {address}");
                    backoff
                        .wait_after(&cx.name, &cx.status, &what, &format!("{e:#}"))
                        .await;
                }
            }
        }
    }

    fn port(&self) -> u16 {
        self.settings
            .port
            .unwrap_or(if self.settings.tls { 6697 } else { 6667 })
    }

    /// The nicks to try, in order.
    fn nicks(&self) -> Vec<String> {
        let s = &self.settings;
        let mut nicks = vec![s.nick.clone()];
        if s.alt_nicks.is_empty() {
            nicks.extend((1..=3).map(|n| format!("{}{}", s.nick, "_".repeat(n))));
        } else {
            nicks.extend(s.alt_nicks.iter().cloned());
        }
        nicks
    }

    /// TCP, then TLS when configured, trusting the Mozilla roots, the
    /// system's and `ca-file`.
    async fn dial(&self) -> anyhow::Result<Box<dyn Stream>> {
        let address = (self.settings.server.as_str(), self.port());
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .context("cannot connect")?;
        let _ = tcp.set_nodelay(true);
        if !self.settings.tls {
            return Ok(Box::new(tcp));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &self.settings.ca_file {
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
                .with_context(|| format!("ca-file {}", path.display()))?
            {
                let cert = cert.with_context(|| format!("ca-file {}", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("ca-file {}", path.display()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(self.settings.server.clone())
            .context("the server's name for TLS")?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        Ok(Box::new(tls))
    }

    /// Dials and registers (PASS, NICK, USER; another nick while the
    /// server says one is taken) until the server's welcome, then joins
    /// the configured channels.
    async fn register(&self) -> anyhow::Result<Connection> {
        let stream = tokio::time::timeout(CONNECT_WITHIN, self.dial())
            .await
            .map_err(|_| anyhow::anyhow!("cannot connect: timed out"))??;
        let mut conn = Connection::new(stream, &self.settings.nick);
        let s = &self.settings;
        if let Some(password) = &s.password {
            conn.send(&wire::line("PASS", &[password.expose()])).await?;
        }
        let nicks = self.nicks();
        let mut tried = 0;
        conn.send(&wire::line("NICK", &[&nicks[0]])).await?;
        let username = s.username.as_deref().unwrap_or(&s.nick);
        let realname = s.realname.as_deref().unwrap_or("sandbot, a ChatOps bot");
        conn.send(&wire::line("USER", &[username, "0", "*", realname])).await?;
        let welcome = async {
            loop {
                let m = conn.next().await?;
                match m.command.as_str() {
                    "PING" => conn.send(&wire::line("PONG", &[m.param(0)])).await?,
                    // Welcome: the first parameter is the nick it took.
                    "001" => {
                        conn.nick = m.param(0).to_owned();
                        return Ok(());
                    }
                    // In use, erroneous, or held by nick-delay.
                    "433" | "432" | "436" | "437" => {
                        tried += 1;
                        let Some(next) = nicks.get(tried) else {
                            anyhow::bail!("cannot register: every nick is taken ({})", nicks.join(", "));
                        };
                        conn.send(&wire::line("NICK", &[next])).await?;
                    }
                    "ERROR" => anyhow::bail!("the server refused: {}", m.param(0)),
                    // A wrong server password.
                    "464" => anyhow::bail!("the server refused the password: {}", m.param(1)),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(CONNECT_WITHIN, welcome)
            .await
            .map_err(|_| anyhow::anyhow!("cannot register: no welcome within {}s", CONNECT_WITHIN.as_secs()))??;
        for channel in &s.channels {
            let (name, key) = channel.split_once(' ').unwrap_or((channel, ""));
            let join = if key.is_empty() {
                wire::line("JOIN", &[name])
            } else {
                wire::line("JOIN", &[name, key.trim()])
            };
            conn.send(&join).await?;
        }
        Ok(conn)
    }

    /// One connection, from dialing until it is lost or the bot stops.
    /// `connected` turns true once the server has welcomed the bot.
    async fn connect_and_talk(&self, cx: &mut Context, connected: &mut bool) -> Ended {
        let mut conn = match self.register().await {
            Ok(conn) => conn,
            Err(e) => return Ended::Lost(e),
        };
        *connected = true;
        tracing::info!(connector = %cx.name, "connected to {} as {}", self.settings.server, conn.nick);
        cx.status.set(format!(
            "connected to {}:{} as {}",
            self.settings.server,
            self.port(),
            conn.nick
        ));
        let mut seen = 0u64;
        let mut queue = SendQueue::new(self.settings.burst, self.settings.interval.0);
        loop {
            let next_line = queue.ready_at();
            // Silent for PING_AFTER: ask; no answer within PONG_WITHIN: gone.
            let keepalive = match conn.pinged {
                Some(at) => at + PONG_WITHIN,
                None => conn.heard + PING_AFTER,
            };
            let step: anyhow::Result<bool> = tokio::select! {
                message = conn.next() => match message {
                    Ok(message) => self.on_message(cx, &mut conn, message, &mut seen).await,
                    Err(e) => Err(e),
                },
                delivery = cx.outbox.recv(), if queue.len() < QUEUE_LINES => match delivery {
                    None => {
                        let quit = wire::line("QUIT", &["stopping"]);
                        let _ = tokio::time::timeout(Duration::from_secs(2), conn.send(&quit)).await;
                        return Ended::Stopping;
                    }
                    Some(Delivery::Finished(_)) => Ok(true),
                    Some(Delivery::Response(response)) => {
                        self.queue(&conn.nick, &response, &mut queue);
                        queue.flush(&mut conn).await.map(|()| true)
                    }
                },
                () = sleep_until(next_line) => queue.flush(&mut conn).await.map(|()| true),
                () = tokio::time::sleep_until(keepalive.into()) => {
                    if conn.pinged.is_some() {
                        Err(anyhow::anyhow!(
                            "the server has been silent for {}s",
                            (PING_AFTER + PONG_WITHIN).as_secs()
                        ))
                    } else {
                        conn.pinged = Some(Instant::now());
                        conn.send(&wire::line("PING", &["sandbot"])).await.map(|()| true)
                    }
                }
            };
            match step {
                Ok(true) => {}
                Ok(false) => return Ended::Stopping,
                Err(e) => return Ended::Lost(e),
            }
        }
    }

    /// Handles one message from the server: keeps the connection alive,
    /// follows the bot's nick, answers CTCP queries and submits events.
    /// `Ok(false)` when the bot is stopping.
    async fn on_message(
        &self,
        cx: &mut Context,
        conn: &mut Connection,
        message: Message,
        seen: &mut u64,
    ) -> anyhow::Result<bool> {
        match message.command.as_str() {
            "PING" => {
                conn.send(&wire::line("PONG", &[message.param(0)])).await?;
                return Ok(true);
            }
            "ERROR" => anyhow::bail!("the server closed the connection: {}", message.param(0)),
            "NICK" => {
                if let Some(Source::User { nick, .. }) = &message.source
                    && nick.eq_ignore_ascii_case(&conn.nick)
                {
                    conn.nick = message.param(0).to_owned();
                    cx.status.set(format!(
                        "connected to {}:{} as {}",
                        self.settings.server,
                        self.port(),
                        conn.nick
                    ));
                }
                return Ok(true);
            }
            "PRIVMSG" => {
                if let (Some((query, arg)), Some(Source::User { nick, .. })) =
                    (wire::ctcp(message.param(1)), &message.source)
                {
                    let reply = match query {
                        "VERSION" => Some(format!("VERSION sandbot {}", env!("CARGO_PKG_VERSION"))),
                        "PING" => Some(format!("PING {arg}")),
                        _ => None,
                    };
                    if let Some(reply) = reply
                        && wire::is_single_target(nick)
                    {
                        conn.send(&wire::line("NOTICE", &[nick, &format!("\u{1}{reply}\u{1}")]))
                            .await?;
                    }
                    return Ok(true);
                }
            }
            _ => {}
        }
        if let Some(event) = self.event(&conn.nick, &message, seen)
            && cx.events.submit(event).await.is_err()
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// The event an IRC message is for the bot, if any.
    fn event(&self, me: &str, message: &Message, seen: &mut u64) -> Option<Event> {
        let Some(Source::User { nick, user, host }) = &message.source else {
            return None;
        };
        if nick.eq_ignore_ascii_case(me) {
            return None;
        }
        let user_id = format!("{nick}!{user}@{host}");
        let member = |room: &str| Membership {
            user: nick.clone(),
            user_id: user_id.clone(),
            room: room.to_owned(),
            connector: String::new(),
            received_at: now_ms(),
        };
        match message.command.as_str() {
            "PRIVMSG" => {
                let (target, text) = (message.param(0), message.param(1));
                // CTCP (ACTION, ...) is not talk to the bot.
                if text.starts_with('\u{1}') {
                    return None;
                }
                let (room, text, to_bot) = if wire::is_channel(target) {
                    match addressed(text, me, self.settings.prefix.as_deref()) {
                        Some(text) => (target.to_owned(), text, true),
                        None if self.settings.hear => (target.to_owned(), text.trim(), false),
                        None => return None,
                    }
                } else {
                    (nick.clone(), text.trim(), true)
                };
                if text.is_empty() {
                    return None;
                }
                *seen += 1;
                Some(Event::Message(ChatMessage {
                    id: format!("irc-{seen}"),
                    text: text.to_owned(),
                    user: nick.clone(),
                    user_id,
                    room,
                    connector: String::new(),
                    thread: None,
                    received_at: now_ms(),
                    addressed: to_bot,
                }))
            }
            "JOIN" => Some(Event::Join(member(message.param(0)))),
            "PART" => Some(Event::Leave(member(message.param(0)))),
            _ => None,
        }
    }

    /// Queues one answer as PRIVMSG lines that each fit in 512 bytes. An
    /// answer to anything but one channel or one nick (a list such as
    /// `#ops,watcher`, a server mask, a service address) is dropped: IRC
    /// would deliver it to every name in it.
    fn queue(&self, me: &str, response: &Response, queue: &mut SendQueue) {
        let room = &response.target.room;
        if !wire::is_single_target(room) {
            tracing::warn!(
                room = %crate::text::for_log(room),
                "an answer to an IRC target that is not one channel or nick, dropped"
            );
            return;
        }
        let username = self.settings.username.as_deref().unwrap_or(&self.settings.nick);
        // What the server puts before the text when it relays the line:
        // `:nick!user@host PRIVMSG room :` and the closing CR LF.
        let overhead = 1 + me.len() + 1 + username.len() + 1 + HOST_ALLOWANCE
            + " PRIVMSG ".len() + room.len() + " :".len() + 2;
        let budget = LINE_LIMIT.saturating_sub(overhead).max(16);
        let mut lines: Vec<String> = render::lines(&response.body, "")
            .iter()
            .flat_map(|line| split_to_fit(line, budget))
            .map(str::to_owned)
            .collect();
        let max = self.settings.max_lines.max(1);
        if lines.len() > max {
            let cut = lines.len() - (max - 1);
            lines.truncate(max - 1);
            // Where the whole answer is: its execution's record (`split`).
            let whole = match response.in_reply_to {
                Some(id) => format!("; the whole answer is in history, event {id}"),
                None => String::new(),
            };
            lines.push(format!("… ({cut} more lines not shown{whole})"));
        }
        for line in lines {
            // An empty trailing parameter is not a message.
            let line = if line.is_empty() { " ".to_owned() } else { line };
            queue.lines.push_back((room.clone(), line));
        }
    }
}

/// Waits until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => futures::future::pending().await,
    }
}

/// Lines on their way out, paced by a token bucket: `burst` at once, then
/// one per `interval`.
struct SendQueue {
    lines: VecDeque<(String, String)>,
    burst: f64,
    interval: Duration,
    tokens: f64,
    last: Instant,
}

impl SendQueue {
    fn new(burst: u32, interval: Duration) -> SendQueue {
        let burst = f64::from(burst.max(1));
        SendQueue {
            lines: VecDeque::new(),
            burst,
            interval: interval.max(Duration::from_millis(1)),
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
    }

    /// Takes a line's token if one is there.
    fn take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next waiting line may go, if one is waiting.
    fn ready_at(&self) -> Option<Instant> {
        if self.lines.is_empty() {
            return None;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        Some(self.last + self.interval.mul_f64(missing))
    }

    /// Sends what the bucket allows now.
    async fn flush(&mut self, conn: &mut Connection) -> anyhow::Result<()> {
        while !self.lines.is_empty() && self.take() {
            let (room, line) = self.lines.pop_front().expect("not empty");
            conn.send(&wire::line("PRIVMSG", &[&room, &line])).await?;
        }
        Ok(())
    }
}

/// The text of a channel message that is for the bot: after `nick:` /
/// `nick,` (any case) or after the configured prefix.
fn addressed<'t>(text: &'t str, nick: &str, prefix: Option<&str>) -> Option<&'t str> {
    let text = text.trim();
    if let Some(prefix) = prefix.filter(|p| !p.is_empty())
        && let Some(rest) = text.strip_prefix(prefix)
    {
        return Some(rest.trim_start());
    }
    super::address::after_name(text, nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_out_in_a_burst_then_one_per_interval() {
        let mut q = SendQueue::new(3, Duration::from_millis(100));
        let start = Instant::now();
        assert!(q.take() && q.take() && q.take(), "a burst of three");
        assert!(!q.take(), "then the bucket is empty");
        q.lines.push_back(("#ops".into(), "x".into()));
        let ready = q.ready_at().unwrap();
        let wait = ready.duration_since(start);
        assert!(wait >= Duration::from_millis(90) && wait <= Duration::from_millis(150), "{wait:?}");
        std::thread::sleep(Duration::from_millis(110));
        assert!(q.take(), "one more after an interval");
        assert!(!q.take());
    }

    #[test]
    fn channel_talk_is_for_the_bot_when_addressed() {
        assert_eq!(addressed("sandbot: hello", "sandbot", None), Some("hello"));
        assert_eq!(addressed("SandBot, deploy api", "sandbot", None), Some("deploy api"));
        assert_eq!(addressed("sandbot hello", "sandbot", None), Some("hello"));
        assert_eq!(addressed("!hello", "sandbot", Some("!")), Some("hello"));
        assert_eq!(addressed("hello everyone", "sandbot", Some("!")), None);
        assert_eq!(addressed("sandbotx: hello", "sandbot", None), None);
        assert_eq!(addressed("sand", "sandbot", None), None);
    }
}
