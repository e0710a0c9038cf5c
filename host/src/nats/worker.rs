//! A worker: pulls events from the work-queue stream's durable consumer and
//! handles them like the local dispatcher would. It asks for only as many
//! events as it has free `runtime.max-in-flight` permits, so the rest wait
//! in the stream, not in a host's memory; a place is given back when the
//! event's skills have run, before their answers are confirmed. While an
//! event is handled it tells JetStream it is still working (every third of
//! the consumer's actual ack wait, whichever host set it); it acks only
//! after the event's answers are confirmed and its execution records are
//! stored. A worker killed mid-event never acks: after the ack wait
//! JetStream gives the event to another worker, which runs it again; the
//! connector's host drops the answers it already delivered and, once the
//! later run is heard from, everything the earlier one still says. An
//! event redelivered to the worker that is still running it (NATS was away
//! longer than the ack wait) joins that run instead of running twice.

use super::Cluster;
use super::replies::ResponseForwarder;
use super::wire::Envelope;
use crate::bot::Bot;
use crate::event::EventId;
use crate::history::History;
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// How long one pull waits for events before it asks again.
const PULL_EXPIRES: Duration = Duration::from_secs(2);

pub struct Worker {
    pub cluster: Cluster,
    pub bot: Arc<Bot>,
    pub answers: Arc<ResponseForwarder>,
    pub history: Option<Arc<History>>,
    /// The events being handled here, each with the latest delivery of it
    /// (a redelivery while it runs replaces the message its progress and
    /// its ack go to).
    running: Mutex<HashMap<EventId, Arc<tokio::sync::Mutex<jetstream::Message>>>>,
    /// The consumer's ack wait as the server has it, in milliseconds.
    ack_wait_ms: AtomicU64,
}

/// How often the consumer's ack wait is read again (another host may
/// have changed it): about every pull.
const REREAD_CONSUMER: Duration = Duration::from_secs(2);

impl Worker {
    pub fn new(
        cluster: Cluster,
        bot: Arc<Bot>,
        answers: Arc<ResponseForwarder>,
        history: Option<Arc<History>>,
    ) -> Worker {
        let ack_wait_ms = AtomicU64::new(cluster.settings.ack_wait.0.as_millis() as u64);
        Worker {
            cluster,
            bot,
            answers,
            history,
            running: Mutex::new(HashMap::new()),
            ack_wait_ms,
        }
    }

    /// How often to say "still working": a third of the consumer's ack
    /// wait, so one lost progress message does not cost the event.
    fn progress_every(&self) -> Duration {
        Duration::from_millis((self.ack_wait_ms.load(Ordering::Relaxed) / 3).max(100))
    }

