//! IRC (RFC 2812 / 1459) through the `irc` crate, which does NICK/USER,
//! PING/PONG, nick-in-use fallback, joining the configured channels and
//! pacing what it sends (a burst, then one line at a time, so servers do not
//! kick the bot for flooding). This file adds what a ChatOps bot needs on
//! top: which channel talk is for the bot (`sandbot: deploy …` or a prefix
//! such as `!deploy …`; private messages always are), answers cut into lines
//! that fit IRC's 512 bytes without breaking a character, and reconnecting
//! with backoff when the server goes away.
//!
//! A user's stable id is their whole `nick!user@host` (configure admins as
//! `irc:alice!~alice@host.example`, globs allowed): a nick alone is taken by
//! whoever connects first, so it never grants anything.

use super::backoff::Backoff;
use super::split::split_to_fit;
use super::{Connector, Context, render};
use crate::bus::Delivery;
use crate::config::Secret;
use crate::event::{Event, Membership, Message, Response, now_ms};
use futures::StreamExt;
use futures::future::BoxFuture;
use irc::client::prelude::{Client, Command, Config, Prefix};
use serde::Deserialize;
use crate::limits::HumanDuration;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

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

pub struct Irc {
    settings: IrcSettings,
}

impl super::registry::Kind for Irc {
    type Settings = IrcSettings;
    fn from_settings(settings: IrcSettings) -> Self {
        Irc { settings }
    }
}

impl Connector for Irc {
    fn run(self: Box<Self>, cx: Context) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(self.serve(cx))
    }
}

/// Why a connection ended.
enum Ended {
    /// The bot is stopping: its outbox closed.
    Stopping,
    Lost(anyhow::Error),
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

    fn client_config(&self) -> Config {
        let s = &self.settings;
        let alt_nicks = if s.alt_nicks.is_empty() {
            (1..=3).map(|n| format!("{}{}", s.nick, "_".repeat(n))).collect()
        } else {
            s.alt_nicks.clone()
        };
        Config {
            nickname: Some(s.nick.clone()),
            alt_nicks,
            username: Some(s.username.clone().unwrap_or_else(|| s.nick.clone())),
            realname: Some(
                s.realname
                    .clone()
                    .unwrap_or_else(|| "sandbot, a ChatOps bot".into()),
            ),
            server: Some(s.server.clone()),
            port: Some(self.port()),
            password: s.password.as_ref().map(|p| p.expose().to_owned()),
            use_tls: Some(s.tls),
            cert_path: s.ca_file.as_ref().map(|p| p.display().to_string()),
            channels: s.channels.clone(),
            ping_time: Some(60),
            ping_timeout: Some(30),
            version: Some(format!("sandbot {}", env!("CARGO_PKG_VERSION"))),
            ..Config::default()
        }
    }

    /// One connection, from dialing until it is lost or the bot stops.
    /// `connected` turns true once the server has welcomed the bot.
    async fn connect_and_talk(&self, cx: &mut Context, connected: &mut bool) -> Ended {
        let dial = tokio::time::timeout(
            Duration::from_secs(30),
            Client::from_config(self.client_config()),
        );
        let mut client = match dial.await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Ended::Lost(anyhow::Error::new(e).context("cannot connect")),
            Err(_) => return Ended::Lost(anyhow::anyhow!("cannot connect: timed out")),
        };
        if let Err(e) = client.identify() {
            return Ended::Lost(anyhow::Error::new(e).context("cannot register"));
        }
        let mut stream = match client.stream() {
            Ok(s) => s,
            Err(e) => return Ended::Lost(e.into()),
        };
        let mut seen = 0u64;
        let mut queue = SendQueue::new(self.settings.burst, self.settings.interval.0);
        loop {
            let next_line = queue.ready_at();
            tokio::select! {
                message = stream.next() => {
                    let message = match message {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Ended::Lost(anyhow::Error::new(e).context("connection lost")),
                        None => return Ended::Lost(anyhow::anyhow!("the server closed the connection")),
                    };
                    if let Command::Response(irc::proto::Response::RPL_WELCOME, _) = message.command {
                        *connected = true;
                        let nick = client.current_nickname().to_owned();
                        tracing::info!(connector = %cx.name, "connected to {} as {nick}", self.settings.server);
                        cx.status.set(format!("connected to {}:{} as {nick}", self.settings.server, self.port()));
                    }
                    if let Some(event) = self.event(&client, &message, &mut seen)
                        && cx.events.submit(event).await.is_err()
                    {
                        return Ended::Stopping;
                    }
                }
                delivery = cx.outbox.recv(), if queue.len() < QUEUE_LINES => match delivery {
                    None => {
                        let _ = client.send_quit("stopping");
                        return Ended::Stopping;
                    }
                    Some(Delivery::Finished(_)) => {}
                    Some(Delivery::Response(response)) => {
                        self.queue(&client, &response, &mut queue);
                        if let Err(e) = queue.flush(&client) {
                            return Ended::Lost(anyhow::Error::new(e).context("cannot send"));
                        }
                    }
                },
                () = sleep_until(next_line) => {
                    if let Err(e) = queue.flush(&client) {
                        return Ended::Lost(anyhow::Error::new(e).context("cannot send"));
                    }
                }
            }
        }
    }

    /// The event an IRC message is for the bot, if any.
    fn event(&self, client: &Client, message: &irc::proto::Message, seen: &mut u64) -> Option<Event> {
        let Some(Prefix::Nickname(nick, user, host)) = &message.prefix else {
            return None;
        };
        let me = client.current_nickname();
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
        match &message.command {
            Command::PRIVMSG(target, text) => {
                // CTCP (ACTION, VERSION, ...): the crate answers the queries.
                if text.starts_with('\u{1}') {
                    return None;
                }
                let (room, text, to_bot) = if is_channel(target) {
                    match addressed(text, me, self.settings.prefix.as_deref()) {
                        Some(text) => (target.clone(), text, true),
                        None if self.settings.hear => (target.clone(), text.trim(), false),
                        None => return None,
                    }
                } else {
                    (nick.clone(), text.trim(), true)
                };
                if text.is_empty() {
                    return None;
                }
                *seen += 1;
                Some(Event::Message(Message {
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
            Command::JOIN(channel, _, _) => Some(Event::Join(member(channel))),
            Command::PART(channel, _) => Some(Event::Leave(member(channel))),
            _ => None,
        }
    }

    /// Queues one answer as PRIVMSG lines that each fit in 512 bytes.
    fn queue(&self, client: &Client, response: &Response, queue: &mut SendQueue) {
        let room = &response.target.room;
        let me = client.current_nickname();
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
            lines.push(format!("… ({cut} more lines not shown)"));
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
    fn flush(&mut self, client: &Client) -> irc::error::Result<()> {
        while !self.lines.is_empty() && self.take() {
            let (room, line) = self.lines.pop_front().expect("not empty");
            client.send_privmsg(room, line)?;
        }
        Ok(())
    }
}

fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
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
    let head = text.get(..nick.len())?;
    if !head.eq_ignore_ascii_case(nick) {
        return None;
    }
    let rest = &text[nick.len()..];
    match rest.strip_prefix([':', ',']) {
        Some(after) => Some(after.trim_start()),
        // `sandbot hello` is too; `sandbotx: …` is someone else.
        None if rest.starts_with(char::is_whitespace) => Some(rest.trim_start()),
        None => None,
    }
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
