//! Answers on their way back, both ends. [`ResponseForwarder`] is the response sink a
//! worker's skills answer through: an answer to an event goes to the host
//! the event came from (its id's origin), with the answers after it and the
//! event's end when they come soon enough, as one NATS request that host
//! confirms, retried until it does (a server restart loses nothing a worker
//! has been told is delivered) — unless that host is gone (no responders,
//! and no live host has that origin): then at once, so a dead host's events
//! hold no worker. [`ResponseReceiver`] is that host's end: it delivers each answer
//! into its connector's outbox once, however often a redelivered event ran:
//! answers are numbered per event, each carries the delivery (attempt) of
//! the run that gave it, and a later attempt supersedes an earlier one, so
//! a run that goes on after its event was taken over elsewhere is heard no
//! more. Whatever arrives for an event already finished is dropped.

use super::Cluster;
use super::wire::Reply;
use crate::bus::{DeliveryError, Outboxes, ResponseSink};
use crate::event::{EventId, Response};
use anyhow::Result;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a host remembers a finished event, to drop what a second run
/// of it says. Longer than any ack wait plus a run.
const REMEMBER_FINISHED: Duration = Duration::from_secs(600);
/// An event whose answers started but whose end never came (its worker
/// died and nobody reran it) is forgotten after this.
const FORGET_UNFINISHED: Duration = Duration::from_secs(3600);

/// The connector host's end.
pub struct ResponseReceiver {
    outboxes: Arc<Outboxes>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    events: HashMap<EventId, Delivered>,
    /// Oldest first, to forget them in order.
    order: VecDeque<(Instant, EventId)>,
}

struct Delivered {
    seqs: HashSet<u32>,
    finished: bool,
    /// The latest delivery of the event whose run was heard from.
    attempt: u32,
}

impl ResponseReceiver {
    pub fn new(outboxes: Arc<Outboxes>) -> Arc<ResponseReceiver> {
        Arc::new(ResponseReceiver {
            outboxes,
            seen: Mutex::new(Seen::default()),
        })
    }

    /// Does a connector of this host's go by `name`?
    pub fn has_connector(&self, name: &str) -> bool {
        self.outboxes.connectors().any(|c| c == name)
    }