    /// Pulls and handles events until the bot stops taking them.
    pub async fn run(self: Arc<Self>) {
        let work = self.bot.work().clone();
        let in_flight = self.bot.in_flight_permits();
        let mut consumer: Option<jetstream::consumer::PullConsumer> = None;
        let mut read_at = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        while !work.is_closed() {
            // At least one free place before asking for anything; it is not
            // held while the pull waits (an idle worker has nothing in
            // flight), and each event takes a place as it arrives.
            tokio::select! {
                permit = in_flight.clone().acquire_owned() => match permit {
                    Ok(p) => drop(p),
                    Err(_) => return,
                },
                () = work.stopped() => return,
            };
            let asked = in_flight.available_permits().max(1);
            if consumer.is_none() || read_at.elapsed() > REREAD_CONSUMER {
                match self.cluster.consumer().await {
                    Ok(mut c) => {
                        if let Ok(info) = c.info().await {
                            let ms = info.config.ack_wait.as_millis() as u64;
                            self.ack_wait_ms.store(ms, Ordering::Relaxed);
                        }
                        read_at = tokio::time::Instant::now();
                        consumer = Some(c);
                    }
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
                        let permit = match in_flight.clone().try_acquire_owned() {
                            Ok(p) => p,
                            Err(_) => {
                                // Taken meanwhile (a webhook, a tick): let
                                // another worker have it.
                                let _ = message.ack_with(AckKind::Nak(None)).await;
                                continue;
                            }
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
        let attempt = message.info().map(|i| i.delivered).unwrap_or(1).max(1) as u32;
        let envelope: Envelope = match serde_json::from_slice(&message.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("an event on the bus that is not one, dropped: {e}");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let Envelope { id, host, event } = envelope;
        // Still running here: this delivery joins the run (its progress and
        // its ack go to the newest delivery), and nothing runs twice.
        let message = Arc::new(tokio::sync::Mutex::new(message));
        let joined = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            match running.get(&id) {
                Some(current) => Some(current.clone()),
                None => {
                    running.insert(id, message.clone());
                    None
                }
            }
        };
        if let Some(current) = joined {
            drop(permit);
            tracing::info!(event = %id, from = %host, attempt, "redelivered while still running here: joined");
            let newest = Arc::try_unwrap(message).map(tokio::sync::Mutex::into_inner);
            if let Ok(newest) = newest {
                *current.lock().await = newest;
            }
            return;
        }
        let done = Running { worker: self, id };
        let Some(reservation) = self.bot.reserve_skill_slots(&event) else {
            // A skill it goes to is at its bound here: back to the stream,
            // for this worker or another a little later, rather than "busy".
            let later = Duration::from_millis((25 * u64::from(attempt)).min(500));
            drop(permit);
            tracing::debug!(event = %id, attempt, "busy here: back to the stream");
            drop(done);
            let _ = message
                .lock()
                .await
                .ack_with(AckKind::Nak(Some(later)))
                .await;
            return;
        };
        if attempt > 1 {
            // Run again even when a record of it is stored: its worker may
            // have died after storing it and before its answers were
            // delivered. What the connector's host already delivered, it
            // drops. (An earlier delivery was not acked: its worker died or
            // stopped, NATS was away past the ack wait, or a worker found a
            // skill of it busy and gave it back.)
            tracing::info!(event = %id, from = %host, attempt, "delivered again");
        }
        self.answers.begin(id, attempt, &host);
        let still_working = async {
            // Woken at least every second, so a shorter ack wait set by
            // another host meanwhile is kept from the next second on.
            let mut said = tokio::time::Instant::now();
            loop {
                let due = said + self.progress_every();
                tokio::time::sleep_until(
                    due.min(tokio::time::Instant::now() + Duration::from_secs(1)),
                )
                .await;
                if tokio::time::Instant::now() >= said + self.progress_every() {
                    let _ = message.lock().await.ack_with(AckKind::Progress).await;
                    said = tokio::time::Instant::now();
                }
            }
        };
        let handled = tokio::select! {
            executions = self.bot.handle_reserved(id, event, reservation.holding(permit)) => Some(executions),
            () = still_working => None,
            // Stopped mid-way at shutdown: not acked, so another worker
            // takes it now rather than after the ack wait.
            () = work.stopped() => None,
        };
        let undelivered = self.answers.undelivered(id);
        self.answers.end(id);
        let Some(mut executions) = handled else {
            drop(done);
            let _ = message.lock().await.ack_with(AckKind::Nak(None)).await;
            return;
        };
        if let Some(why) = undelivered
            && let Some(history) = &self.history
        {
            // Its records say the room never heard the answers (the same
            // ids: they replace what was recorded as the skills ended).
            for execution in &mut executions {
                execution.undelivered = Some(why.clone());
                history.record(execution);
            }
        }
        if !executions.is_empty()
            && let Some(history) = &self.history
        {
            history.caught_up().await;
        }
        // No longer running: a delivery after this is a new run.
        drop(done);
        if let Err(e) = message.lock().await.ack().await {
            tracing::warn!(event = %id, "could not ack a handled event: {e}");
        }
    }
}

/// An event handled here, until dropped.
struct Running<'w> {
    worker: &'w Worker,
    id: EventId,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.worker
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}
