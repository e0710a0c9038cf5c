//! The bot's own event and response types. Connectors build events, matching
//! reads them, and `runtime::convert` turns them into the WIT types once.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit every timestamp here uses.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub text: String,
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub thread: Option<String>,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub message_id: String,
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub user: String,
    pub user_id: String,
    pub room: String,
    pub connector: String,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRequest {
    pub path: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Message(Message),
    Reaction(Reaction),
    Join(Membership),
    Leave(Membership),
    Webhook(WebhookRequest),
    Schedule { fired_at: u64 },
}

impl Event {
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
}

/// A room on a connector, optionally a thread in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub connector: String,
    pub room: String,
    pub thread: Option<String>,
}

/// The place an event came from: where `respond` and `react` go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub target: Target,
    pub message_id: Option<String>,
}

/// What the bot sends back through a connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub target: Target,
    pub body: ResponseBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    Text(String),
    Reaction { message_id: String, emoji: String },
}
