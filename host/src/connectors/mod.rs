//! Connectors turn an outside source into events and carry responses back.
//! Each kind is one file behind [`Connector`], with its own settings type;
//! the `kinds!` list below is the one place that names the kinds, and
//! [`registry`] builds the named instances configuration.yaml asks for. A
//! connector sees only the ports (`bus`): a [`ConnectorSink`] to submit
//! events, and its outbox of responses. It never sees the dispatcher, the
//! runtime or other connectors.

pub mod address;
pub mod backoff;
pub mod in_order;
mod irc_wire;
mod line_reader;
mod matrix_out;
pub mod registry;
pub mod render;
mod slack_text;
pub mod split;
mod websocket_settings;

/// Declares each kind's module and builds `KINDS` and `build`, which reads a
/// kind's settings and makes the connector.
macro_rules! kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The names `type:` accepts.
        pub const KINDS: &[&str] = &[$(stringify!($module)),*];

        fn build<'de, D: serde::Deserializer<'de>>(
            kind: &str,
            name: &str,
            d: D,
        ) -> Result<Box<dyn Connector>, D::Error> {
            $(if kind == stringify!($module) {
                let settings =
                    <<$module::$kind as registry::Kind>::Settings as serde::Deserialize>::deserialize(d)?;
                return Ok(Box::new(<$module::$kind as registry::Kind>::from_settings(settings)));
            })*
            serde::Deserializer::deserialize_any(d, registry::UnknownKind { name })
        }
    };
}

/// A kind that is its settings and nothing else: the struct, how the
/// registry makes one from its settings, and how it runs (`$run`, given
/// the connector by value and its context).
macro_rules! settings_kind {
    ($kind:ident, $settings:ty, |$this:ident, $cx:ident| $run:expr) => {
        pub struct $kind {
            settings: $settings,
        }

        impl super::registry::Kind for $kind {
            type Settings = $settings;
            fn from_settings(settings: $settings) -> Self {
                $kind { settings }
            }
        }

        impl super::Connector for $kind {
            fn run(
                self: Box<Self>,
                $cx: super::Context,
            ) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
                let $this = *self;
                Box::pin($run)
            }
        }
    };
}

// Every connector kind, by the name `type:` gives it (its file's name).
// Adding a kind is its file and one line here.
kinds! {
    shell::Shell,
    tcp::Tcp,
    irc::Irc,
    slack::Slack,
    matrix::Matrix,
    websocket::Websocket,
}

pub use line_reader::{Line, LineReader};

use crate::bus::{Closed, Delivery, EventSink};
use crate::event::{Event, EventId};
use crate::text::cut;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Makes ring the process's TLS provider for clients that take the
/// process default (the websocket crate): should a second provider ever be
/// built in, rustls could not pick one by itself and such a client would
/// panic at its first TLS connection.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A running connector instance.
pub trait Connector: Send + 'static {
    /// The routes this connector serves on the bot's HTTP server, if any.
    /// Called once, before `run`, with what its handlers need.
    fn routes(&mut self, _web: &Web) -> Option<axum::Router> {
        None
    }

    /// The path of the chat page it serves on the bot's HTTP server, if
    /// any (known once `routes` has been called): told at start-up.
    fn page(&self) -> Option<String> {
        None
    }

    /// Runs until its source ends (a piped shell at end of input) or the bot
    /// stops; an error ends this connector only, never the bot.
    fn run(self: Box<Self>, cx: Context) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// What a connector instance gets to run with.
pub struct Context {
    /// Its name in configuration.yaml: the `connector` of its events.
    pub name: String,
    pub events: ConnectorSink,
    pub outbox: mpsc::Receiver<Delivery>,
    /// What it says about itself in the bot's status (`GET /`).
    pub status: Status,
    /// A folder of its own for what it keeps across restarts
    /// (`<data-dir>/connectors/<name>`), made by the connector if it needs it.
    pub data: std::path::PathBuf,
    /// Room aliases the configuration's `allow-rooms` and `deny-rooms` name
    /// for this connector (`matrix:#ops:example.org`): a connector whose
    /// events name rooms by id resolves them (`permissions::learn_room_alias`).
    pub room_aliases: Vec<String>,
    /// Told when the bot stops, after what was said during its grace is
    /// in the outboxes.
    pub closing: Closing,
}

