//! The two ports around the dispatcher. Connectors put events in through an
//! [`EventSink`]; skills' answers come out through a [`ResponseSink`] into
//! the outbox of the connector they are for. Connectors and the runtime
//! depend on these and on `event`, never on the dispatcher or each other, so
//! a second host can replace the in-process wiring with a message broker.

use crate::event::{Event, EventId, Response};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Connector → dispatcher.
pub trait EventSink: Send + Sync + 'static {
    /// Hands `event` over under `id` (which answers to it will name), and
    /// returns once it has been accepted: a connector that awaits this
    /// cannot outrun the bot.
    fn submit(&self, id: EventId, event: Event) -> BoxFuture<'_, Result<(), Closed>>;

    /// Resolves once everything submitted so far is done, background runs
    /// (after an ack) included: a piped shell waits for this before it
    /// ends, so the answers still to come are printed.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The connector gave up delivering an answer to event `id` (`why`):
    /// the records of its executions are to say so (`Execution::undelivered`).
    fn undelivered(&self, _id: EventId, _why: String) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Runtime (and dispatcher) → connectors.
pub trait ResponseSink: Send + Sync + 'static {
    fn deliver(&self, response: Response) -> BoxFuture<'_, Result<(), DeliveryError>>;
    /// Tells the connector an event is fully handled: every answer to it has
    /// been delivered before this.
    fn finished(&self, connector: &str, event: EventId) -> BoxFuture<'_, ()>;
}

/// The bot is shutting down and takes no more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bot is shutting down")]
pub struct Closed;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("there is no connector named `{0}`")]
    NoSuchConnector(String),
    #[error("connector `{0}` has stopped")]
    Stopped(String),
}

/// What a connector's outbox carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Response(Response),
    /// Every answer to this event has been delivered.
    Finished(EventId),
}

/// Responses waiting per connector before a sending skill is made to wait.
const OUTBOX_DEPTH: usize = 1024;

/// The in-process response side: one bounded outbox per connector, fixed at
/// start-up (so no lock is needed to find one).
#[derive(Default)]
pub struct Outboxes {
    senders: HashMap<String, mpsc::Sender<Delivery>>,
}

impl Outboxes {
    /// An outbox for each connector named, and their receiving ends by name.
    pub fn for_connectors<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> (Arc<Outboxes>, HashMap<String, mpsc::Receiver<Delivery>>) {
        let mut outboxes = Outboxes::default();
        let receivers = names
            .into_iter()
            .map(|name| (name.to_owned(), outboxes.open(name)))
            .collect();
        (Arc::new(outboxes), receivers)
    }

    /// Adds a connector's outbox; the connector reads from the receiver.
    pub fn open(&mut self, connector: &str) -> mpsc::Receiver<Delivery> {
        let (tx, rx) = mpsc::channel(OUTBOX_DEPTH);
        self.senders.insert(connector.to_owned(), tx);
        rx
    }

    pub fn connectors(&self) -> impl Iterator<Item = &str> {
        self.senders.keys().map(String::as_str)
    }
}

impl ResponseSink for Outboxes {
    fn deliver(&self, response: Response) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            let connector = &response.target.connector;
            let outbox = self
                .senders
                .get(connector)
                .ok_or_else(|| DeliveryError::NoSuchConnector(connector.clone()))?;
            outbox
                .send(Delivery::Response(response))
                .await
                .map_err(|e| match e.0 {
                    Delivery::Response(r) => DeliveryError::Stopped(r.target.connector),
                    Delivery::Finished(_) => DeliveryError::Stopped(String::new()),
                })
        })
    }

    fn finished(&self, connector: &str, event: EventId) -> BoxFuture<'_, ()> {
        let outbox = self.senders.get(connector).cloned();
        Box::pin(async move {
            if let Some(outbox) = outbox {
                let _ = outbox.send(Delivery::Finished(event)).await;
            }
        })
    }
}

/// The other hosts of one bot, when there are any (`nats::hosts`): what a
/// chat command must reach on every host goes through this.
pub trait Peers: Send + Sync + 'static {
    /// Reloads skills on every other host; returns this host's report
    /// `own` with each host's, a line each.
    fn reload_everywhere(&self, own: String) -> BoxFuture<'_, String>;
}
