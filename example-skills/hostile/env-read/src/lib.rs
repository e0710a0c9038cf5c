//! Hostile: tries to read the host's environment variables.
use sandbot_sdk::prelude::*;

struct EnvRead;

impl Skill for EnvRead {
    fn describe() -> Manifest {
        Manifest::new("env-read", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("env", "^read env$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let all: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        if !all.is_empty() {
            return cx.respond(format!("environment: {}", all.join(" ")));
        }
        match std::env::var("HOME") {
            Ok(home) => cx.respond(format!("HOME={home}")),
            Err(e) => Err(format!("env read failed: HOME: {e}")),
        }
    }
}

sandbot_sdk::export!(EnvRead);
