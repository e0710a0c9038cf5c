//! Test skill: long-running work. `work <ms>` waits that long (a WASI
//! clock sleep, which yields to the host rather than spinning) and answers
//! `worked <ms> ms`; `work fail` waits a little and reports an error. The
//! tests of acks, background runs and graceful shutdown drive it.
use sandbot_sdk::prelude::*;
use std::time::Duration;

struct Slow;

impl Skill for Slow {
    fn describe() -> Manifest {
        Manifest::new("slow", env!("CARGO_PKG_VERSION"))
            .matcher(
                Matcher::regex("work", r"^work (?P<ms>\d+)$").help("work <ms> — takes that long"),
            )
            .matcher(Matcher::regex("fail", "^work fail$").help("work fail — fails after a while"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let Some(ms) = cx.capture("ms") else {
            std::thread::sleep(Duration::from_millis(100));
            return Err("it broke".into());
        };
        let ms: u64 = ms.parse().map_err(|_| format!("{ms}: not a number"))?;
        sandbot_sdk::log::info(&format!("working {ms} ms"));
        std::thread::sleep(Duration::from_millis(ms));
        cx.respond(format!("worked {ms} ms"))
    }
}

sandbot_sdk::export!(Slow);
