//! Matrix's sending side: answers in order, each part of a long one
//! (`split`) under its own transaction id, retried while the homeserver is
//! away (down, restarting, answering 5xx, or the bot logging in again after
//! its token was revoked) until it is taken or `deliver-within` has passed.
//! The same transaction id on every try makes a retry of a message the
//! server did take a no-op, never a second copy. An answer given up on is
//! logged once and reported (`ConnectorSink::undelivered`), so its
//! execution's record does not say it reached the room.

use super::ConnectorSink;
use super::backoff::Backoff;
use super::split;
use crate::bus::Delivery;
use crate::event::{Response, ResponseBody};
use anyhow::anyhow;
use matrix_sdk::Client;
use matrix_sdk::ruma::events::AnyMessageLikeEventContent;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::{Annotation, Thread};
use matrix_sdk::ruma::events::room::message::{Relation, RoomMessageEventContent};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, TransactionId};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Matrix refuses events over 64 KiB (the whole event's JSON, where a
/// quote or a control character takes more than one byte): answers go out
/// in messages of at most half that.
const MESSAGE_BYTES: usize = 32 * 1024;

/// How the sender works, from the connector's settings.
pub struct Sender {
    /// The client now: a new one after the bot logged in again.
    pub client: watch::Receiver<Client>,
    pub notice: bool,
    pub max_parts: usize,
    /// How long one answer is retried before it is given up.
    pub deliver_within: Duration,
    pub connector: String,
    /// Where an answer given up on is reported.
    pub events: ConnectorSink,
}

/// One message to send: its content and the transaction id all its tries share.
struct Outgoing {
    room: OwnedRoomId,
    content: AnyMessageLikeEventContent,
    txn: OwnedTransactionId,
}

/// Sends answers in order until the outbox closes.
pub async fn send_answers(sender: Sender, mut outbox: mpsc::Receiver<Delivery>) {
    while let Some(delivery) = outbox.recv().await {
        let Delivery::Response(response) = delivery else {
            continue;
        };
        let outgoing = match messages(&sender, &response) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(connector = %sender.connector, room = %response.target.room, "cannot send an answer: {e:#}");
                sender.gave_up(&response, &e.to_string()).await;
                continue;
            }
        };
        for message in outgoing {
            if let Err(why) = sender.deliver(&message).await {
                sender.gave_up(&response, &why).await;
                break;
            }
        }
    }
}

impl Sender {
    /// Tries `message` until the homeserver takes it or `deliver-within`
    /// has passed; says so once when it starts waiting and once when it
    /// gives up.
    async fn deliver(&self, message: &Outgoing) -> Result<(), String> {
        let started = Instant::now();
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        loop {
            let client = self.client.borrow().clone();
            let error = match client.get_room(&message.room) {
                None => format!("the bot is not in room {}", message.room),
                Some(room) => match room
                    .send(message.content.clone())
                    .with_transaction_id(message.txn.clone())
                    .await
                {
                    Ok(_) => {
                        if backoff.attempt() > 0 {
                            tracing::info!(connector = %self.connector, room = %message.room, tries = backoff.attempt() + 1, "an answer went out after the homeserver came back");
                        }
                        return Ok(());
                    }
                    Err(e) => e.to_string(),
                },
            };
            let wait = backoff.fail();
            if started.elapsed() + wait > self.deliver_within {
                tracing::warn!(connector = %self.connector, room = %message.room, tries = backoff.attempt(), "an answer was given up after {:.0?} (deliver-within): {error}", started.elapsed());
                return Err(format!(
                    "not taken by the homeserver within {:?} (deliver-within): {error}",
                    self.deliver_within
                ));
            }
            if backoff.attempt() == 1 {
                tracing::warn!(connector = %self.connector, room = %message.room, "cannot send an answer yet: {error}; retrying for up to {:?} (deliver-within)", self.deliver_within);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Reports an answer given up on, for its execution's record.
    async fn gave_up(&self, response: &Response, why: &str) {
        if let Some(id) = response.in_reply_to {
            self.events.undelivered(id, why.to_owned()).await;
        }
    }
}

/// The messages that carry `response`: a long text's parts, or a reaction.
fn messages(sender: &Sender, response: &Response) -> anyhow::Result<Vec<Outgoing>> {
    let room = OwnedRoomId::try_from(response.target.room.as_str())
        .map_err(|e| anyhow!("`{}` is not a room id: {e}", response.target.room))?;
    let contents: Vec<AnyMessageLikeEventContent> = match &response.body {
        ResponseBody::Text(text) => {
            let thread = match &response.target.thread {
                Some(root) => Some(
                    OwnedEventId::try_from(root.as_str())
                        .map_err(|e| anyhow!("`{root}` is not an event id: {e}"))?,
                ),
                None => None,
            };
            split::for_chat(
                text,
                MESSAGE_BYTES,
                sender.max_parts,
                split::bytes,
                response.in_reply_to,
            )
            .into_iter()
            .map(|piece| {
                let mut content = if sender.notice {
                    RoomMessageEventContent::notice_plain(piece)
                } else {
                    RoomMessageEventContent::text_plain(piece)
                };
                if let Some(root) = &thread {
                    content.relates_to =
                        Some(Relation::Thread(Thread::plain(root.clone(), root.clone())));
                }
                content.into()
            })
            .collect()
        }
        ResponseBody::Reaction { message_id, emoji } => {
            let event_id = OwnedEventId::try_from(message_id.as_str())
                .map_err(|e| anyhow!("`{message_id}` is not an event id: {e}"))?;
            vec![ReactionEventContent::new(Annotation::new(event_id, emoji.clone())).into()]
        }
    };
    Ok(contents
        .into_iter()
        .map(|content| Outgoing {
            room: room.clone(),
            content,
            txn: TransactionId::new(),
        })
        .collect())
}
