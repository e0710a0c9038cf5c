use crate::event::{Response, ResponseBody, Target};
use crate::runtime::bindings::chat;
use crate::runtime::state::State;

impl State {
    fn origin_or(&self, what: &str) -> Result<&crate::event::Origin, String> {
        self.origin
            .as_ref()
            .ok_or_else(|| format!("cannot {what}: this event did not come from a chat room"))
    }
}

impl chat::Host for State {
    async fn respond(&mut self, text: String) -> Result<(), String> {
        let target = self.origin_or("respond")?.target.clone();
        let response = Response {
            target,
            body: ResponseBody::Text(text),
        };
        self.skill.outboxes.deliver(response).await
    }

    async fn send(&mut self, target: chat::Target, text: String) -> Result<(), String> {
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