    /// Should `reply` go out: not a repeat, not after its event's end.
    fn first_time(&self, reply: &Reply) -> bool {
        let Some(event) = reply.event() else {
            return true;
        };
        // Unnumbered: a background run's answer, which may come after its
        // event's end and is never repeated by a redelivery.
        if let Reply::Response { seq: None, .. } = reply {
            return true;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.forget_old();
        let Seen { events, order } = &mut *seen;
        let entry = events.entry(event).or_insert_with(|| {
            order.push_back((Instant::now(), event));
            Delivered {
                seqs: HashSet::new(),
                finished: false,
                attempt: 0,
            }
        });
        if entry.finished {
            return false;
        }
        // A run of an earlier delivery, still going after a later one took
        // the event over: superseded, heard no more.
        if reply.attempt() < entry.attempt {
            return false;
        }
        entry.attempt = reply.attempt();
        match reply {
            Reply::Response { seq, .. } => entry.seqs.insert(seq.unwrap_or_default()),
            Reply::Finished { .. } => {
                entry.finished = true;
                entry.seqs = HashSet::new();
                true
            }
        }
    }

    /// Delivers `reply` to its connector's outbox, unless it is a repeat.
    pub async fn accept(&self, reply: Reply) -> Result<(), DeliveryError> {
        if !self.first_time(&reply) {
            tracing::debug!(event = ?reply.event(), "a repeated answer dropped");
            return Ok(());
        }
        match reply {
            Reply::Response { response, .. } => self.outboxes.deliver(response).await,
            Reply::Finished {
                event, connector, ..
            } => {
                self.outboxes.finished(&connector, event).await;
                Ok(())
            }
        }
    }

    /// Takes answers for this host's events, and those to its connectors
    /// that reply to no event, confirming each batch once it is in an
    /// outbox.
    pub async fn listen(self: Arc<Self>, cluster: Cluster) -> Result<()> {
        let mut subjects = vec![
            cluster
                .client
                .subscribe(cluster.replies_subject(cluster.origin))
                .await?,
        ];
        for connector in self.outboxes.connectors() {
            subjects.push(
                cluster
                    .client
                    .queue_subscribe(cluster.connector_subject(connector), "connectors".into())
                    .await?,
            );
        }
        let mut all = futures::stream::select_all(subjects);
        while let Some(message) = all.next().await {
            let replies: Vec<Reply> = match serde_json::from_slice(&message.payload) {
                Ok(replies) => replies,
                Err(e) => {
                    tracing::warn!(subject = %message.subject, "answers on the bus that are not: {e}");
                    continue;
                }
            };
            // In order: a batch is one event's answers and maybe its end.
            let mut refused = None;
            for reply in replies {
                if let Err(e) = self.accept(reply).await {
                    refused.get_or_insert(e);
                }
            }
            if let Some(confirm) = message.reply {
                let answer = match refused {
                    None => bytes::Bytes::new(),
                    Some(e) => bytes::Bytes::from(e.to_string()),
                };
                if let Err(e) = cluster.client.publish(confirm, answer).await {
                    tracing::debug!("could not confirm an answer: {e}");
                }
            }
        }
        Ok(())
    }
}

impl Seen {
    fn forget_old(&mut self) {
        while let Some(&(at, id)) = self.order.front() {
            let age = at.elapsed();
            let forget = match self.events.get(&id) {
                Some(d) if d.finished => age > REMEMBER_FINISHED,
                Some(_) => age > FORGET_UNFINISHED,
                None => true,
            };
            if !forget {
                break;
            }
            self.order.pop_front();
            self.events.remove(&id);
        }
    }
}

/// Shards of the answer queues, so workers' tasks seldom meet on a lock.
const SHARDS: usize = 16;

/// How long an answer waits for the ones after it (and its event's end)
/// before it goes out alone. A run that answers and ends within it (most
/// do, in microseconds) costs one confirmed request to its connector's
/// host instead of one per answer plus one for the end; a run that keeps
/// going has its answer out this much later.
const LINGER: Duration = Duration::from_millis(5);

/// The worker's response sink.
pub struct ResponseForwarder {
    cluster: Arc<Cluster>,
    local: Arc<ResponseReceiver>,
    queues: Arc<Queues>,
}

/// The answers to each event being handled here.
struct Queues([Mutex<HashMap<EventId, Outgoing>>; SHARDS]);

impl Queues {
    fn shard(&self, id: EventId) -> std::sync::MutexGuard<'_, HashMap<EventId, Outgoing>> {
        self.0[(id.0 as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers to one event on their way: how many so far, those not sent yet,
/// and the task sending them, if one runs.
#[derive(Default)]
struct Outgoing {
    next: u32,
    /// The delivery of the event this host's run handles.
    attempt: u32,
    /// The host the event came from, by name.
    from: Arc<str>,
    queued: Vec<Reply>,
    sender: Option<Sender>,
    /// Why answers to it were given up on, if any were.
    undelivered: Option<String>,
}

/// The task that sends an event's queued answers, in order, in batches.
struct Sender {
    /// Cuts its linger short (the event ended).
    now: Arc<tokio::sync::Notify>,
    /// Closed when it has sent everything and gone; taken by the event's
    /// end, which waits for it.
    gone: Option<oneshot::Receiver<()>>,
}

/// Where a reply goes.
enum Route {
    /// A connector of this host's: straight into its outbox.
    Here,
    /// Another host's, on this subject.
    There(String),
}

impl ResponseForwarder {
    pub fn new(cluster: Cluster, local: Arc<ResponseReceiver>) -> Arc<ResponseForwarder> {
        Arc::new(ResponseForwarder {
            cluster: Arc::new(cluster),
            local,
            queues: Arc::new(Queues(std::array::from_fn(|_| Mutex::new(HashMap::new())))),
        })
    }

    fn shard(&self, id: EventId) -> std::sync::MutexGuard<'_, HashMap<EventId, Outgoing>> {
        self.queues.shard(id)
    }

    /// Starts numbering the answers to `id`, which this host runs for its
    /// `attempt`th delivery. The worker runs an event once at a time here
    /// (a redelivery while it runs joins the run), so nothing else numbers
    /// them meanwhile.
    pub fn begin(&self, id: EventId, attempt: u32, from: &str) {
        self.shard(id).insert(
            id,
            Outgoing {
                attempt,
                from: from.into(),
                ..Outgoing::default()
            },
        );
    }

    /// The host event `id` came from, while it is handled here.
    fn from(&self, id: EventId) -> Option<Arc<str>> {
        self.shard(id).get(&id).map(|out| out.from.clone())
    }

    /// Why answers to `id` were given up on, if any were (its sender has
    /// finished once the event's end was said).
    pub fn undelivered(&self, id: EventId) -> Option<String> {
        self.shard(id)
            .get(&id)
            .and_then(|out| out.undelivered.clone())
    }

    /// Stops numbering them: answers after this (a background run's) go
    /// out unnumbered, one by one.
    pub fn end(&self, id: EventId) {
        self.shard(id).remove(&id);
    }

    fn route(&self, event: Option<EventId>, connector: &str) -> Route {
        match event {
            Some(id) if id.origin() == self.cluster.origin => Route::Here,
            Some(id) => Route::There(self.cluster.replies_subject(id.origin())),
            None if self.local.has_connector(connector) => Route::Here,
            None => Route::There(self.cluster.connector_subject(connector)),
        }
    }

    /// Queues `reply` for event `id`'s sender, starting one if none runs.
    fn queue(&self, id: EventId, subject: String, connector: &str, reply: Reply) {
        let mut events = self.shard(id);
        let Some(out) = events.get_mut(&id) else {
            return;
        };
        out.queued.push(reply);
        if out.sender.is_some() {
            return;
        }
        let now = Arc::new(tokio::sync::Notify::new());
        let (done, gone) = oneshot::channel::<()>();
        out.sender = Some(Sender {
            now: now.clone(),
            gone: Some(gone),
        });
        drop(events);
        let (queues, cluster) = (self.queues.clone(), self.cluster.clone());
        let connector = connector.to_owned();
        let origin = self.from(id).map(|host| (host, id.origin()));
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = now.notified() => {}
            }
            loop {
                let batch = {
                    let mut events = queues.shard(id);
                    let Some(out) = events.get_mut(&id) else {
                        break;
                    };
                    if out.queued.is_empty() {
                        out.sender = None;
                        break;
                    }
                    std::mem::take(&mut out.queued)
                };
                if let Err(given_up) = confirmed(
                    &cluster,
                    subject.clone(),
                    origin.clone(),
                    encode(&batch),
                    &connector,
                )
                .await
                    && let Some(out) = queues.shard(id).get_mut(&id)
                {
                    out.undelivered.get_or_insert(given_up.why);
                }
            }
            drop(done);
        });
    }
}

