//! `chat`: a skill answers in the room its event came from (a webhook's
//! answer goes back to the HTTP caller instead); sending anywhere
//! else needs an `allow.send` grant. Every message counts against
//! `limits.responses`, is cut (with a note) at `limits.response-size`,
//! names the event it answers, and is recorded for the execution. `describe` may not talk.
//! `set-result` gives the execution a structured (JSON) result beside its
//! answers, which workflows read; a skill may never call it. A result
//! nested deeper than `stored::VALUE_DEPTH` is refused (a workflow keeps it).
//!
//! [`ChatGrant`] is made once per load (the skill's `allow.send`, its
//! limits, where answers go); each store's [`ChatState`] holds what one
//! event has said so far.

use crate::bus::ResponseSink;
use crate::event::{EventId, HTTP_CALLER, Origin, Response, ResponseBody, Target};
use crate::grants::{Grants, SendRefused};
use crate::limits::ByteSize;
use crate::runtime::bindings::chat;
use crate::runtime::phase::Phase;
use crate::text::for_log;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// Rewrites each answer `respond` gives (an operator alias's `result`
/// template; see `invoke::Call::reword`).
pub type Reword = Arc<dyn Fn(String) -> String + Send + Sync>;

/// What one skill's chat may do.
pub struct ChatGrant {
    skill: String,
    /// `allow.send` (and how each connector's rooms read); nothing else of
    /// the skill's grants.
    send: Grants,
    /// `limits.responses`: messages one event may send.
    responses: u32,
    /// `limits.response-size`: bytes of one message, or of a result.
    response_size: ByteSize,
    /// Where answers go.
    sink: Arc<dyn ResponseSink>,
}

impl ChatGrant {
    pub fn new(
        skill: &str,
        send: Grants,
        responses: u32,
        response_size: ByteSize,
        sink: Arc<dyn ResponseSink>,
    ) -> Self {
        ChatGrant {
            skill: skill.to_owned(),
            send,
            responses,
            response_size,
            sink,
        }
    }
}

/// One store's `chat`: where this event's answers go and what it has said.
pub struct ChatState {
    grant: Arc<ChatGrant>,
    phase: Phase,
    /// Where `respond` and `react` go; `None` during `describe` and for
    /// events that did not come from a room.
    origin: Option<Origin>,
    /// Keep what `respond` says for the record instead of delivering it: a
    /// webhook's answer is its HTTP response, a workflow task's goes into
    /// the workflow's record.
    keep_answers: bool,
    /// The event being handled, which answers name.
    event_id: Option<EventId>,
    /// Rewrites what `respond` says, for this event (`Call::reword`).
    reword: Option<Reword>,
    /// Messages sent so far in this event (capped by `limits.responses`).
    messages_sent: u32,
    /// The messages this event sent, for its execution record.
    pub sent: Vec<Response>,
    /// Sends refused during this event, for its execution record.
    denials: Vec<String>,
    /// What the skill gave `chat.set-result` in this event, parsed.
    pub structured: Option<serde_json::Value>,
}

impl ChatState {
    pub fn new(grant: Arc<ChatGrant>, phase: Phase) -> Self {
        ChatState {
            grant,
            phase,
            origin: None,
            keep_answers: false,
            event_id: None,
            reword: None,
            messages_sent: 0,
            sent: Vec::new(),
            denials: Vec::new(),
            structured: None,
        }
    }

    /// Readies the state (fresh or reused) for one event.
    pub fn begin_event(
        &mut self,
        id: Option<EventId>,
        origin: Option<Origin>,
        reword: Option<Reword>,
        keep_answers: bool,
    ) {
        self.phase = Phase::Handle;
        self.event_id = id;
        self.origin = origin;
        self.reword = reword;
        self.keep_answers = keep_answers;
        self.messages_sent = 0;
        self.sent.clear();
        self.denials.clear();
        self.structured = None;
    }

    pub fn take_denials(&mut self) -> Vec<String> {
        std::mem::take(&mut self.denials)
    }

    /// Records a refused grant for the execution record (and returns it).
    fn deny(&mut self, what: String) -> String {
        self.denials.push(what.clone());
        what
    }
}

/// Links `chat`, reaching each store's [`ChatState`] through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ChatState,
) -> wasmtime::Result<()> {
    chat::add_to_linker::<T, HasSelf<ChatState>>(linker, get)
}

impl ChatState {
    /// Counts a message against `limits.responses`; the first refusal is
    /// logged for the operator. (Its size is [`ChatState::fit`]'s.)
    fn admit_message(&mut self) -> Result<(), String> {
        if self.phase == Phase::Describe {
            tracing::warn!(skill = %self.grant.skill, "denied: a message from `describe`, which runs at load and may not talk");
            return Err(self.deny("`describe` may not send messages: it runs when the skill loads, before anyone asked".into()));
        }
        let responses = self.grant.responses;
        if self.messages_sent >= responses {
            if self.messages_sent == responses {
                tracing::warn!(skill = %self.grant.skill, "messages refused: over limits.responses ({responses}) for one event");
            }
            self.messages_sent = self.messages_sent.saturating_add(1);
            return Err(format!(
                "this event already sent {responses} messages, this skill's limit (limits.responses)"
            ));
        }
        self.messages_sent += 1;
        Ok(())
    }

    /// A message over `limits.response-size` is not refused whole: what
    /// fits goes out (cut after its last whole line where it can be) with a
    /// note of the cut, and the operator is told once per message.
    fn fit(&self, text: String) -> String {
        let max = self.grant.response_size;
        if text.len() as u64 <= max.0 {
            return text;
        }
        tracing::warn!(skill = %self.grant.skill, bytes = text.len(), "message cut: over limits.response-size ({max})");
        let note = format!(
            "\n… (cut: the answer was {} bytes, over this skill's limits.response-size of {max})",
            text.len()
        );
        let room = (max.0 as usize).saturating_sub(note.len());
        let kept = crate::text::cut(&text, room);
        let kept = match kept.rfind('\n') {
            Some(at) if at >= kept.len() / 2 => &kept[..at],
            _ => kept,
        };
        format!("{kept}{note}")
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
        self.grant
            .sink
            .deliver(response.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.sent.push(response);
        Ok(())
    }
}

impl chat::Host for ChatState {
    async fn respond(&mut self, text: String) -> Result<(), String> {
        let text = match &self.reword {
            Some(reword) => reword(text),
            None => text,
        };
        self.admit_message()?;
        let text = self.fit(text);
        if self.keep_answers {
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
        self.admit_message()?;
        let text = self.fit(text);
        let origin = self.origin.as_ref().map(|o| &o.target);
        let connector = match (target.connector, origin) {
            (Some(c), _) => c,
            (None, Some(origin)) => origin.connector.clone(),
            (None, None) => {
                return Err("send needs a connector: this event did not come from one".into());
            }
        };
        let from = origin.map(|o| (o.connector.as_str(), o.room.as_str()));
        if let Err(refused) = self.grant.send.may_send(&connector, &target.room, from) {
            let name = &self.grant.skill;
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
        let limit = self.grant.response_size;
        if json.len() as u64 > limit.0 {
            return Err(format!(
                "a result of {} bytes is over this skill's limit of {limit} (limits.response-size)",
                json.len(),
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
        let max = self.grant.response_size;
        if emoji.len() as u64 > max.0 {
            return Err(format!(
                "a reaction of {} bytes is over this skill's limit of {max} (limits.response-size)",
                emoji.len()
            ));
        }
        self.admit_message()?;
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
