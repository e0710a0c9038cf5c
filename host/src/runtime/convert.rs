//! The one place where the bot's types and the WIT types meet.

use super::bindings::wit;
use crate::event::{Event, Membership, Message};
use crate::manifest::{AliasSpec, EventKind, Manifest, MatcherKind, MatcherSpec, SettingSpec};
use wasmtime::component::{ComponentType, Lift};

/// `types.setting`, read from the `settings` export, which the bound
/// worlds do not have (`instance::Settings`), so bindgen makes no type
/// for it here.
#[derive(ComponentType, Lift, Debug)]
#[component(record)]
pub struct WitSetting {
    name: String,
    help: String,
    required: bool,
}

pub fn settings_from_wit(settings: Vec<WitSetting>) -> Vec<SettingSpec> {
    settings
        .into_iter()
        .map(|s| SettingSpec {
            name: s.name,
            help: s.help,
            required: s.required,
        })
        .collect()
}

pub fn event_to_wit(event: &Event) -> wit::Event {
    match event {
        Event::Message(m) => wit::Event::Message(message(m)),
        Event::Reaction(r) => wit::Event::Reaction(wit::Reaction {
            emoji: r.emoji.clone(),
            message_id: r.message_id.clone(),
            user: r.user.clone(),
            user_id: r.user_id.clone(),
            room: r.room.clone(),
            connector: r.connector.clone(),
            received_at: r.received_at,
        }),
        Event::Join(m) => wit::Event::Join(membership(m)),
        Event::Leave(m) => wit::Event::Leave(membership(m)),
        Event::Webhook(w) => wit::Event::Webhook(wit::WebhookRequest {
            path: w.path.clone(),
            method: w.method.clone(),
            headers: w.headers.clone(),
            body: w.body.clone(),
            received_at: w.received_at,
        }),
        Event::Schedule { fired_at } => wit::Event::Schedule(wit::ScheduleTick {
            fired_at: *fired_at,
        }),
    }
}

fn message(m: &Message) -> wit::Message {
    wit::Message {
        id: m.id.clone(),
        text: m.text.clone(),
        user: m.user.clone(),
        user_id: m.user_id.clone(),
        room: m.room.clone(),
        connector: m.connector.clone(),
        thread: m.thread.clone(),
        received_at: m.received_at,
    }
}

fn membership(m: &Membership) -> wit::Membership {
    wit::Membership {
        user: m.user.clone(),
        user_id: m.user_id.clone(),
        room: m.room.clone(),
        connector: m.connector.clone(),
        received_at: m.received_at,
    }
}

pub fn manifest_from_wit(m: wit::Manifest, settings: Option<Vec<WitSetting>>) -> Manifest {
    Manifest {
        settings: settings.map(settings_from_wit),
        name: m.name,
        version: m.version,
        description: m.description,
        matchers: m
            .matchers
            .into_iter()
            .map(|m| MatcherSpec {
                id: m.id,
                help: m.help,
                kind: matcher_kind(m.kind),
            })
            .collect(),
    }
}

fn matcher_kind(kind: wit::MatcherKind) -> MatcherKind {
    match kind {
        wit::MatcherKind::Regex(r) => MatcherKind::Regex {
            pattern: r.pattern,
            case_sensitive: r.case_sensitive,
        },
        wit::MatcherKind::ParseFormat(f) => MatcherKind::ParseFormat(f),
        wit::MatcherKind::ActionAlias(f) => MatcherKind::ActionAlias(AliasSpec::new(f)),
        wit::MatcherKind::Crontab(c) => MatcherKind::Crontab {
            expression: c.expression,
            timezone: c.timezone,
        },
        wit::MatcherKind::EventType(k) => MatcherKind::EventType(match k {
            wit::EventKind::Message => EventKind::Message,
            wit::EventKind::Reaction => EventKind::Reaction,
            wit::EventKind::Join => EventKind::Join,
            wit::EventKind::Leave => EventKind::Leave,
            wit::EventKind::Webhook => EventKind::Webhook,
            wit::EventKind::Schedule => EventKind::Schedule,
        }),
        wit::MatcherKind::Webhook(p) => MatcherKind::Webhook(p),
        wit::MatcherKind::Always => MatcherKind::Always,
        wit::MatcherKind::CatchAll => MatcherKind::CatchAll,
    }
}
