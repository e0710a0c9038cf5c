//! What `handle` receives: the event, which matcher took it, its captures.

use crate::{Event, Message, chat};

pub struct Context {
    pub event: Event,
    /// The id of the matcher that fired.
    pub matcher: String,
    pub captures: Vec<(String, String)>,
}

impl Context {
    pub fn new(event: Event, matcher: String, captures: Vec<(String, String)>) -> Self {
        Context {
            event,
            matcher,
            captures,
        }
    }

    /// The message, if the event is one.
    pub fn message(&self) -> Option<&Message> {
        match &self.event {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The message's text; empty for other events.
    pub fn text(&self) -> &str {
        self.message().map_or("", |m| m.text.as_str())
    }

    /// Who caused the event (display name); empty if nobody did.
    pub fn user(&self) -> &str {
        match &self.event {
            Event::Message(m) => &m.user,
            Event::Reaction(r) => &r.user,
            Event::Join(m) | Event::Leave(m) => &m.user,
            Event::Webhook(_) | Event::Schedule(_) => "",
        }
    }

    /// The room the event happened in; empty for webhooks and schedules.
    pub fn room(&self) -> &str {
        match &self.event {
            Event::Message(m) => &m.room,
            Event::Reaction(r) => &r.room,
            Event::Join(m) | Event::Leave(m) => &m.room,
            Event::Webhook(_) | Event::Schedule(_) => "",
        }
    }

    /// When the bot received the event, in milliseconds since the Unix epoch.
    pub fn received_at(&self) -> u64 {
        match &self.event {
            Event::Message(m) => m.received_at,
            Event::Reaction(r) => r.received_at,
            Event::Join(m) | Event::Leave(m) => m.received_at,
            Event::Webhook(w) => w.received_at,
            Event::Schedule(s) => s.fired_at,
        }
    }

    /// A capture by name (numbered groups are `"1"`, `"2"`, ...).
    pub fn capture(&self, name: &str) -> Option<&str> {
        self.captures
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Answers in the room (and thread) of the event.
    pub fn respond(&self, text: impl AsRef<str>) -> Result<(), String> {
        chat::respond(text.as_ref())
    }

    /// Gives the execution a structured result beside its answers: a
    /// workflow reads it as `tasks.<task>.result` (`{{
    /// tasks.build.result.version }}`).
    #[cfg(feature = "json")]
    pub fn result<T: serde::Serialize>(&self, value: &T) -> Result<(), String> {
        chat::result_json(value)
    }

    /// Reacts to the message with an emoji.
    pub fn react(&self, emoji: &str) -> Result<(), String> {
        chat::react(emoji)
    }
}
