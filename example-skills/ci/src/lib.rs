//! The steps of a small delivery pipeline, for the example `deploy`
//! workflow (example-skills/workflows/deploy.yaml): `build` gives a version
//! as its structured result, `test` runs a suite (taking `ms`, failing when
//! its suite is named in `fail`), `deploy` and `rollback` record where an
//! app went. Each works from chat too (`ci build web`), but is meant to be a
//! workflow's task, whose inputs arrive as captures.
use sandbot_sdk::prelude::*;
use std::time::Duration;

struct Ci;

impl Skill for Ci {
    fn describe() -> Manifest {
        Manifest::new("ci", env!("CARGO_PKG_VERSION"))
            .description("Build, test, deploy and roll back (records only)")
            .matcher(Matcher::regex("build", r"^ci build (?P<app>\S+)$").help("ci build <app>"))
            .matcher(Matcher::regex("test", r"^ci test (?P<suite>\S+)$").help("ci test <suite>"))
            .matcher(
                Matcher::regex("deploy", r"^ci deploy (?P<app>\S+) (?P<env>\S+)$")
                    .help("ci deploy <app> <env>"),
            )
            .matcher(
                Matcher::regex("rollback", r"^ci rollback (?P<app>\S+)$").help("ci rollback <app>"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        // Work takes time: a WASI clock sleep, which yields to the host.
        let ms: u64 = cx
            .capture("ms")
            .unwrap_or("20")
            .parse()
            .map_err(|_| "ms: not a number")?;
        std::thread::sleep(Duration::from_millis(ms));
        match cx.matcher.as_str() {
            "build" => {
                let app = cx.capture("app").ok_or("no app given")?;
                let runs = memory::get("builds")?
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                memory::put("builds", &runs.to_string())?;
                let version = format!("1.{runs}.0");
                cx.result(&serde_json::json!({"app": app, "version": version}))?;
                cx.respond(format!("built {app} {version}"))
            }
            "test" => {
                let suite = cx.capture("suite").ok_or("no suite given")?;
                let failing = cx.capture("fail").unwrap_or("");
                if failing.split(',').any(|s| s.trim() == suite) {
                    return Err(format!("suite {suite} failed"));
                }
                cx.result(&serde_json::json!({"suite": suite, "passed": true}))?;
                cx.respond(format!("{suite} passed"))
            }
            "deploy" => {
                let app = cx.capture("app").ok_or("no app given")?;
                let env = cx.capture("env").unwrap_or("staging");
                let version = cx.capture("version").unwrap_or("latest");
                memory::put(&format!("at:{app}:{env}"), version)?;
                cx.result(&serde_json::json!({"url": format!("https://{env}.example/{app}")}))?;
                cx.respond(format!("deployed {app} {version} to {env}"))
            }
            _ => {
                let app = cx.capture("app").ok_or("no app given")?;
                cx.respond(format!("rolled back {app}"))
            }
        }
    }
}

sandbot_sdk::export!(Ci);
