//! A StackStorm-style deploy command: `deploy api to prod` (the environment
//! defaults to staging; `key=value` pairs at the end are extra options), and
//! opsdroid-style `status of api`, which says where each app was deployed
//! last. It only records deploys: the point is the chat side.
//!
//! An operator can give it their own words in configuration.yaml, with no
//! change here (see docs/matching.md):
//!
//! ```yaml
//! skills:
//!   deploy:
//!     aliases:
//!       - {format: "ship {{app}}", matcher: deploy, parameters: {env: prod},
//!          ack: "Shipping {{ app }} to {{ env }}…"}
//! ```
use sandbot_sdk::prelude::*;

struct Deploy;

impl Skill for Deploy {
    fn describe() -> Manifest {
        Manifest::new("deploy", env!("CARGO_PKG_VERSION"))
            .description("Deploys an app to an environment (records it)")
            .matcher(
                Matcher::alias("deploy", "deploy {{app}}( to {{env=staging}})?")
                    .help("deploy <app> [to <env>] [key=value ...] — deploy (staging by default)"),
            )
            .matcher(
                Matcher::parse("status", "status of {app}")
                    .help("status of <app> — where it was deployed last"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let app = cx.capture("app").ok_or("no app given")?.to_owned();
        match cx.matcher.as_str() {
            "deploy" => {
                let env = cx.capture("env").unwrap_or("staging").to_owned();
                let extras: Vec<String> = cx
                    .captures
                    .iter()
                    .filter(|(k, _)| k != "app" && k != "env")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                memory::put(&format!("last:{app}"), &env)?;
                let options = if extras.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", extras.join(", "))
                };
                cx.respond(format!(
                    "Deploying {app} to {env}{options} for {}.",
                    cx.user()
                ))
            }
            _ => match memory::get(&format!("last:{app}"))? {
                Some(env) => cx.respond(format!("{app} was last deployed to {env}.")),
                None => cx.respond(format!("{app} has not been deployed yet.")),
            },
        }
    }
}

sandbot_sdk::export!(Deploy);
