//! A reminder on a schedule, like a crontab line: its crontab matcher fires
//! in a named time zone, and it posts its text to a room with `chat.send`
//! (a scheduled skill has no room of its own to answer in).
//!
//! Settings: `room` (`connector:room`, where to post; required), `text`
//! (what to post), `schedule` (a crontab expression, default
//! `0 9 * * MON-FRI`), `timezone` (an IANA zone, default `Europe/Paris`).
//! The bot must grant the room: `allow: {send: ["shell:shell"]}`.
use sandbot_sdk::prelude::*;

struct Reminder;

impl Skill for Reminder {
    fn describe() -> Manifest {
        // Settings are readable at load: the schedule is the operator's.
        let schedule = config::get("schedule")
            .ok()
            .flatten()
            .unwrap_or_else(|| "0 9 * * MON-FRI".into());
        let zone = config::get("timezone")
            .ok()
            .flatten()
            .unwrap_or_else(|| "Europe/Paris".into());
        Manifest::new("reminder", env!("CARGO_PKG_VERSION"))
            .description("Posts a reminder to a room on a schedule")
            .matcher(Matcher::crontab("remind", &schedule).timezone(&zone))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("room")
                .help("where to post, as connector:room")
                .required(),
            Setting::new("text").help("what to post"),
            Setting::new("schedule").help("a crontab expression [default: 0 9 * * MON-FRI]"),
            Setting::new("timezone").help("an IANA zone [default: Europe/Paris]"),
        ])
    }

    async fn handle(_cx: Context) -> Result<(), String> {
        let room = config::get("room")?
            .ok_or("the `room` setting (connector:room to post to) is missing")?;
        let (connector, room) = room
            .split_once(':')
            .ok_or_else(|| format!("room `{room}` is not `connector:room`"))?;
        let text = config::get("text")?.unwrap_or_else(|| "⏰ Reminder: stand-up time.".into());
        chat::send(
            &chat::Target {
                connector: Some(connector.into()),
                room: room.into(),
                thread: None,
            },
            &text,
        )
    }
}

sandbot_sdk::export!(Reminder);
