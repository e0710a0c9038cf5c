//! The schema of an execution record (`crate::event::Execution`) as the
//! history's routes answer it. The record is the core's (every layer
//! writes it) and keeps serde's attributes `with_schema!` does not read
//! (`skip_serializing_if`), so its schema is written here; an exhaustive
//! destructuring of the record makes a field added to it fail to compile
//! until it is listed, and the API test checks real answers against it.

use crate::event::{Execution, Notified, Outcome};
use crate::schema::Schema;
use serde_json::{Map, Value, json};

/// Fields (name, schema, may be absent or null).
type Fields = Vec<(&'static str, Value, bool)>;

fn object(fields: Fields) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema, optional) in fields {
        properties.insert(name.to_owned(), schema);
        if !optional {
            required.push(name);
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn string() -> Value {
    String::schema()
}

fn integer() -> Value {
    u64::schema()
}

/// A target and a body (text, or a reaction), as a response is written.
fn response() -> Value {
    json!({
        "type": "object",
        "properties": {
            "target": object(vec![
                ("connector", string(), false),
                ("room", string(), false),
                ("thread", string(), true),
            ]),
            "body": {"type": "object"},
            "in_reply_to": {"type": "string"},
        },
        "required": ["target", "body"],
    })
}

impl Schema for Notified {
    fn schema() -> Value {
        object(vec![
            ("channel", string(), false),
            ("when", string(), false),
            ("ok", bool::schema(), false),
            ("error", string(), true),
        ])
    }
}

impl Schema for Outcome {
    fn schema() -> Value {
        let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        json!({"type": "string", "enum": all})
    }
}

impl Schema for Execution {
    fn schema() -> Value {
        let pair = json!({"type": "array", "items": {"type": "string"}});
        object(vec![
            ("id", string(), false),
            ("event_id", string(), false),
            ("skill", string(), false),
            ("version", string(), false),
            ("sha256", string(), false),
            ("matcher", string(), false),
            ("alias", string(), true),
            ("connector", string(), true),
            ("room", string(), true),
            ("thread", string(), true),
            ("user", string(), true),
            ("user_id", string(), true),
            ("text", string(), true),
            ("captures", json!({"type": "array", "items": pair}), false),
            ("started_at", integer(), false),
            ("ended_at", integer(), false),
            ("micros", integer(), false),
            ("outcome", Outcome::schema(), false),
            ("error", string(), true),
            ("denials", Vec::<String>::schema(), false),
            (
                "responses",
                json!({"type": "array", "items": response()}),
                false,
            ),
            ("parent", string(), true),
            ("undelivered", string(), true),
            ("trigger", string(), true),
            ("host", string(), true),
            ("notified", Vec::<Notified>::schema(), true),
        ])
    }
}

/// One execution with, for a workflow run, its tasks' records under
/// `children` (oldest first): what `GET /api/v1/executions/{id}` answers.
pub(super) struct WithChildren;

impl Schema for WithChildren {
    fn schema() -> Value {
        let mut schema = Execution::schema();
        schema["properties"]["children"] = Vec::<Execution>::schema();
        schema
    }
}

/// Never called: its patterns are exhaustive, so a field added to the
/// record (or to a notice) does not compile until its schema above lists it.
#[allow(dead_code)]
fn every_field_listed(record: &Execution, notice: &Notified) {
    let Execution {
        id: _,
        event_id: _,
        skill: _,
        version: _,
        sha256: _,
        matcher: _,
        alias: _,
        connector: _,
        room: _,
        thread: _,
        user: _,
        user_id: _,
        text: _,
        captures: _,
        started_at: _,
        ended_at: _,
        micros: _,
        outcome: _,
        error: _,
        denials: _,
        responses: _,
        parent: _,
        undelivered: _,
        trigger: _,
        host: _,
        notified: _,
    } = record;
    let Notified {
        channel: _,
        when: _,
        ok: _,
        error: _,
    } = notice;
}
