//! The connector side's event sink on the bus: each event goes to the
//! work-queue stream, and `submit` returns once JetStream has stored it, so
//! a connector that awaits it cannot outrun the bus, and an event a
//! connector was told is taken is not lost. While NATS is unreachable the
//! publish is retried (with the event id as `Nats-Msg-Id`, so a retry
//! after a lost confirmation is stored once).

use super::Cluster;
use super::wire::Envelope;
use crate::bus::{Closed, EventSink};
use crate::event::{Event, EventId};
use crate::observe::BusPublished;
use crate::work::Work;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

pub struct BusEvents {
    cluster: Cluster,
    /// Closed when the bot stops: no more events are taken.
    work: Arc<Work>,
    /// Events stored in the stream, by connector.
    published: BusPublished,
}

impl BusEvents {
    pub fn new(cluster: Cluster, work: Arc<Work>, published: BusPublished) -> BusEvents {
        BusEvents {
            cluster,
            work,
            published,
        }
    }
}

impl EventSink for BusEvents {
    fn submit(&self, id: EventId, event: Event) -> BoxFuture<'_, Result<(), Closed>> {
        Box::pin(async move {
            let connector = event.connector().unwrap_or("-").to_owned();
            let envelope = Envelope {
                id,
                host: self.cluster.host.clone(),
                event,
            };
            let payload =
                bytes::Bytes::from(serde_json::to_vec(&envelope).expect("an event serializes"));
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id.to_string().as_str());
            let subject = self.cluster.events_subject();
            let mut pause = Duration::from_millis(20);
            loop {
                if self.work.is_closed() {
                    return Err(Closed);
                }
                let published = self
                    .cluster
                    .js
                    .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                    .await;
                let failed = match published {
                    Ok(stored) => match stored.await {
                        Ok(_) => {
                            self.published.count(&connector);
                            return Ok(());
                        }
                        Err(e) => e.to_string(),
                    },
                    Err(e) => e.to_string(),
                };
                tracing::warn!(event = %id, "the bus did not take an event ({failed}); retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        })
    }
}
