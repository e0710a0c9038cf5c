//! Hostile: answers with a 10 MiB message.
use sandbot_sdk::prelude::*;

struct OversizedResponse;

impl Skill for OversizedResponse {
    fn describe() -> Manifest {
        Manifest::new("oversized-response", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("huge", "^huge$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        cx.respond("A".repeat(10 << 20))
    }
}

sandbot_sdk::export!(OversizedResponse);