/// What a connector that serves HTTP gets before it runs.
pub struct Web {
    pub name: String,
    pub events: ConnectorSink,
    pub status: Status,
    /// The HTTP server listens on a loopback address only.
    pub loopback: bool,
    pub closing: Closing,
}

/// The bot's last moment with its connectors. Once the grace's answers
/// and notices are in the outboxes, [`Closing::close`] tells every
/// connector; one that holds answers of its own beyond its outbox (a
/// socket's frames being written) takes a [`Closing::hold`] while it runs,
/// hands them out and closes cleanly when told, and drops it: the bot waits
/// for those holds, up to a bound, before it goes. A connector with nothing
/// of its own to flush ignores this and is stopped when the bot ends.
#[derive(Clone, Default)]
pub struct Closing {
    told: tokio_util::sync::CancellationToken,
    holds: tokio_util::task::TaskTracker,
}

impl Closing {
    /// Resolves once the bot is stopping and its answers are queued.
    pub async fn told(&self) {
        self.told.cancelled().await;
    }

    /// Held until the holder has handed out what it holds; the bot waits.
    pub fn hold(&self) -> tokio_util::task::task_tracker::TaskTrackerToken {
        self.holds.token()
    }

    /// Tells every connector and waits, at most `within`, for the holds to
    /// be dropped; true if they all were.
    pub async fn close(&self, within: std::time::Duration) -> bool {
        self.holds.close();
        self.told.cancel();
        tokio::time::timeout(within, self.holds.wait())
            .await
            .is_ok()
    }
}

/// A connector's state as the operator sees it: `running`, `listening on
/// …`, `reconnecting (attempt 3): …`, `stopped: …`.
#[derive(Clone, Default)]
pub struct Status(Arc<std::sync::Mutex<String>>);

impl Status {
    pub fn new(state: &str) -> Status {
        Status(Arc::new(std::sync::Mutex::new(state.to_owned())))
    }

    pub fn set(&self, state: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = state.into();
    }

    pub fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The event sink as one connector instance holds it. It stamps the
/// instance's name on every event (a connector cannot speak for another)
/// and cuts message text at the instance's `max-message-length`.
#[derive(Clone)]
pub struct ConnectorSink {
    name: Arc<str>,
    max_message: usize,
    inner: Arc<dyn EventSink>,
}

impl ConnectorSink {
    pub fn new(name: &str, max_message: usize, inner: Arc<dyn EventSink>) -> Self {
        ConnectorSink {
            name: name.into(),
            max_message: max_message.max(1),
            inner,
        }
    }

    /// A new event id, for a connector that must note it before submitting.
    pub fn new_id(&self) -> EventId {
        EventId::next()
    }

    /// The most bytes of text a message may have here.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Resolves once every event submitted so far is done, background runs
    /// included.
    pub async fn settled(&self) {
        self.inner.settled().await
    }

    /// Says that an answer to event `id` was given up on (`why`), so its
    /// executions' records do not say it reached the room.
    pub async fn undelivered(&self, id: EventId, why: String) {
        self.inner.undelivered(id, why).await
    }

    /// Submits `event` under a new id, and returns the id.
    pub async fn submit(&self, event: Event) -> Result<EventId, Closed> {
        let id = EventId::next();
        self.submit_as(id, event).await.map(|()| id)
    }

    /// Submits `event` under `id` (from [`EventId::next`]): a connector
    /// that must know the id before any answer can come takes it first.
    pub async fn submit_as(&self, id: EventId, mut event: Event) -> Result<(), Closed> {
        match &mut event {
            Event::Message(m) => {
                m.connector = self.name.to_string();
                if m.text.len() > self.max_message {
                    let dropped = m.text.len() - cut(&m.text, self.max_message).len();
                    tracing::warn!(connector = %self.name, user = %crate::text::for_log(&m.user_id), "a message of {} bytes was cut at {} (max-message-length)", m.text.len(), self.max_message);
                    m.text.truncate(m.text.len() - dropped);
                }
            }
            Event::Reaction(r) => r.connector = self.name.to_string(),
            Event::Join(m) | Event::Leave(m) => m.connector = self.name.to_string(),
            Event::Webhook(_) | Event::Schedule { .. } => {}
        }
        self.inner.submit(id, event).await
    }
}
