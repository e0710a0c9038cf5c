//! Hostile: fills the bot's database, a 64 KiB value at a time under a new
//! key each, for as long as writes are accepted.
use sandbot_sdk::prelude::*;

struct MemoryHog;

impl Skill for MemoryHog {
    fn describe() -> Manifest {
        Manifest::new("memory-hog", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("fill", "^fill memory$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let value = "x".repeat(64 << 10);
        let start: u64 = memory::get("next")?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for i in start.. {
            if let Err(e) = memory::put(&format!("junk-{i}"), &value) {
                return cx.respond(format!("stopped after {} writes: {e}", i - start));
            }
            // Never reached once the quota bites; bounded anyway.
            if i - start > 1_000_000 {
                break;
            }
        }
        cx.respond("never refused")
    }
}

sandbot_sdk::export!(MemoryHog);
