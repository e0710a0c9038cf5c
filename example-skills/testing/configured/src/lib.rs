//! A skill whose matcher comes from its configuration: the same file,
//! configured many times under different names with a pattern each
//! (`pattern: '^cmd7 (?P<x>\w+)$'`), is how the scale benchmark makes
//! thousands of skills. It answers `<reply> <x>`.
use sandbot_sdk::prelude::*;

struct Configured;

impl Skill for Configured {
    fn describe() -> Manifest {
        let pattern = config::get("pattern")
            .ok()
            .flatten()
            .unwrap_or_else(|| r"^configured (?P<x>\w+)$".into());
        Manifest::new("configured", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("main", &pattern).help("configured <word> — answers with it"))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("pattern").help("its matcher's regex, with a capture `x`"),
            Setting::new("reply").help("said before the capture [default: ok]"),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let reply = config::get("reply")?.unwrap_or_else(|| "ok".into());
        cx.respond(format!("{reply} {}", cx.capture("x").unwrap_or("")))
    }
}

sandbot_sdk::export!(Configured);
