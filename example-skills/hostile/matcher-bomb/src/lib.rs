//! Hostile: declares matchers made to cost the bot: its configuration says
//! which pattern and how many copies (`pattern`, `count`), so one build
//! tries patterns that compile huge (`\w{1000}x1`), a flood of matchers, or
//! a pattern whose automaton explodes on long lines (`a[ab]{24}c`).
use sandbot_sdk::prelude::*;

struct MatcherBomb;

impl Skill for MatcherBomb {
    fn describe() -> Manifest {
        let pattern = config::get("pattern")
            .ok()
            .flatten()
            .unwrap_or_else(|| "^boom$".into());
        let count: usize = config::get("count")
            .ok()
            .flatten()
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let mut manifest = Manifest::new("matcher-bomb", env!("CARGO_PKG_VERSION"));
        for i in 0..count {
            manifest = manifest.matcher(Matcher::regex(&format!("m{i}"), &pattern));
        }
        manifest
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("pattern").help("the regex of every matcher"),
            Setting::new("count").help("how many matchers"),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        cx.respond(format!("matched {} bytes", cx.text().len()))
    }
}

sandbot_sdk::export!(MatcherBomb);