/// An answer given up on: for the connector's sink, and why, for the
/// event's records.
#[derive(Debug)]
struct GivenUp {
    connector: String,
    why: String,
}

impl GivenUp {
    fn new(connector: &str, why: String) -> GivenUp {
        GivenUp {
            connector: connector.to_owned(),
            why,
        }
    }
}

impl From<GivenUp> for DeliveryError {
    fn from(given_up: GivenUp) -> DeliveryError {
        DeliveryError::Stopped(given_up.connector)
    }
}

/// How long an answer is retried while NATS is unreachable.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// How long while nobody listens on the subject (the host is gone, or not
/// yet back after a server restart).
const RETRY_NO_LISTENER: Duration = Duration::from_secs(10);

/// A request to the connector's host, retried until it confirms, or at once
/// given up when nobody listens and `origin`'s host (by name, with the mark
/// of the process the event came from) has started again since: nobody
/// will ever take it.
async fn confirmed(
    cluster: &Cluster,
    subject: String,
    origin: Option<(Arc<str>, u32)>,
    payload: bytes::Bytes,
    connector: &str,
) -> Result<(), GivenUp> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let request = cluster.client.request(subject.clone(), payload.clone());
        let failed = match tokio::time::timeout(Duration::from_secs(5), request).await {
            Ok(Ok(answer)) if answer.payload.is_empty() => return Ok(()),
            Ok(Ok(answer)) => {
                // Its host has no such connector, or it stopped: retrying
                // would not help.
                let why = String::from_utf8_lossy(&answer.payload).into_owned();
                tracing::warn!(connector, "the connector's host refused an answer: {why}");
                return Err(GivenUp::new(
                    connector,
                    format!("the connector's host refused it: {why}"),
                ));
            }
            Ok(Err(e)) => {
                let gone = matches!(e.kind(), async_nats::client::RequestErrorKind::NoResponders);
                if gone
                    && let Some((host, mark)) = &origin
                    && super::hosts::restarted_since(cluster, host, *mark).await
                {
                    tracing::warn!(
                        connector,
                        %host,
                        "an answer dropped: the host whose event it answers has started again since"
                    );
                    return Err(GivenUp::new(
                        connector,
                        format!(
                            "dropped: {host}, whose connector took the event, has started again since"
                        ),
                    ));
                }
                let limit = if gone { RETRY_NO_LISTENER } else { RETRY_FOR };
                (e.to_string(), limit)
            }
            Err(_) => ("no confirmation within 5 s".into(), RETRY_FOR),
        };
        if started.elapsed() > failed.1 {
            tracing::warn!(
                connector,
                subject,
                "an answer could not be delivered: {}",
                failed.0
            );
            return Err(GivenUp::new(
                connector,
                format!(
                    "not delivered within {} s: {}",
                    failed.1.as_secs(),
                    failed.0
                ),
            ));
        }
        tracing::debug!(connector, "answer not confirmed ({}); retrying", failed.0);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

