//! The bot's own event and response types. Connectors build events, matching
//! reads them, and `runtime::convert` turns them into the WIT types once.
//! They are serde types: the web API, history and a message bus between
//! hosts carry them.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The bot's own id for one event, unique across restarts and hosts in
/// practice: the high bits are random per process, the low ones count.
///
/// Written as its 16 hex digits (as in execution ids, `<event>-<n>`): a
/// JSON number above 2^53 is rounded by JavaScript. A number is still read,
/// as records written before were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub u64);

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EventId, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Hex(String),
            Number(u64),
        }
        match Written::deserialize(d)? {
            Written::Number(n) => Ok(EventId(n)),
            Written::Hex(h) => u64::from_str_radix(&h, 16)
                .map(EventId)
                .map_err(|_| serde::de::Error::custom(format!("`{h}` is not an event id"))),
        }
    }
}

impl EventId {
    pub fn next() -> EventId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        EventId(process_base() | (NEXT.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1)))
    }

    /// The process that made this id (its random high bits): on several
    /// hosts, the one whose connector the event came from, so answers to
    /// it find their way back without a table.
    pub fn origin(self) -> u32 {
        (self.0 >> 40) as u32
    }

    /// This process's mark, as [`EventId::origin`] gives it for the ids it makes.
    pub fn this_process() -> u32 {
        (process_base() >> 40) as u32
    }
}

/// 24 random bits per process, from the standard library's seeded hasher,
/// in the high bits of every id it makes.
fn process_base() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now_ms());
        h.write_u32(std::process::id());
        (h.finish() & 0xff_ffff) << 40
    })
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Milliseconds since the Unix epoch, the unit every timestamp here uses.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub text: String,
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub thread: Option<String>,
    pub received_at: u64,
    /// Said to the bot: in a direct conversation, after its name or a
    /// mention, or after the connector's command prefix (which the
    /// connector has already taken out of `text`). Matchers that `respond`
    /// only (Hubot's `respond`, not `hear`) see only these.
    #[serde(default)]
    pub addressed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub message_id: String,
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRequest {
    pub path: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    Message(Message),
    Reaction(Reaction),
    Join(Membership),
    Leave(Membership),
    Webhook(WebhookRequest),
    Schedule { fired_at: u64 },
}

impl Event {
    pub fn message(&self) -> Option<&Message> {
        match self {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }

    /// Who sent a chat event, and where: the one match over the kinds of
    /// event that the accessors below read.
    fn sender(&self) -> Option<Sender<'_>> {
        let (connector, room, user, user_id) = match self {
            Event::Message(m) => (&m.connector, &m.room, &m.user, &m.user_id),
            Event::Reaction(r) => (&r.connector, &r.room, &r.user, &r.user_id),
            Event::Join(m) | Event::Leave(m) => (&m.connector, &m.room, &m.user, &m.user_id),
            Event::Webhook(_) | Event::Schedule { .. } => return None,
        };
        Some(Sender {
            connector,
            room,
            user,
            user_id,
        })
    }

    /// The connector the event came from, if it came from one.
    pub fn connector(&self) -> Option<&str> {
        self.sender().map(|s| s.connector)
    }

    pub fn room(&self) -> Option<&str> {
        self.sender().map(|s| s.room)
    }

    /// The sender's display name.
    pub fn user(&self) -> Option<&str> {
        self.sender().map(|s| s.user)
    }

    /// The sender's stable id on its connector.
    pub fn user_id(&self) -> Option<&str> {
        self.sender().map(|s| s.user_id)
    }

    /// Where an answer to this event goes, if it came from a chat room.
    pub fn origin(&self) -> Option<Origin> {
        match self {
            Event::Message(m) => Some(Origin {
                target: Target {
                    connector: m.connector.clone(),
                    room: m.room.clone(),
                    thread: m.thread.clone(),
                },
                message_id: Some(m.id.clone()),
            }),
            Event::Reaction(r) => Some(Origin {
                target: Target {
                    connector: r.connector.clone(),
                    room: r.room.clone(),
                    thread: None,
                },
                message_id: Some(r.message_id.clone()),
            }),
            Event::Join(m) | Event::Leave(m) => Some(Origin {
                target: Target {
                    connector: m.connector.clone(),
                    room: m.room.clone(),
                    thread: None,
                },
                message_id: None,
            }),
            Event::Webhook(_) | Event::Schedule { .. } => None,
        }
    }

