//! A slow trigger for the scheduler's and webhooks' tests: its schedule and
//! time zone come from its settings (`schedule`, default every second;
//! `timezone`), and each tick sleeps `sleep-ms` (so ticks can overlap) then
//! posts `tick <fired-at>` to `room` (`connector:room`) if one is set. Its
//! webhook `slow` sleeps as long, then answers two lines.
use sandbot_sdk::prelude::*;

struct Ticker;

impl Skill for Ticker {
    fn describe() -> Manifest {
        let schedule = config::get("schedule")
            .ok()
            .flatten()
            .unwrap_or_else(|| "* * * * * *".into());
        let mut matcher = Matcher::crontab("tick", &schedule);
        if let Some(zone) = config::get("timezone").ok().flatten() {
            matcher = matcher.timezone(&zone);
        }
        Manifest::new("ticker", env!("CARGO_PKG_VERSION"))
            .matcher(matcher)
            .matcher(Matcher::webhook("slow", "slow"))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("schedule").help("a crontab expression [default: every second]"),
            Setting::new("timezone").help("an IANA zone [default: UTC]"),
            Setting::new("sleep-ms").help("how long each tick and request sleeps"),
            Setting::new("room").help("where ticks are posted, as connector:room"),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let sleep: u64 = config::get("sleep-ms")?
            .map(|s| s.parse().map_err(|_| "sleep-ms is not a number"))
            .transpose()?
            .unwrap_or(0);
        std::thread::sleep(std::time::Duration::from_millis(sleep));
        let tick = match &cx.event {
            Event::Schedule(tick) => tick,
            Event::Webhook(request) => {
                cx.respond(format!("slept {sleep} ms"))?;
                return cx.respond(format!("{} {}", request.method, request.path));
            }
            _ => return Err("only schedule ticks and webhooks are handled".into()),
        };
        if let Some(room) = config::get("room")? {
            let (connector, room) = room.split_once(':').ok_or("room is not connector:room")?;
            chat::send(
                &chat::Target {
                    connector: Some(connector.into()),
                    room: room.into(),
                    thread: None,
                },
                &format!("tick {}", tick.fired_at),
            )?;
        }
        Ok(())
    }
}

sandbot_sdk::export!(Ticker);
