//! Execution history through the real bot: every run (a denied one too) is
//! kept in SQLite and survives a restart; `history` in chat shows a user
//! their own runs and an admin anyone's; `GET /api/executions` wants the
//! configured bearer token and filters by skill, user and outcome.

use crate::common::{BotDir, Running, free_port, http, wait_for_port};
use std::time::Duration;

fn config(port: u16, user: &str) -> String {
    format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{user: {user}}}\nweb: {{port: {port}}}\nhistory: {{token: t0ken}}\nskills:\n  deploy:\n    permissions: {{allow-users: [alice]}}\n  hello: {{}}\n"
    )
}

fn ask_all(run: &mut Running, text: &str) -> Vec<String> {
    run.say(text);
    let mut lines = vec![run.answer()];
    while let Some(line) = run.try_answer(Duration::from_millis(300)) {
        // The shell marks the lines that continue an answer.
        lines.push(line.trim_start_matches("│ ").to_owned());
    }
    lines
}

#[test]
fn every_run_is_kept_and_found_in_chat_and_over_http() {
    let bot = BotDir::new(&["deploy", "hello"], "");
    let port = free_port();
    bot.write_config(&config(port, "bob"));
    let mut bob = bot.start();
    assert_eq!(bob.ask("hello"), "Hello bob");
    assert!(bob.ask("deploy web").contains("not allowed"));
    let mine = ask_all(&mut bob, "history");
    assert_eq!(mine[0], "Last 2 runs, newest first:", "{mine:?}");
    assert!(
        mine[1].contains("deploy 0.1.0/deploy by bob in shell:shell — denied"),
        "{mine:?}"
    );
    assert!(
        mine[2].contains("hello 0.1.0/greet by bob in shell:shell — ok"),
        "{mine:?}"
    );
    assert_eq!(
        bob.ask("history alice"),
        "Sorry bob, only admins may see other people's runs."
    );
    let (_, status, log) = bob.finish();
    assert!(status.success(), "{log}");

    // A restart keeps it all; an admin sees everyone's, by skill and user.
    bot.write_config(&config(port, "alice"));
    let mut alice = bot.start();
    assert_eq!(
        alice.ask("deploy api to prod"),
        "Deploying api to prod for alice."
    );
    let deploys = ask_all(&mut alice, "history deploy");
    assert_eq!(deploys.len(), 3, "{deploys:?}");
    assert!(
        deploys[1].contains("by alice") && deploys[1].contains("— ok"),
        "{deploys:?}"
    );
    assert!(
        deploys[2].contains("by bob") && deploys[2].contains("— denied"),
        "{deploys:?}"
    );
    let bobs = ask_all(&mut alice, "history bob 1");
    assert_eq!(bobs.len(), 2, "{bobs:?}");
    assert!(bobs[1].contains("/deploy by bob"), "{bobs:?}");

    wait_for_port(port);
    let (status, _) = http(port, "GET", "/api/executions", &[], "");
    assert_eq!(status, 401, "no token");
    let wrong = [("authorization", "Bearer nope")];
    assert_eq!(http(port, "GET", "/api/executions", &wrong, "").0, 401);
    let auth = [("authorization", "Bearer t0ken")];
    let (status, body) = http(port, "GET", "/api/executions?limit=10", &auth, "");
    assert_eq!(status, 200, "{body}");
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(all.len(), 3, "{body}");
    assert_eq!(all[0]["skill"], "deploy");
    assert_eq!(all[0]["captures"][1], serde_json::json!(["env", "prod"]));
    assert_eq!(
        all[0]["responses"][0]["body"]["text"],
        "Deploying api to prod for alice."
    );
    let (_, body) = http(port, "GET", "/api/executions?outcome=denied", &auth, "");
    let denied: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(denied.len(), 1, "{body}");
    assert_eq!(denied[0]["user_id"], "bob");
    assert!(
        denied[0]["error"]
            .as_str()
            .unwrap()
            .contains("not in allow-users")
    );
    let (_, body) = http(
        port,
        "GET",
        "/api/executions?skill=hello&user=bob",
        &auth,
        "",
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .unwrap()
            .len(),
        1
    );
    let id = all[0]["id"].as_str().unwrap();
    let (status, body) = http(port, "GET", &format!("/api/executions/{id}"), &auth, "");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        all[0]
    );
    assert_eq!(http(port, "GET", "/api/executions/nope", &auth, "").0, 404);
    assert_eq!(
        http(port, "GET", "/api/executions?outcome=great", &auth, "").0,
        400
    );
}
