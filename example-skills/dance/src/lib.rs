//! opsdroid's dance skill: a short ASCII dance over several messages.
use sandbot_sdk::prelude::*;
use std::time::Duration;

const MOVES: [&str; 4] = [":D|-<", ":D/-<", ":D|-<", ":D\\-<"];

struct Dance;

impl Skill for Dance {
    fn describe() -> Manifest {
        Manifest::new("dance", env!("CARGO_PKG_VERSION"))
            .description("Dances")
            .matcher(
                Matcher::regex("dance", "^dance!*$")
                    .case_insensitive()
                    .help("dance — I dance"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        for (i, step) in MOVES.iter().enumerate() {
            if i > 0 {
                // A blocking sleep is fine: the bot runs skills on fibers, so
                // this waits without holding a thread.
                std::thread::sleep(Duration::from_millis(150));
            }
            cx.respond(step)?;
        }
        Ok(())
    }
}

sandbot_sdk::export!(Dance);
