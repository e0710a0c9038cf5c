//! Shows what a connector delivered, for the connector tests: `whoami`
//! answers with the sender's stable id, connector, room and thread; `react`
//! reacts to the message with 👍; `lines N` answers with N numbered lines of
//! 60 characters (splitting and pacing); a reaction, a join and a leave are
//! each answered in their room.
use sandbot_sdk::prelude::*;

struct Events;

impl Skill for Events {
    fn describe() -> Manifest {
        Manifest::new("events", env!("CARGO_PKG_VERSION"))
            .description("Shows the events it is given")
            .matcher(
                Matcher::regex("whoami", "^whoami$").help("whoami — who the bot thinks you are"),
            )
            .matcher(Matcher::regex("react", "^react$").help("react — a 👍 on your message"))
            .matcher(Matcher::regex("lines", r"^lines (?P<n>\d{1,4})$").help("lines N — N lines"))
            .matcher(
                Matcher::regex("long", r"^long (?P<n>\d{1,6})$")
                    .help("long N — one line of N characters"),
            )
            .matcher(Matcher::event("reaction", EventKind::Reaction))
            .matcher(Matcher::event("join", EventKind::Join))
            .matcher(Matcher::event("leave", EventKind::Leave))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        match (&cx.event, cx.matcher.as_str()) {
            (Event::Message(m), "whoami") => cx.respond(format!(
                "id={} name={} connector={} room={} thread={}",
                m.user_id,
                m.user,
                m.connector,
                m.room,
                m.thread.as_deref().unwrap_or("-")
            )),
            (Event::Message(_), "react") => cx.react("👍"),
            (Event::Message(_), "lines") => {
                let n: usize = cx
                    .capture("n")
                    .unwrap_or("1")
                    .parse()
                    .map_err(|_| "not a number")?;
                let lines: Vec<String> = (1..=n)
                    .map(|i| format!("line {i:04} {}", "x".repeat(50)))
                    .collect();
                cx.respond(lines.join("\n"))
            }
            (Event::Message(_), "long") => {
                let n: usize = cx
                    .capture("n")
                    .unwrap_or("1")
                    .parse()
                    .map_err(|_| "not a number")?;
                let text: String = "0123456789é".chars().cycle().take(n).collect();
                cx.respond(text)
            }
            (Event::Reaction(r), _) => cx.respond(format!(
                "{} reacted {} to {}",
                r.user_id, r.emoji, r.message_id
            )),
            (Event::Join(m), _) => cx.respond(format!("welcome {}", m.user_id)),
            (Event::Leave(m), _) => cx.respond(format!("goodbye {}", m.user_id)),
            _ => Ok(()),
        }
    }
}

sandbot_sdk::export!(Events);
