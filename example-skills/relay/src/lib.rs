//! Relays what is said to a room on another connector: `relay deploy done`
//! said by alice in IRC's #ops shows up in a Matrix room as
//! `[irc #ops] alice: deploy done`. A bridge between teams' chats.
//!
//! Settings: `to`, the target as `connector:room` (`matrix:!abc:example.org`).
//! The bot must let the skill send there: `allow: {send: ["matrix:!abc:example.org"]}`.
use sandbot_sdk::prelude::*;

struct Relay;

impl Skill for Relay {
    fn describe() -> Manifest {
        Manifest::new("relay", env!("CARGO_PKG_VERSION"))
            .description("Relays a message to a room on another connector")
            .matcher(
                Matcher::regex("relay", r"^relay\s+(?P<text>.+)$")
                    .case_insensitive()
                    .help("relay <text> — say it in the bridged room too"),
            )
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("to")
                .help("the bridged room, as connector:room")
                .required(),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let to = config::get("to")?.ok_or("the `to` setting (connector:room) is missing")?;
        let (connector, room) = to
            .split_once(':')
            .ok_or_else(|| format!("`to: {to}` is not `connector:room`"))?;
        let text = cx.capture("text").unwrap_or_default();
        let from = cx
            .message()
            .map(|m| format!("{} {}", m.connector, m.room))
            .unwrap_or_default();
        let target = chat::Target {
            connector: Some(connector.to_owned()),
            room: room.to_owned(),
            thread: None,
        };
        chat::send(&target, &format!("[{from}] {}: {text}", cx.user()))?;
        cx.respond(format!("Relayed to {to}."))
    }
}

sandbot_sdk::export!(Relay);
