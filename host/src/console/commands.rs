//! The console as a connector: an operator's command (`approve 3`,
//! `workflow cancel 2`, `skill disable hello`, or anything a skill answers)
//! goes to the dispatcher through the event sink like any connector's
//! message, from the identity `console:NAME`, so the configuration's lists
//! (`admins`, approvers, permissions) decide what it may do, one list for
//! chat and console; its answers come back through the `console` outbox
//! and are handed to the request that asked.

use crate::bus::{Delivery, EventSink};
use crate::event::{Event, EventId, Message, ResponseBody, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The connector name the console's events carry.
pub const CONNECTOR: &str = "console";
/// How long a command's answers are waited for (a long run answers later,
/// in the history).
pub const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Commands waiting for their answers, by event.
#[derive(Default)]
pub struct Conversations {
    waiting: Mutex<HashMap<EventId, mpsc::UnboundedSender<Delivery>>>,
}

/// What a command was answered.
pub struct Answered {
    pub texts: Vec<String>,
    /// Every answer came (the event finished) within [`ANSWER_WAIT`].
    pub finished: bool,
}

impl Conversations {
    /// Starts handing the `console` outbox's deliveries to their requests.
    pub fn start(mut outbox: mpsc::Receiver<Delivery>) -> Arc<Conversations> {
        let conversations = Arc::new(Conversations::default());
        let routing = conversations.clone();
        tokio::spawn(async move {
            while let Some(delivery) = outbox.recv().await {
                let id = match &delivery {
                    Delivery::Response(r) => r.in_reply_to,
                    Delivery::Finished(id) => Some(*id),
                };
                let waiting = routing.waiting.lock().unwrap_or_else(|e| e.into_inner());
                // An answer nobody waits for any more (timed out) is in the
                // history; here it is dropped.
                if let Some(to) = id.and_then(|id| waiting.get(&id)) {
                    let _ = to.send(delivery);
                }
            }
        });
        conversations
    }

    /// Says `text` to the bot as `console:<name>` and gathers its answers.
    pub async fn ask(
        &self,
        events: &dyn EventSink,
        name: &str,
        text: &str,
    ) -> Result<Answered, crate::bus::Closed> {
        let id = EventId::next();
        let (to, mut answers) = mpsc::unbounded_channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, to);
        let event = Event::Message(Message {
            id: id.to_string(),
            text: text.to_owned(),
            user: name.to_owned(),
            user_id: name.to_owned(),
            room: CONNECTOR.into(),
            connector: CONNECTOR.into(),
            thread: None,
            received_at: now_ms(),
            addressed: true,
        });
        let submitted = events.submit(id, event).await;
        let mut answered = Answered {
            texts: Vec::new(),
            finished: false,
        };
        if submitted.is_ok() {
            let gather = async {
                while let Some(delivery) = answers.recv().await {
                    match delivery {
                        Delivery::Response(r) => {
                            if let ResponseBody::Text(t) = r.body {
                                answered.texts.push(t);
                            }
                        }
                        Delivery::Finished(_) => return true,
                    }
                }
                false
            };
            answered.finished = tokio::time::timeout(ANSWER_WAIT, gather)
                .await
                .unwrap_or(false);
        }
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        submitted.map(|()| answered)
    }
}
