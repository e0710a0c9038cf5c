//! opsdroid's seen skill: remembers when and where each user last spoke.
//! `seen alice` → `alice was last seen 3 minutes ago in ops`.
use sandbot_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Sighting {
    user: String,
    room: String,
    at: u64,
}

fn key(user: &str) -> String {
    format!("seen:{}", user.to_lowercase())
}

struct Seen;

impl Skill for Seen {
    fn describe() -> Manifest {
        Manifest::new("seen", env!("CARGO_PKG_VERSION"))
            .description("Remembers when and where people last spoke")
            .matcher(Matcher::always("record"))
            .matcher(
                Matcher::regex("query", r"^seen @?(?P<user>[\w.@-]+)\??$")
                    .case_insensitive()
                    .help("seen <user> — when and where <user> last spoke"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let Some(message) = cx.message() else {
            return Ok(());
        };
        if cx.matcher == "record" {
            let sighting = Sighting {
                user: message.user.clone(),
                room: message.room.clone(),
                at: message.received_at,
            };
            return memory::put_json(&key(&message.user), &sighting);
        }
        let who = cx.capture("user").unwrap_or_default();
        match memory::get_json::<Sighting>(&key(who))? {
            Some(s) => cx.respond(format!(
                "{} was last seen {} in {}",
                s.user,
                ago(message.received_at.saturating_sub(s.at)),
                s.room
            )),
            None => cx.respond(format!("I have not seen {who}")),
        }
    }
}

/// `just now`, `1 minute ago`, `3 hours ago`, ...
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    let (n, unit) = match s {
        0..=9 => return "just now".into(),
        10..=59 => (s, "second"),
        60..=3599 => (s / 60, "minute"),
        3600..=86399 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

sandbot_sdk::export!(Seen);
