//! The dispatcher as connectors see it ([`Dispatch`]): each event handled
//! in its own task, a conversation's commands in the order received
//! (`crate::turns`), an event that arrives while the bot stops answered so
//! rather than dropped, and a request a stop interrupts told to its room.

use super::{Bot, reply_target};
use crate::bus::{Closed, EventSink};
use crate::event::{Event, EventId, Message};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The answer to a message that arrives while the bot is stopping.
pub const STOPPING: &str = "⏳ sandbot is stopping; try again in a moment";

/// The notice to a room whose request a stop interrupted.
pub(super) fn interrupted(asked: &str) -> String {
    let asked = asked.lines().next().unwrap_or_default();
    let mut shown: String = asked.chars().take(60).collect();
    if shown.len() < asked.len() {
        shown.push('…');
    }
    format!("⏹ `{shown}` was interrupted by a restart")
}

/// A message's conversation, whose commands run in order: its connector,
/// room and thread.
fn conversation(m: &Message) -> String {
    let thread = m.thread.as_deref().unwrap_or_default();
    format!("{}\0{}\0{thread}", m.connector, m.room)
}

impl Bot {
    /// Answers an event that arrived while the bot is stopping, instead of
    /// closing on it: a message is told so, and the event is finished at
    /// once (its connector waits for nothing).
    async fn stopping(&self, id: EventId, event: &Event) -> Result<(), Closed> {
        let Some(m) = event.message() else {
            return Err(Closed);
        };
        tracing::info!(connector = %m.connector, "a message while stopping: answered, not handled");
        self.say(reply_target(m), id, STOPPING.into()).await;
        self.responses.finished(&m.connector, id).await;
        Ok(())
    }
}

/// The dispatcher as connectors see it: an event sink that takes an event,
/// waits for a place among `max-in-flight`, and handles it in the background.
pub struct Dispatch(pub Arc<Bot>);

impl EventSink for Dispatch {
    fn submit(&self, id: EventId, event: Event) -> BoxFuture<'_, Result<(), Closed>> {
        Box::pin(async move {
            if self.0.work.is_closed() {
                return self.0.stopping(id, &event).await;
            }
            // A command takes its turn now, in the order the connector
            // received it, and runs once its conversation's command before
            // it is over (`crate::turns`).
            let turn = event
                .message()
                .filter(|m| self.0.commands.is_command(m))
                .map(|m| self.0.turns.take(conversation(m)));
            let permit = self
                .0
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Closed)?;
            let entered = self.0.work.enter();
            let bot = self.0.clone();
            let connector = event.connector().map(str::to_owned);
            tokio::spawn(async move {
                // What was asked, for the notice if a stop interrupts it.
                let asked = event.message().map(|m| (reply_target(m), m.text.clone()));
                let handled = async {
                    let mut turn = turn;
                    if let Some(turn) = &mut turn {
                        turn.wait().await;
                    }
                    bot.handle(id, event, None).await;
                    drop(turn);
                };
                let handled = std::panic::AssertUnwindSafe(handled).catch_unwind();
                let ended = tokio::select! {
                    handled = handled => handled.is_ok(),
                    // Stopped at shutdown: its executions recorded
                    // themselves as interrupted when dropped.
                    () = bot.work.stopped() => false,
                };
                if !ended {
                    // A bug, not a skill (skills trap inside wasmtime), or
                    // shutdown: the event still ends, so its connector is
                    // not left waiting.
                    if !bot.work.is_closed() {
                        tracing::error!(event = %id, "handling an event panicked");
                    } else if let Some((target, text)) = asked {
                        bot.say(target, id, interrupted(&text)).await;
                    }
                    if let Some(connector) = connector {
                        bot.responses.finished(&connector, id).await;
                    }
                }
                drop(permit);
                drop(entered);
            });
            Ok(())
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.0.work.idle())
    }

    fn undelivered(&self, id: EventId, why: String) -> BoxFuture<'_, ()> {
        for observer in &self.0.observers {
            observer.undelivered(id, &why);
        }
        Box::pin(async {})
    }
}