    /// What the dispatcher reads of this event, borrowed from it: derived
    /// once, rather than matched on again for each hit.
    pub fn facts(&self) -> Facts<'_> {
        let sender = self.sender();
        let m = self.message();
        Facts {
            connector: sender.as_ref().map(|s| s.connector),
            room: sender.as_ref().map(|s| s.room),
            user: sender.as_ref().map(|s| s.user),
            user_id: sender.as_ref().map(|s| s.user_id),
            thread: m.and_then(|m| m.thread.as_deref()),
            message: m.is_some(),
            text: m.map(|m| m.text.as_str()),
            webhook_path: match self {
                Event::Webhook(w) => Some(&w.path),
                _ => None,
            },
            trigger: trigger_of(self),
        }
    }
}

/// An event's facts as the dispatcher reads them ([`Event::facts`]),
/// borrowed from the event: who sent it and where, a message's thread and
/// text, what started it. The dispatcher reads these fields; it does not
/// ask the event again, and copies a field only into what it sends or
/// records.
#[derive(Debug)]
pub struct Facts<'e> {
    /// The connector a chat event came from.
    pub connector: Option<&'e str>,
    /// The room it came from (where answers go), for a chat event.
    pub room: Option<&'e str>,
    /// The sender's display name, for a chat event.
    pub user: Option<&'e str>,
    /// The sender's stable id on its connector, for a chat event.
    pub user_id: Option<&'e str>,
    /// A message's thread, if it came in one (answers go there too).
    pub thread: Option<&'e str>,
    /// A chat message: the one kind a command or "did you mean" answers.
    pub message: bool,
    /// A message's text.
    pub text: Option<&'e str>,
    /// A webhook request's path, which its records name.
    pub webhook_path: Option<&'e str>,
    /// What started it, as its records say ([`trigger_of`]).
    pub trigger: Cow<'static, str>,
}

/// Who sent a chat event, and where ([`Event::sender`]).
struct Sender<'a> {
    connector: &'a str,
    room: &'a str,
    user: &'a str,
    user_id: &'a str,
}

/// The connector a webhook skill's `respond` is recorded under: those texts
/// are not delivered to any room but become the HTTP response's body.
pub const HTTP_CALLER: &str = "@http";

/// A room on a connector, optionally a thread in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub connector: String,
    pub room: String,
    pub thread: Option<String>,
}

/// The place an event came from: where `respond` and `react` go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub target: Target,
    pub message_id: Option<String>,
}

/// What the bot sends back through a connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub target: Target,
    pub body: ResponseBody,
    /// The event this answers, if it answers one: a connector keeps a
    /// transcript in order, and a request can wait for its own answers.
    pub in_reply_to: Option<EventId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseBody {
    Text(String),
    Reaction { message_id: String, emoji: String },
}

/// Everything the bot knows about one run of one skill for one event: what
/// audit, history, notifications and metrics consume. Every execution,
/// successful or not, produces exactly one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Unique per execution: the event's id and the position of the skill
    /// among those the event ran.
    pub id: String,
    pub event_id: EventId,
    pub skill: String,
    pub version: String,
    /// SHA-256 of the skill's `.wasm`.
    pub sha256: String,
    pub matcher: String,
    /// The operator alias (`skills.<name>.aliases`) it ran through, by its
    /// format, as StackStorm records the alias with the execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub connector: Option<String>,
    pub room: Option<String>,
    pub thread: Option<String>,
    pub user: Option<String>,
    pub user_id: Option<String>,
    /// The message text, for message events.
    pub text: Option<String>,
    pub captures: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub ended_at: u64,
    /// Microseconds the execution took (the clock above is too coarse).
    pub micros: u64,
    pub outcome: Outcome,
    /// The reason, for any outcome but `ok`.
    pub error: Option<String>,
    /// Grants the skill asked for and was refused during the execution.
    pub denials: Vec<String>,
    pub responses: Vec<Response>,
    /// The execution this one ran inside: a workflow task's record names
    /// its workflow's (`workflow`), so history shows the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Why its answers never reached the room, when they did not: given
    /// up on (the connector's host started again since the event, or stayed
    /// unreachable past the retries). The execution itself ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undelivered: Option<String>,
    /// What started it: `chat`, `webhook /skill/NAME/PATH`, `cron "EXPR"`
    /// (StackStorm's trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The host it ran on (`bus.host`, else the machine's name and the
    /// process id), so records from several hosts say whose they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// How each notification channel its `notify` rules named took the
    /// notice, as each finished (sent, or given up on after its retries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<Notified>,
}

