//! Receives alerts by webhook and posts them in chat: `POST
//! /skill/webhook-alert/alert` with a small JSON body, `{"name":
//! "DiskFull", "severity": "critical", "summary": "/var is 97% full"}` (only
//! `name` is required), posts `🚨 [critical] DiskFull: /var is 97% full` to
//! a room and answers `ok` to the HTTP caller.
//!
//! Settings: `room` (`connector:room`, where to post; required). The bot
//! must grant the room (`allow: {send: [...]}`) and give the webhook a
//! secret (`webhook: {secret: ...}`) so that not anyone can post; without
//! one (or `webhook: {public: true}`) the skill does not load.
use sandbot_sdk::prelude::*;
use serde_json::Value;

struct WebhookAlert;

impl Skill for WebhookAlert {
    fn describe() -> Manifest {
        Manifest::new("webhook-alert", env!("CARGO_PKG_VERSION"))
            .description("Posts alerts that arrive by webhook to a room")
            .matcher(Matcher::webhook("alert", "alert"))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("room")
                .help("where to post, as connector:room")
                .required(),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let Event::Webhook(request) = &cx.event else {
            return Err("only webhook requests are handled".into());
        };
        let alert: Value = serde_json::from_slice(&request.body)
            .map_err(|e| format!("the body is not JSON: {e}"))?;
        let name = alert["name"].as_str().ok_or("the alert has no `name`")?;
        let mut line = String::from("🚨 ");
        if let Some(severity) = alert["severity"].as_str() {
            line.push_str(&format!("[{severity}] "));
        }
        line.push_str(name);
        if let Some(summary) = alert["summary"].as_str() {
            line.push_str(&format!(": {summary}"));
        }
        let room = config::get("room")?
            .ok_or("the `room` setting (connector:room to post to) is missing")?;
        let (connector, room) = room
            .split_once(':')
            .ok_or_else(|| format!("room `{room}` is not `connector:room`"))?;
        chat::send(
            &chat::Target {
                connector: Some(connector.into()),
                room: room.into(),
                thread: None,
            },
            &line,
        )?;
        cx.respond("ok")
    }
}

sandbot_sdk::export!(WebhookAlert);
