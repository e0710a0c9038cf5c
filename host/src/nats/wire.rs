//! What crosses the bus between hosts, as JSON: an event on its way to a
//! worker, and an answer (or the mark that an event is finished) on its
//! way back to the host whose connector it is for.

use crate::event::{Event, EventId, Response};
use serde::{Deserialize, Serialize};

/// An event in the work stream.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub id: EventId,
    /// The host that took it in, for logs.
    pub host: String,
    pub event: Event,
}

/// Worker → connector host, as a JSON array: one event's replies in order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    /// An answer; `seq` numbers the answers to one event in the order the
    /// worker gave them, so the same answer from a second run of a
    /// redelivered event is known and dropped.
    Response {
        seq: Option<u32>,
        /// Which delivery of the event the run that said it was handling
        /// (JetStream's count, from 1): a later one supersedes it.
        #[serde(default)]
        attempt: u32,
        response: Response,
    },
    /// Every answer to `event` has been sent.
    Finished {
        event: EventId,
        connector: String,
        #[serde(default)]
        attempt: u32,
    },
}

impl Reply {
    pub fn event(&self) -> Option<EventId> {
        match self {
            Reply::Response { response, .. } => response.in_reply_to,
            Reply::Finished { event, .. } => Some(*event),
        }
    }

    pub fn attempt(&self) -> u32 {
        match self {
            Reply::Response { attempt, .. } | Reply::Finished { attempt, .. } => *attempt,
        }
    }
}
