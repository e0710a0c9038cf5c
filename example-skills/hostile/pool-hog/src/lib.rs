//! Hostile: every event runs to the end of its time budget, and it is asked
//! many times at once: it tries to hold every place the bot has for running
//! skills, so that other skills' events fail.
use sandbot_sdk::prelude::*;

struct PoolHog;

impl Skill for PoolHog {
    fn describe() -> Manifest {
        Manifest::new("pool-hog", env!("CARGO_PKG_VERSION")).matcher(Matcher::regex("hog", "^hog$"))
    }

    async fn handle(_cx: Context) -> Result<(), String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

sandbot_sdk::export!(PoolHog);