impl ResponseSink for ResponseForwarder {
    /// An answer to another host's event is queued and sent in the
    /// background (with those after it, see [`LINGER`]), so a skill never
    /// waits on the network (nor on NATS coming back after a restart): its
    /// time budget is its own. [`ResponseSink::finished`] waits for them all.
    fn deliver(&self, response: Response) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            let connector = response.target.connector.clone();
            let event = response.in_reply_to;
            let numbered = event.and_then(|id| {
                let mut events = self.shard(id);
                let out = events.get_mut(&id)?;
                out.next += 1;
                Some((id, out.next - 1, out.attempt))
            });
            let reply = Reply::Response {
                seq: numbered.map(|(_, seq, _)| seq),
                attempt: numbered.map_or(0, |(.., attempt)| attempt),
                response,
            };
            let subject = match self.route(event, &connector) {
                Route::Here => return self.local.accept(reply).await,
                Route::There(subject) => subject,
            };
            match numbered {
                Some((id, ..)) => {
                    self.queue(id, subject, &connector, reply);
                    Ok(())
                }
                None => {
                    let origin = event.and_then(|id| Some((self.from(id)?, id.origin())));
                    confirmed(&self.cluster, subject, origin, encode(&[reply]), &connector)
                        .await
                        .map_err(DeliveryError::from)
                }
            }
        })
    }

    fn finished(&self, connector: &str, event: EventId) -> BoxFuture<'_, ()> {
        let connector = connector.to_owned();
        Box::pin(async move {
            let attempt = self.shard(event).get(&event).map_or(0, |out| out.attempt);
            let reply = Reply::Finished {
                event,
                connector: connector.clone(),
                attempt,
            };
            let subject = match self.route(Some(event), &connector) {
                Route::Here => {
                    if let Err(e) = self.local.accept(reply).await {
                        tracing::warn!(%event, "could not say the event is finished: {e}");
                    }
                    return;
                }
                Route::There(subject) => subject,
            };
            // With the answers still queued, if their sender runs: it takes
            // this in its next batch, at once.
            let running = {
                let mut events = self.shard(event);
                match events.get_mut(&event) {
                    Some(Outgoing {
                        queued,
                        sender: Some(sender),
                        ..
                    }) => {
                        queued.push(reply);
                        sender.now.notify_one();
                        Ok(sender.gone.take())
                    }
                    _ => Err(reply),
                }
            };
            match running {
                Ok(gone) => {
                    if let Some(gone) = gone {
                        let _ = gone.await;
                    }
                }
                Err(reply) => {
                    let origin = self.from(event).map(|host| (host, event.origin()));
                    let sent =
                        confirmed(&self.cluster, subject, origin, encode(&[reply]), &connector)
                            .await;
                    if let Err(given_up) = sent {
                        tracing::warn!(%event, "could not say the event is finished: {}", given_up.why);
                    }
                }
            }
        })
    }
}

/// Replies as they cross the bus: a batch, in order.
fn encode(replies: &[Reply]) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(replies).expect("a reply serializes"))
}
