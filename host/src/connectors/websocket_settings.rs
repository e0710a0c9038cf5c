//! The websocket connector's settings (`connectors.websocket` in the
//! configuration), with their defaults; what they bound is described on
//! the connector (`websocket.rs`) and in docs/connectors/web.md.

use crate::limits::{ByteSize, HumanDuration};
use indexmap::IndexMap;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebsocketSettings {
    /// Sockets requested or open at once; more get 429.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Sockets requested or open at once from one client address [default:
    /// half of `max-connections`]; more get 429.
    #[serde(default)]
    pub max_connections_per_client: Option<usize>,
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
    /// Answers given to a client's socket and not yet taken before it is
    /// disconnected as too slow.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// How long one answer may wait for the client to take it before it is
    /// disconnected as too slow.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: HumanDuration,
    /// A socket with no message either way for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// How long an unfinished message holds back the answers to the
    /// socket's later ones; past it the client is told it is still running
    /// and the answers behind it go out.
    #[serde(default = "default_order_wait")]
    pub order_wait: HumanDuration,
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
fn default_write_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_order_wait() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl WebsocketSettings {
    pub(super) fn max_per_client(&self) -> usize {
        self.max_connections_per_client
            .unwrap_or(self.max_connections.div_ceil(2))
            .max(1)
    }
}

fn default_bot_name() -> String {
    "sandbot".into()
}
