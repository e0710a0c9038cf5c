//! The console's workflows (`/api/v1/workflows…`) against the real bot and
//! the example `deploy` workflow over the real `ci` skill: its definition,
//! its runs with their task graphs, and approve / deny / cancel from the
//! console going through chat's own calls as `console:NAME` (the
//! configuration's `admins` decide who answers), each refused without a
//! session, with the wrong role or without the CSRF token, each audited.

use crate::common::*;
use crate::console::{Login, admin, log_in, request};
use serde_json::Value;
use std::path::Path;

fn deploy_workflow() -> String {
    let path =
        Path::new(sandbot_test_skills::WORKSPACE).join("example-skills/workflows/deploy.yaml");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn an_operator_sees_a_runs_task_graph_and_approves_denies_and_cancels_it_as_chat_does() {
    let port = free_port();
    let bot = BotDir::new(&["ci"], "");
    bot.write_config(&format!(
        "admins: [alice, 'console:carol']\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\n"
    ));
    std::fs::create_dir_all(bot.path().join("workflows")).unwrap();
    std::fs::write(bot.path().join("workflows/deploy.yaml"), deploy_workflow()).unwrap();
    for (name, role) in [
        ("carol", "operator"),
        ("dave", "operator"),
        ("victor", "viewer"),
    ] {
        let password = format!("{name}'s long password");
        assert!(admin(&bot, &["add", name, "--role", role], &password).0);
    }
    let mut alice = bot.start();
    wait_for_port(port);
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let dave = log_in(port, "dave", "dave's long password").unwrap();
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    let get = |who: &Login, path: &str| {
        let (status, _, body) = request(port, "GET", path, &[("cookie", who.cookie.as_str())], "");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let post = |who: &Login, path: &str, body: &str| {
        let headers = [
            ("cookie", who.cookie.as_str()),
            ("x-csrf-token", who.csrf.as_str()),
        ];
        let (status, _, body) = request(port, "POST", path, &headers, body);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        )
    };

    // The definition: its file, how it starts, its tasks and edges.
    let defs = get(&victor, "/api/v1/workflows");
    let deploy = &defs["workflows"][0];
    assert_eq!(deploy["name"], "deploy", "{defs}");
    assert!(
        deploy["file"]
            .as_str()
            .unwrap()
            .ends_with("workflows/deploy.yaml"),
        "{deploy}"
    );
    assert_eq!(
        deploy["aliases"][0],
        "release <app> [to <env>] — build, test, approve, deploy"
    );
    let build = &deploy["tasks"][0];
    assert_eq!(
        (&build["name"], &build["action"], &build["start"]),
        (
            &Value::from("build"),
            &Value::from("ci.build"),
            &Value::from(true)
        )
    );
    assert_eq!(
        build["next"][0]["to"],
        serde_json::json!(["test-a", "test-b"])
    );

    assert_eq!(alice.ask("release web to prod"), "▶ deploy #1 started.");
    assert!(alice.answer().starts_with("❓ Deploy web 1.1.0 to prod?"));

    let runs = get(&victor, "/api/v1/workflows/runs");
    assert_eq!(runs["runs"][0]["id"], 1, "{runs}");
    assert_eq!(runs["runs"][0]["status"], "running", "{runs}");
    assert_eq!(runs["runs"][0]["waiting"], serde_json::json!(["approval"]));
    let run = get(&victor, "/api/v1/workflows/runs/1");
    let state = |run: &Value, task: &str| {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == task)
            .map(|t| t["state"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no task {task} in {run}"))
    };
    assert_eq!(state(&run, "build"), "succeeded", "{run}");
    assert_eq!(state(&run, "test-b"), "succeeded", "{run}");
    assert_eq!(state(&run, "approval"), "waiting for approval", "{run}");
    assert_eq!(state(&run, "deploy"), "not reached", "{run}");
    assert_eq!(
        run["tasks"][1]["next"][0]["to"],
        serde_json::json!(["approval"])
    );

    // Refused: no session, a viewer, no CSRF token, someone chat's lists do
    // not name (dave is no admin: only admins answer this approval).
    let approve = "/api/v1/workflows/runs/1/approve";
    assert_eq!(request(port, "POST", approve, &[], "").0, 401);
    let (status, why) = post(&victor, approve, "");
    assert_eq!(status, 403, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .contains("needs the operator role")
    );
    let no_csrf = [("cookie", carol.cookie.as_str())];
    assert_eq!(request(port, "POST", approve, &no_csrf, "").0, 403);
    let (status, why) = post(&dave, approve, "");
    assert_eq!(status, 403, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .starts_with("⛔ console:dave may not answer #1"),
        "{why}"
    );
    // Still waiting; carol answers it, as chat's admins do.
    let (status, said) = post(&carol, approve, r#"{"task": "approval"}"#);
    assert_eq!(status, 200, "{said}");
    assert_eq!(said["answer"], "👍 console:carol approved #1 (approval).");
    assert_eq!(
        alice.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    let (status, why) = post(&carol, approve, "");
    assert_eq!(status, 409, "{why}");
    assert_eq!(why["error"], "#1 is not waiting for anyone.");
    let run = get(&victor, "/api/v1/workflows/runs/1");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(state(&run, "deploy"), "succeeded", "{run}");

    // Denied from the console: the run takes its `failed` path.
    assert_eq!(alice.ask("release api"), "▶ deploy #2 started.");
    assert!(alice.answer().starts_with("❓ Deploy api"));
    let (status, said) = post(&carol, "/api/v1/workflows/runs/2/deny", "");
    assert_eq!(status, 200, "{said}");
    assert_eq!(said["answer"], "👎 console:carol denied #2 (approval).");
    assert_eq!(
        alice.answer(),
        "Not deploying api: denied by console:carol."
    );
    assert_eq!(
        alice.answer(),
        "❌ deploy #2 failed: approval failed: denied by console:carol"
    );

    // Canceled: not by dave (neither its starter nor an admin), by carol.
    assert_eq!(alice.ask("release db"), "▶ deploy #3 started.");
    let asked = alice.answer();
    assert!(asked.starts_with("❓ Deploy db"), "{asked}");
    let cancel = "/api/v1/workflows/runs/3/cancel";
    let (status, why) = post(&dave, cancel, "");
    assert_eq!(status, 403, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .contains("only who started #3 or an admin")
    );
    let (status, said) = post(&carol, cancel, "");
    assert_eq!(status, 200, "{said}");
    assert_eq!(said["answer"], "Canceling #3…");
    let mut canceled = Value::Null;
    for _ in 0..100 {
        canceled = get(&victor, "/api/v1/workflows/runs/3");
        if canceled["status"] == "canceled" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    alice.terminate();
    let _ = alice.finish();

    // Each answer, refused or not, is in the history with who gave it.
    let lines: Vec<String> = bot
        .history()
        .find(&sandbot::history::Filter {
            skill: Some("console".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?}",
                r.user.as_deref().unwrap_or(""),
                r.text.as_deref().unwrap_or(""),
                r.outcome
            )
        })
        .collect();
    for expected in [
        "dave approve 1 Denied",
        "carol approve 1 approval Ok",
        "carol approve 1 Denied",
        "carol deny 2 Ok",
        "dave workflow cancel 3 Denied",
        "carol workflow cancel 3 Ok",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} not in {lines:#?}"
        );
    }
}
