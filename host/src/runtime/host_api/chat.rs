//! `chat`: a skill answers in the room its event came from (a webhook's
//! answer goes back to the HTTP caller instead); sending anywhere
//! else needs an `allow.send` grant. Every message counts against
//! `limits.responses` and `limits.response-size`, names the event it
//! answers, and is recorded for the execution. `describe` may not talk.
//! `set-result` gives the execution a structured (JSON) result beside its
//! answers, which workflows read; a skill may never call it. A result
//! nested deeper than `stored::VALUE_DEPTH` is refused (a workflow keeps it).

use crate::event::{HTTP_CALLER, Origin, Response, ResponseBody, Target};
use crate::grants::SendRefused;
use crate::runtime::bindings::chat;
use crate::runtime::store::{Phase, State};
use crate::text::for_log;

impl State {
    /// Counts a message against `limits.responses` and checks its size; the
    /// first refusal of each kind is logged for the operator.
    fn admit_message(&mut self, text: &str) -> Result<(), String> {
        if self.phase == Phase::Describe {
            tracing::warn!(skill = %self.skill.name, "denied: a message from `describe`, which runs at load and may not talk");
            return Err(self.deny("`describe` may not send messages: it runs when the skill loads, before anyone asked".into()));
        }
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

    fn origin_or(&self, what: &str) -> Result<&Origin, String> {
        self.origin
            .as_ref()
            .ok_or_else(|| format!("cannot {what}: this event did not come from a chat room"))
    }

    /// Delivers `response` and records it for the execution.
    async fn emit(&mut self, target: Target, body: ResponseBody) -> Result<(), String> {
        let response = Response {
            target,
            body,
            in_reply_to: self.event_id,
        };
        self.skill
            .responses
            .deliver(response.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.sent.push(response);
        Ok(())
    }
}

impl chat::Host for State {
    async fn respond(&mut self, text: String) -> Result<(), String> {
        let text = match &self.reword {
            Some(reword) => reword(text),
            None => text,
        };
        self.admit_message(&text)?;
        if self.answers_http {
            // Kept for the HTTP response or the workflow (the execution's
            // record), not sent.
            let response = Response {
                target: Target {
                    connector: HTTP_CALLER.into(),
                    room: String::new(),
                    thread: None,
                },
                body: ResponseBody::Text(text),
                in_reply_to: self.event_id,
            };
            self.sent.push(response);
            return Ok(());
        }
        let target = self.origin_or("respond")?.target.clone();
        self.emit(target, ResponseBody::Text(text)).await
    }

    async fn send(&mut self, target: chat::Target, text: String) -> Result<(), String> {
        self.admit_message(&text)?;
        let origin = self.origin.as_ref().map(|o| &o.target);
        let connector = match (target.connector, origin) {
            (Some(c), _) => c,
            (None, Some(origin)) => origin.connector.clone(),
            (None, None) => {
                return Err("send needs a connector: this event did not come from one".into());
            }
        };
        let from = origin.map(|o| (o.connector.as_str(), o.room.as_str()));
        if let Err(refused) = self.skill.grants.may_send(&connector, &target.room, from) {
            let name = &self.skill.name;
            let place = format!("{}:{}", for_log(&connector), for_log(&target.room));
            let why = match &refused {
                SendRefused::NotGranted => {
                    tracing::warn!(skill = %name, "denied: send to {place}, which skills.{name}.allow.send does not grant");
                    format!(
                        "sending to {place} is not granted to this skill (skills.{name}.allow.send); it may answer where its event came from"
                    )
                }
                SendRefused::NotOne { .. } => {
                    tracing::warn!(skill = %name, "denied: send to {place}: {refused}");
                    format!("sending to {place} is refused: {refused} (skills.{name}.allow.send)")
                }
            };
            return Err(self.deny(why));
        }
        let target = Target {
            connector,
            room: target.room,
            thread: target.thread,
        };
        self.emit(target, ResponseBody::Text(text)).await
    }

    async fn set_result(&mut self, json: String) -> Result<(), String> {
        if self.phase == Phase::Describe {
            return Err("`describe` may not give a result".into());
        }
        let limit = self.skill.limits.response_size.0;
        if json.len() as u64 > limit {
            return Err(format!(
                "a result of {} bytes is over this skill's limit of {} (limits.response-size)",
                json.len(),
                self.skill.limits.response_size
            ));
        }
        let value =
            serde_json::from_str(&json).map_err(|e| format!("the result is not JSON: {e}"))?;
        // Kept in a workflow's store: what its reader could not take back
        // is refused here, to the skill, not found at the next start.
        crate::stored::check_value(&value).map_err(|e| format!("the result is refused: {e}"))?;
        self.structured = Some(value);
        Ok(())
    }

    async fn react(&mut self, emoji: String) -> Result<(), String> {
        self.admit_message(&emoji)?;
        let origin = self.origin_or("react")?;
        let message_id = origin
            .message_id
            .clone()
            .ok_or("cannot react: this event is not about a message")?;
        let target = origin.target.clone();
        self.emit(target, ResponseBody::Reaction { message_id, emoji })
            .await
    }
}