/// One channel's delivery of a notice about an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    pub channel: String,
    /// The rule that fired: `on-complete`, `on-success`, `on-failure`.
    pub when: String,
    pub ok: bool,
    /// Why it was given up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// This process's host name in every record ([`set_host`]).
static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the host every record made from now on says it ran on; the first
/// name given stays.
pub fn set_host(name: String) {
    let _ = HOST.set(name);
}

/// What started `event`, as its records say: a chat event, a webhook at its
/// path, a schedule's tick (the caller adds the expression).
pub fn trigger_of(event: &Event) -> Cow<'static, str> {
    match event {
        Event::Message(_) | Event::Reaction(_) | Event::Join(_) | Event::Leave(_) => "chat".into(),
        Event::Webhook(w) if w.path.is_empty() => "webhook".into(),
        Event::Webhook(w) => format!("webhook {}", w.path).into(),
        Event::Schedule { .. } => "cron".into(),
    }
}

/// The host this process's records say they ran on ([`set_host`]).
pub fn host() -> Option<String> {
    HOST.get().cloned()
}

impl Execution {
    /// A record of an execution for `event` under `id`, started at
    /// `started_at`: what the event says (connector, room, thread, user,
    /// text) filled in, the rest empty, the outcome `ok`, for the caller to
    /// fill in how it went.
    pub fn for_event(id: String, event_id: EventId, event: &Event, started_at: u64) -> Execution {
        let facts = event.facts();
        Execution {
            id,
            event_id,
            connector: facts.connector.map(str::to_owned),
            room: facts.room.map(str::to_owned),
            thread: facts.thread.map(str::to_owned),
            user: facts.user.map(str::to_owned),
            user_id: facts.user_id.map(str::to_owned),
            text: facts.text.map(str::to_owned),
            started_at,
            ended_at: started_at,
            trigger: Some(facts.trigger.into_owned()),
            host: host(),
            ..Execution::default()
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Where a record starts, for its maker to fill in how it went.
    #[default]
    Ok,
    /// The skill returned an error.
    Error,
    Timeout,
    OutOfMemory,
    StackOverflow,
    /// A trap or a panic.
    Crashed,
    /// The skill failed after being refused something it is not granted, or
    /// the user may not run it.
    Denied,
    /// The skill was at its concurrency bound and queue: it did not run.
    Busy,
    /// The bot stopped (or the caller went away) before the skill finished.
    Interrupted,
    /// Someone stopped it on purpose (`workflow cancel N`).
    Canceled,
    /// Still running: the history's row for a run that has started and
    /// not ended, replaced by its record when it ends.
    Running,
    /// Was running when the bot ended without a word (`kill -9`, a crash,
    /// power lost): marked so at the next start, as StackStorm marks them.
    Abandoned,
}

impl Outcome {
    /// Every outcome, for those who list them (a 400 says which exist).
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::OutOfMemory,
        Outcome::StackOverflow,
        Outcome::Crashed,
        Outcome::Denied,
        Outcome::Busy,
        Outcome::Interrupted,
        Outcome::Canceled,
        Outcome::Running,
        Outcome::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::OutOfMemory => "out-of-memory",
            Outcome::StackOverflow => "stack-overflow",
            Outcome::Crashed => "crashed",
            Outcome::Denied => "denied",
            Outcome::Busy => "busy",
            Outcome::Interrupted => "interrupted",
            Outcome::Canceled => "canceled",
            Outcome::Running => "running",
            Outcome::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::Outcome;

    /// A new outcome that is not in `ALL` does not compile here.
    #[test]
    fn all_lists_every_outcome_once() {
        for o in Outcome::ALL {
            let position = match o {
                Outcome::Ok => 0,
                Outcome::Error => 1,
                Outcome::Timeout => 2,
                Outcome::OutOfMemory => 3,
                Outcome::StackOverflow => 4,
                Outcome::Crashed => 5,
                Outcome::Denied => 6,
                Outcome::Busy => 7,
                Outcome::Interrupted => 8,
                Outcome::Canceled => 9,
                Outcome::Running => 10,
                Outcome::Abandoned => 11,
            };
            assert_eq!(Outcome::ALL[position], o);
        }
    }

    #[test]
    fn an_event_id_is_written_as_hex_and_read_from_either() {
        let id = super::EventId(0xbd56_2600_0000_0001);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"bd56260000000001\"");
        let back: super::EventId = serde_json::from_str("\"bd56260000000001\"").unwrap();
        assert_eq!(back, id);
        let old: super::EventId = serde_json::from_str(&id.0.to_string()).unwrap();
        assert_eq!(old, id);
    }
}
