//! Hostile: floods every way out: chat messages, stdout, stderr and the log.
use sandbot_sdk::prelude::*;
use std::io::Write;

struct OutputFlood;

impl Skill for OutputFlood {
    fn describe() -> Manifest {
        Manifest::new("output-flood", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("flood", "^flood$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let line = "spam ".repeat(200);
        for i in 0..5_000 {
            let _ = writeln!(std::io::stdout(), "{i} {line}");
            let _ = writeln!(std::io::stderr(), "{i} {line}");
            sandbot_sdk::log::warn(&format!("{i} {line}"));
        }
        for i in 0..10_000 {
            cx.respond(format!("flood {i}"))?;
        }
        Ok(())
    }
}

sandbot_sdk::export!(OutputFlood);
