//! The two ports around the dispatcher. Connectors put events in through an
//! [`EventSink`]; skills' answers come out through a [`ResponseSink`] into
//! the outbox of the connector they are for. Connectors and the runtime
//! depend on these and on `event`, never on the dispatcher or each other, so
//! a second host can replace the in-process wiring with a message broker.

use crate::event::{Event, EventId, Response};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
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

/// The receiving ends of the outboxes, each taken by its connector as it
/// starts, and the outboxes themselves, to see when their connectors have
/// taken everything queued.
pub struct Receivers {
    waiting: HashMap<String, mpsc::Receiver<Delivery>>,
    outboxes: Arc<Outboxes>,
}

impl Receivers {
    /// Connector `name`'s receiving end, once.
    pub fn take(&mut self, name: &str) -> Option<mpsc::Receiver<Delivery>> {
        self.waiting.remove(name)
    }

    /// Waits, at most `within`, until every connector has taken what its
    /// outbox holds; true if they all did. As the bot stops, the answers
    /// and notices of the grace are queued a moment before the connectors
    /// go: without this wait, a busy machine dropped the last of them.
    pub async fn drained(&self, within: Duration) -> bool {
        let outboxes = &self.outboxes;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // A sender back at full capacity has had every message taken;
            // a closed outbox's connector has gone and takes nothing more.
            let drained = outboxes
                .senders
                .values()
                .all(|tx| tx.is_closed() || tx.capacity() == tx.max_capacity());
            if drained {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Outboxes {
    /// An outbox for each connector named, and their receiving ends.
    pub fn for_connectors<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> (Arc<Outboxes>, Receivers) {
        let mut outboxes = Outboxes::default();
        let waiting = names
            .into_iter()
            .map(|name| (name.to_owned(), outboxes.open(name)))
            .collect();
        let outboxes = Arc::new(outboxes);
        let receivers = Receivers {
            waiting,
            outboxes: outboxes.clone(),
        };
        (outboxes, receivers)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ResponseBody, Target};

    fn response(connector: &str) -> Response {
        Response {
            target: Target {
                connector: connector.into(),
                room: "room".into(),
                thread: None,
            },
            body: ResponseBody::Text("hi".into()),
            in_reply_to: None,
        }
    }

    /// A stopping bot waits for queued answers to be taken, and no longer
    /// than its grace for a connector that takes nothing.
    #[tokio::test]
    async fn drained_waits_for_what_is_queued_to_be_taken() {
        let (outboxes, mut receivers) = Outboxes::for_connectors(["shell", "irc"]);
        let mut shell = receivers.take("shell").unwrap();
        let irc = receivers.take("irc").unwrap();
        assert!(receivers.take("shell").is_none(), "taken once");
        assert!(receivers.drained(Duration::ZERO).await, "nothing queued");
        outboxes.deliver(response("shell")).await.unwrap();
        outboxes.deliver(response("irc")).await.unwrap();
        let started = std::time::Instant::now();
        assert!(!receivers.drained(Duration::from_millis(50)).await);
        assert!(started.elapsed() >= Duration::from_millis(50));
        // The shell takes its answer a moment later; the IRC connector
        // goes without taking its own.
        let taker = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            shell.recv().await
        });
        drop(irc);
        assert!(receivers.drained(Duration::from_secs(5)).await);
        assert!(matches!(taker.await.unwrap(), Some(Delivery::Response(_))));
    }
}
