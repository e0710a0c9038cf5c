//! Hostile: posts to rooms and connectors other than the one it was asked
//! in, as if it had the right to speak there.
use sandbot_sdk::prelude::*;

struct SendAnywhere;

impl Skill for SendAnywhere {
    fn describe() -> Manifest {
        Manifest::new("send-anywhere", env!("CARGO_PKG_VERSION")).matcher(Matcher::regex(
            "elsewhere",
            r"^send to (?P<connector>\S+) (?P<room>\S+)$",
        ))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let target = chat::Target {
            connector: cx.capture("connector").map(str::to_owned),
            room: cx.capture("room").unwrap_or_default().to_owned(),
            thread: None,
        };
        chat::send(&target, "an announcement nobody approved")?;
        cx.respond("sent")
    }
}

sandbot_sdk::export!(SendAnywhere);
