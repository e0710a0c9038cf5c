use crate::event::{Response, ResponseBody, Target};
use crate::runtime::bindings::chat;
use crate::runtime::state::State;

impl State {
    /// Counts a message against `limits.responses` and checks its size; the
    /// first refusal of each kind is logged for the operator.
    fn admit_message(&mut self, text: &str) -> Result<(), String> {
        let limits = self.skill.limits;
        if text.len() as u64 > limits.response_size.0 {
            tracing::warn!(skill = %self.skill.name, bytes = text.len(), "message refused: over limits.response-size ({})", limits.response_size);
            return Err(format!(
                "message of {} bytes is over this skill's limit of {} (limits.response-size)",
                text.len(),
                limits.response_size
            ));
        }
        if self.messages_sent >= limits.responses {
            if self.messages_sent == limits.responses {
                tracing::warn!(skill = %self.skill.name, "messages refused: over limits.responses ({}) for one event", limits.responses);
            }
            self.messages_sent = self.messages_sent.saturating_add(1);
            return Err(format!(
                "this event already sent {} messages, this skill's limit (limits.responses)",
                limits.responses
            ));
        }
        self.messages_sent += 1;
        Ok(())
    }

    fn origin_or(&self, what: &str) -> Result<&crate::event::Origin, String> {
        self.origin
            .as_ref()
            .ok_or_else(|| format!("cannot {what}: this event did not come from a chat room"))
    }
}

impl chat::Host for State {
    async fn respond(&mut self, text: String) -> Result<(), String> {
        self.admit_message(&text)?;
        let target = self.origin_or("respond")?.target.clone();
        let response = Response {
            target,
            body: ResponseBody::Text(text),
        };
        self.skill.outboxes.deliver(response).await
    }

    async fn send(&mut self, target: chat::Target, text: String) -> Result<(), String> {
        self.admit_message(&text)?;
        let connector = match (target.connector, &self.origin) {
            (Some(c), _) => c,
            (None, Some(origin)) => origin.target.connector.clone(),
            (None, None) => {
                return Err("send needs a connector: this event did not come from one".into());
            }
        };
        let response = Response {
            target: Target {
                connector,
                room: target.room,
                thread: target.thread,
            },
            body: ResponseBody::Text(text),
        };
        self.skill.outboxes.deliver(response).await
    }

    async fn react(&mut self, emoji: String) -> Result<(), String> {
        self.admit_message(&emoji)?;
        let origin = self.origin_or("react")?;
        let message_id = origin
            .message_id
            .clone()
            .ok_or("cannot react: this event is not about a message")?;
        let response = Response {
            target: origin.target.clone(),
            body: ResponseBody::Reaction { message_id, emoji },
        };
        self.skill.outboxes.deliver(response).await
    }
}
