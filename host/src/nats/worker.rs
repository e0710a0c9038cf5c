//! A worker: pulls events from the work-queue stream's durable consumer and
//! handles them like the local dispatcher would. It asks for only as many
//! events as it has free places (`runtime.max-in-flight`), so the rest wait
//! in the stream, not in a host's memory. While a skill runs it tells
//! JetStream it is still working (every half ack wait); it acks only after
//! the event's execution records are stored. A worker killed mid-event
//! never acks: after the ack wait JetStream gives the event to another
//! worker, which runs it again; the connector's host drops the answers it
//! already delivered.

use super::Cluster;
use super::replies::Answers;
use super::wire::Envelope;
use crate::bot::Bot;
use crate::history::History;
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// How long one pull waits for events before it asks again.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

pub struct Worker {
    pub cluster: Cluster,
    pub bot: Arc<Bot>,
    pub answers: Arc<Answers>,
    pub history: Option<Arc<History>>,
}

impl Worker {
    /// Pulls and handles events until the bot stops taking them.
    pub async fn run(self: Arc<Self>) {
        let work = self.bot.work().clone();
        let places = self.bot.places();
        let mut consumer = None;
        let mut pause = Duration::from_millis(50);
        while !work.is_closed() {
            // At least one free place before asking for anything.
            let first = tokio::select! {
                permit = places.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
                () = work.stopped() => return,
            };
            // As many as are free now; each further event takes its place as
            // it arrives (held meanwhile, the places would read as in use).
            let mut first = Some(first);
            let asked = 1 + places.available_permits();
            if consumer.is_none() {
                match self.cluster.consumer().await {
                    Ok(c) => consumer = Some(c),
                    Err(e) => {
                        tracing::warn!("cannot reach the event stream: {e:#}");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            let pulled = consumer
                .as_ref()
                .expect("set above")
                .batch()
                .max_messages(asked)
                .expires(PULL_EXPIRES)
                .messages()
                .await;
            let mut batch = match pulled {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!("cannot pull events: {e}");
                    consumer = None;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            pause = Duration::from_millis(50);
            // The server ends a pull at its expiry; a server that went away
            // does not, so the pull is given up a little after.
            let given_up = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_millis(500);
            loop {
                let next = tokio::select! {
                    next = batch.next() => next,
                    () = tokio::time::sleep_until(given_up) => None,
                    () = work.stopped() => return,
                };
                match next {
                    Some(Ok(message)) if work.is_closed() => {
                        // Stopping: another worker takes it at once.
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                    }
                    Some(Ok(message)) => {
                        let permit = match first.take() {
                            Some(p) => p,
                            None => match places.clone().try_acquire_owned() {
                                Ok(p) => p,
                                Err(_) => {
                                    // Taken meanwhile (a webhook, a tick):
                                    // let another worker have it.
                                    let _ = message.ack_with(AckKind::Nak(None)).await;
                                    continue;
                                }
                            },
                        };
                        let me = self.clone();
                        tokio::spawn(async move { me.handle(message, permit).await });
                    }
                    Some(Err(e)) => {
                        tracing::debug!("pull ended: {e}");
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    async fn handle(&self, message: jetstream::Message, permit: OwnedSemaphorePermit) {
        let work = self.bot.work().clone();
        let _entered = work.enter();
        let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
        let envelope: Envelope = match serde_json::from_slice(&message.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("an event on the bus that is not one, dropped: {e}");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let Envelope { id, host, event } = envelope;
        let Some(places) = self.bot.reserve_places(&event) else {
            // A skill it goes to is at its bound here: back to the stream,
            // for this worker or another a little later, rather than "busy".
            let later = Duration::from_millis((25 * attempt.max(1) as u64).min(500));
            drop(permit);
            tracing::debug!(event = %id, attempt, "back to the stream: a skill it goes to is busy here");
            let _ = message.ack_with(AckKind::Nak(Some(later))).await;
            return;
        };
        if attempt > 1 {
            // Run again even when a record of it is stored: its worker may
            // have died after storing it and before its answers were
            // delivered. What the connector's host already delivered, it
            // drops.
            // Its worker died or stopped (or it waited for a busy skill).
            tracing::info!(event = %id, from = %host, attempt, "redelivered");
        }
        self.answers.begin(id);
        let still_working = async {
            let every = self.cluster.settings.ack_wait.0 / 2;
            loop {
                tokio::time::sleep(every).await;
                let _ = message.ack_with(AckKind::Progress).await;
            }
        };
        let handled = tokio::select! {
            executions = self.bot.handle_taken(id, event, places) => Some(executions),
            () = still_working => None,
            // Stopped mid-way at shutdown: not acked, so another worker
            // takes it now rather than after the ack wait.
            () = work.stopped() => None,
        };
        self.answers.end(id);
        drop(permit);
        let Some(executions) = handled else {
            let _ = message.ack_with(AckKind::Nak(None)).await;
            return;
        };
        if !executions.is_empty()
            && let Some(history) = &self.history
        {
            history.caught_up().await;
        }
        if let Err(e) = message.ack().await {
            tracing::warn!(event = %id, "could not ack a handled event: {e}");
        }
    }
}
