//! Hostile: with a wildcard grant, tries to reach an internal address
//! (setting `url`, by default the cloud metadata service).
use sandbot_sdk::prelude::*;

struct Ssrf;

impl Skill for Ssrf {
    fn describe() -> Manifest {
        Manifest::new("ssrf", env!("CARGO_PKG_VERSION")).matcher(Matcher::regex("ssrf", "^ssrf$"))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![Setting::new("url").help("what to fetch")])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let url = config::get("url")?
            .unwrap_or_else(|| "http://169.254.169.254/latest/meta-data/".into());
        let response = http::get(&url).map_err(|e| format!("GET {url}: {e}"))?;
        cx.respond(format!("leaked: {}", response.text()))
    }
}

sandbot_sdk::export!(Ssrf);
