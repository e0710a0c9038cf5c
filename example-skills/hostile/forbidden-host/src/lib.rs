//! Hostile: calls a host its grants do not list (setting `url`, by default
//! http://example.com/).
use sandbot_sdk::prelude::*;

struct ForbiddenHost;

impl Skill for ForbiddenHost {
    fn describe() -> Manifest {
        Manifest::new("forbidden-host", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("fetch", "^fetch forbidden$"))
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![Setting::new("url").help("what to fetch")])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let url = config::get("url")?.unwrap_or_else(|| "http://example.com/".into());
        let response = http::get(&url).map_err(|e| format!("GET {url}: {e}"))?;
        cx.respond(format!("got {} from {url}", response.status))
    }
}

sandbot_sdk::export!(ForbiddenHost);
