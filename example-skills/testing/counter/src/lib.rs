//! Test skill: shows whether instances are reused. `count` answers how many
//! events this instance has served; `crash` panics.
use sandbot_sdk::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

static SERVED: AtomicU32 = AtomicU32::new(0);

struct Counter;

impl Skill for Counter {
    fn describe() -> Manifest {
        Manifest::new("counter", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("count", "^count$"))
            .matcher(Matcher::regex("crash", "^crash$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let n = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        if cx.text() == "crash" {
            panic!("asked to crash");
        }
        cx.respond(format!("instance served {n}"))
    }
}

sandbot_sdk::export!(Counter);
