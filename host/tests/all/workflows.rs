//! Workflows through the real bot: the example `deploy` workflow
//! (example-skills/workflows/deploy.yaml) over the real `ci` skill, started
//! from a chat line: build → (test-a ∥ test-b) → approval in chat → deploy,
//! a failing suite rolling back, `deny` and an approval nobody answers, an
//! approval from someone not allowed, `kill -9` in the middle and a restart
//! that resumes without running a finished task again, a broken file
//! reported with its line while the old version keeps serving, and a task
//! over a list that keeps to its concurrency bound. What ran, and when, is
//! read from the execution records in the history database.

use crate::common::{BotDir, free_port, http, wait_for_port};
use sandbot::event::{Execution, Outcome};
use sandbot::history::{Filter, History, Retention};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

fn example() -> String {
    let path =
        Path::new(sandbot_test_skills::WORKSPACE).join("example-skills/workflows/deploy.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// A bot with the `ci` skill and workflow `name` written from `text`.
fn bot_with(name: &str, text: &str, config: &str) -> BotDir {
    let bot = BotDir::new(&["ci"], config);
    std::fs::create_dir_all(bot.path().join("workflows")).unwrap();
    write_workflow(&bot, name, text);
    bot
}

fn write_workflow(bot: &BotDir, name: &str, text: &str) {
    let dest = bot.path().join("workflows").join(format!("{name}.yaml"));
    let tmp = bot.path().join("workflows").join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dest).unwrap();
}

fn history(bot: &BotDir) -> History {
    let retention = Retention {
        max_age: Duration::from_secs(86_400),
        max_count: 100_000,
    };
    History::open(&bot.path().join("data/history.db"), retention).unwrap()
}

/// The records of run `run`'s tasks, by id.
fn tasks_of(history: &History, run: &str) -> Vec<Execution> {
    let mut found = history
        .find(&Filter {
            parent: Some(run.into()),
            limit: 1000,
            ..Filter::default()
        })
        .unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn task<'a>(records: &'a [Execution], id: &str) -> &'a Execution {
    records
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no record {id} among {:?}", ids(records)))
}

fn ids(records: &[Execution]) -> Vec<&str> {
    records.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn deploy_from_a_chat_line_tests_in_parallel_asks_and_deploys() {
    let port = free_port();
    let bot = bot_with(
        "deploy",
        &example(),
        &format!("web: {{port: {port}}}\nhistory: {{token: t0ken}}\n"),
    );
    let mut alice = bot.start();
    assert_eq!(alice.ask("deploy web to prod"), "▶ deploy #1 started.");
    assert_eq!(
        alice.answer(),
        "❓ Deploy web 1.1.0 to prod? Say `approve 1` or `deny 1`."
    );
    let status = alice.ask("workflow status 1");
    assert_eq!(
        status,
        "#1 deploy: running — build succeeded, test-a succeeded, test-b succeeded, approval waiting for approval"
    );
    assert_eq!(
        alice.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    assert_eq!(
        alice.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    assert!(
        alice
            .ask("workflow status 1")
            .starts_with("#1 deploy: succeeded — build succeeded")
    );

    // The tree over HTTP: the run's record with its tasks under it.
    wait_for_port(port);
    let auth = [("authorization", "Bearer t0ken")];
    let (code, body) = http(port, "GET", "/api/executions/wf-1", &auth, "");
    assert_eq!(code, 200, "{body}");
    let tree: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tree["skill"], "deploy");
    assert_eq!(tree["outcome"], "ok");
    let children: Vec<&str> = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let mut sorted = children.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "wf-1.approval",
            "wf-1.build",
            "wf-1.deploy",
            "wf-1.test-a",
            "wf-1.test-b"
        ]
    );
    // And in chat.
    alice.say("history wf-1");
    let head = alice.answer();
    assert_eq!(head, "Last 5 tasks of wf-1, newest first:");
    let lines: Vec<String> = (0..5).map(|_| alice.answer()).collect();
    assert!(
        lines[0].contains("└ ") && lines[0].contains("ci 0.1.0/deploy"),
        "{lines:?}"
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");

    let history = history(&bot);
    let run = history.get("wf-1").unwrap().unwrap();
    assert_eq!(run.outcome, Outcome::Ok);
    assert_eq!(
        run.alias.as_deref(),
        Some("deploy {{app}}( to {{env=staging}})?")
    );
    let records = tasks_of(&history, "wf-1");
    assert!(
        records.iter().all(|r| r.outcome == Outcome::Ok),
        "{records:?}"
    );
    // The two suites ran at once: each started before the other ended.
    let (a, b) = (task(&records, "wf-1.test-a"), task(&records, "wf-1.test-b"));
    assert!(
        a.started_at < b.ended_at && b.started_at < a.ended_at,
        "test-a {}..{} and test-b {}..{} did not overlap",
        a.started_at,
        a.ended_at,
        b.started_at,
        b.ended_at
    );
    // The build's structured result reached the deploy through `publish`.
    let deploy = task(&records, "wf-1.deploy");
    assert!(
        deploy
            .captures
            .contains(&("version".into(), "1.1.0".into())),
        "{deploy:?}"
    );
    // Tasks keep quiet: what the skill said is in its record.
    assert_eq!(deploy.responses.len(), 1);
    let approval = task(&records, "wf-1.approval");
    assert!(
        approval.started_at >= a.ended_at.max(b.ended_at),
        "the join waited for both"
    );
}

#[test]
fn a_failing_suite_takes_the_rollback_path_and_notifies() {
    // Notifications fire on the run as on a skill's execution.
    let notify = r#"notifications:
  channels:
    ops: {type: room, connector: shell, room: ops}
workflows:
  deploy:
    notify:
      on-failure: {channels: [ops], template: "bad {{ skill }} {{ outcome }}: {{ error }}"}
"#;
    let bot = bot_with("deploy", &example(), notify);
    let mut alice = bot.start();
    assert_eq!(
        alice.ask("deploy web to prod fail=unit"),
        "▶ deploy #1 started."
    );
    // The end and its notice: two lines whose order is not fixed.
    let mut lines = alice.answers(2);
    lines.sort();
    assert_eq!(
        lines,
        [
            "bad deploy error: test-a failed: suite unit failed",
            "❌ deploy #1 failed: test-a failed: suite unit failed",
        ]
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    let history = history(&bot);
    assert_eq!(
        history.get("wf-1").unwrap().unwrap().outcome,
        Outcome::Error
    );
    let records = tasks_of(&history, "wf-1");
    assert_eq!(
        ids(&records),
        ["wf-1.build", "wf-1.rollback", "wf-1.test-a", "wf-1.test-b"],
        "no approval, no deploy"
    );
    assert_eq!(task(&records, "wf-1.test-a").outcome, Outcome::Error);
    assert_eq!(task(&records, "wf-1.test-b").outcome, Outcome::Ok);
    assert_eq!(task(&records, "wf-1.rollback").outcome, Outcome::Ok);
}

#[test]
fn a_denied_or_unanswered_approval_does_not_deploy() {
    // The approval times out after a second in this copy.
    let text = example().replace("timeout: 1h", "timeout: 1s");
    let bot = bot_with("deploy", &text, "");
    let mut alice = bot.start();
    assert_eq!(alice.ask("deploy web"), "▶ deploy #1 started.");
    assert_eq!(
        alice.answer(),
        "❓ Deploy web 1.1.0 to staging? Say `approve 1` or `deny 1`."
    );
    assert_eq!(alice.ask("deny 1"), "👎 shell:alice denied #1 (approval).");
    assert_eq!(alice.answer(), "Not deploying web: denied by shell:alice.");
    assert_eq!(
        alice.answer(),
        "❌ deploy #1 failed: approval failed: denied by shell:alice"
    );

    assert_eq!(alice.ask("deploy api"), "▶ deploy #2 started.");
    assert!(
        alice
            .answer()
            .starts_with("❓ Deploy api 1.2.0 to staging?")
    );
    // Nobody answers.
    assert_eq!(alice.answer(), "Not deploying api: no answer within 1s.");
    assert_eq!(
        alice.answer(),
        "❌ deploy #2 failed: approval failed: no answer within 1s"
    );
    assert_eq!(alice.ask("approve 2"), "#2 is not waiting for anyone.");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    let history = history(&bot);
    let first = tasks_of(&history, "wf-1");
    assert_eq!(task(&first, "wf-1.approval").outcome, Outcome::Error);
    assert!(
        first.iter().all(|r| r.id != "wf-1.deploy"),
        "{:?}",
        ids(&first)
    );
    let second = tasks_of(&history, "wf-2");
    assert_eq!(task(&second, "wf-2.approval").outcome, Outcome::Timeout);
    assert!(
        second.iter().all(|r| r.id != "wf-2.deploy"),
        "{:?}",
        ids(&second)
    );
}

#[test]
fn only_an_allowed_user_may_approve() {
    // Bob talks over TCP (his id is `dev:bob`); the approvers list has
    // only `shell:alice`.
    let dev = free_port();
    let bot = bot_with("deploy", &example(), "");
    let config = std::fs::read_to_string(bot.config())
        .unwrap()
        .replace(
            "  shell: {}\n",
            &format!("  shell: {{}}\n  dev: {{type: tcp, port: {dev}, user: bob}}\n"),
        )
        .replace("\"shell:*\"", "\"shell:*\", \"dev:*\"");
    bot.write_config(&config);
    // Bob may start it (permissions allow `dev:*`), not approve it.
    let text = example().replace(
        "allow-users: [\"shell:*\"]",
        "allow-users: [\"shell:*\", \"dev:*\"]",
    );
    write_workflow(&bot, "deploy", &text);
    let mut alice = bot.start();
    wait_for_port(dev);
    let bob = std::net::TcpStream::connect(("127.0.0.1", dev)).unwrap();
    bob.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut bob_reads = BufReader::new(bob.try_clone().unwrap());
    let mut bob_says = bob;
    let mut bob_hears = || {
        let mut line = String::new();
        bob_reads.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };
    writeln!(bob_says, "deploy web to prod").unwrap();
    assert_eq!(bob_hears(), "▶ deploy #1 started.");
    assert!(bob_hears().starts_with("❓ Deploy web 1.1.0 to prod?"));
    writeln!(bob_says, "approve 1").unwrap();
    assert_eq!(bob_hears(), "⛔ dev:bob may not answer #1 (approval).");
    writeln!(bob_says, "workflow status 1").unwrap();
    assert!(bob_hears().ends_with("approval waiting for approval"));
    // Alice, in another room on another connector, may.
    assert_eq!(
        alice.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    assert_eq!(
        bob_hears(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("denied: an approval from someone not among its approvers"),
        "{log}"
    );
}

#[test]
fn a_bot_killed_mid_workflow_resumes_and_runs_no_task_twice() {
    let bot = bot_with("deploy", &example(), "");
    let mut first = bot.start();
    assert_eq!(first.ask("deploy web to prod"), "▶ deploy #1 started.");
    assert!(first.answer().starts_with("❓ Deploy web 1.1.0 to prod?"));
    // Every finished task's record is on disk before the kill.
    let history = history(&bot);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tasks_of(&history, "wf-1").len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tasks' records never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = tasks_of(&history, "wf-1");
    let killed_at = sandbot::event::now_ms();
    first.kill();

    let mut second = bot.start();
    assert_eq!(second.answer(), "↻ deploy #1 resumes after a restart.");
    assert_eq!(
        second.answer(),
        "❓ Deploy web 1.1.0 to prod? Say `approve 1` or `deny 1`."
    );
    assert_eq!(
        second.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    // Built once: a second build would have been 1.2.0.
    assert_eq!(
        second.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    let (_, status, log) = second.finish();
    assert!(status.success(), "{log}");
    let after = tasks_of(&history, "wf-1");
    for id in ["wf-1.build", "wf-1.test-a", "wf-1.test-b"] {
        // Not run again: the record is the one from before the kill.
        assert_eq!(task(&after, id), task(&before, id));
        assert!(task(&after, id).ended_at <= killed_at);
    }
    assert!(task(&after, "wf-1.deploy").started_at >= killed_at);
    assert_eq!(history.get("wf-1").unwrap().unwrap().outcome, Outcome::Ok);
}

#[test]
fn a_broken_workflow_file_is_reported_with_its_line_and_the_old_one_serves() {
    let bot = bot_with("deploy", &example(), "");
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=deploy");
    // A task leads to one that does not exist.
    let broken = example().replace("do: [test-a, test-b]", "do: [test-a, test-c]");
    let line = broken.lines().position(|l| l.contains("test-c")).unwrap() + 1;
    write_workflow(&bot, "deploy", &broken);
    alice.wait_for_log(&format!("deploy.yaml:{line}:"));
    assert!(
        alice
            .log()
            .contains("`do: test-c` names no task of this workflow"),
        "{}",
        alice.log()
    );
    assert!(alice.log().contains("the previous version keeps serving"));
    // An unknown key: serde's own position.
    let typo = example().replace("    retry: {count: 1, delay: 1s}", "    retyr: {count: 1}");
    let line = typo.lines().position(|l| l.contains("retyr")).unwrap() + 1;
    write_workflow(&bot, "deploy", &typo);
    let reload = alice.ask("workflow reload");
    assert!(reload.contains(&format!("deploy.yaml:{line}:")), "{reload}");
    assert!(reload.contains("unknown field `retyr`"), "{reload}");
    // `config validate` reads the workflows too, and names the same place.
    let config = bot.config();
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success(), "{err}");
    assert!(err.contains(&format!("deploy.yaml:{line}:")), "{err}");
    // The good version still runs.
    assert_eq!(alice.ask("deploy web fail=unit"), "▶ deploy #1 started.");
    assert!(
        alice
            .answer()
            .starts_with("❌ deploy #1 failed: test-a failed")
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}

#[test]
fn with_items_runs_a_task_per_item_within_its_bound() {
    let matrix = "
inputs:
  suites: {type: array, default: [s1, s2, s3, s4, s5, s6]}
tasks:
  each:
    action: ci.test
    with-items: '{{ inputs.suites }}'
    concurrency: 2
    input: {suite: '{{ item }}', ms: 150}
output:
  passed: '{{ tasks.each.result | length }}'
  last: '{{ (tasks.each.result | last).suite }}'
";
    let bot = bot_with("matrix", matrix, "");
    let mut alice = bot.start();
    assert_eq!(alice.ask("workflow run matrix"), "▶ matrix #1 started.");
    assert_eq!(alice.answer(), "✅ matrix #1 succeeded: passed=6, last=s6");
    assert_eq!(
        alice.ask("workflow run matrix suites=x,y"),
        "▶ matrix #2 started."
    );
    assert_eq!(alice.answer(), "✅ matrix #2 succeeded: passed=2, last=y");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    let records = tasks_of(&history(&bot), "wf-1");
    assert_eq!(records.len(), 6, "{:?}", ids(&records));
    // At most two at once, and two at once at some point.
    let most = records
        .iter()
        .map(|r| {
            records
                .iter()
                .filter(|o| o.started_at <= r.started_at && r.started_at < o.ended_at)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most, 2, "{records:?}");
}

#[test]
fn a_run_is_canceled_in_chat_times_out_or_retries() {
    // The whole run may take a second in this copy.
    let text = example().replace("timeout: 10m", "timeout: 1s");
    let bot = bot_with("deploy", &text, "");
    write_workflow(
        &bot,
        "flaky",
        "tasks:\n  t:\n    action: ci.test\n    input: {suite: x, fail: x, ms: 10}\n    retry: {count: 2, delay: 100ms}\n",
    );
    let mut alice = bot.start();
    assert_eq!(alice.ask("deploy web"), "▶ deploy #1 started.");
    assert!(alice.answer().starts_with("❓ Deploy web"));
    assert_eq!(alice.ask("workflow cancel 1"), "Canceling #1…");
    assert_eq!(alice.answer(), "⏹ deploy #1 canceled by shell:alice");
    assert_eq!(alice.ask("workflow cancel 1"), "#1 is not running.");

    assert_eq!(alice.ask("deploy api"), "▶ deploy #2 started.");
    assert!(alice.answer().starts_with("❓ Deploy api"));
    assert_eq!(
        alice.answer(),
        "❌ deploy #2 failed: the workflow took longer than 1s"
    );

    assert_eq!(alice.ask("workflow run flaky"), "▶ flaky #3 started.");
    assert_eq!(
        alice.answer(),
        "❌ flaky #3 failed: t failed: suite x failed"
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");

    let history = history(&bot);
    assert_eq!(
        history.get("wf-1").unwrap().unwrap().outcome,
        Outcome::Canceled
    );
    assert_eq!(
        history.get("wf-2").unwrap().unwrap().outcome,
        Outcome::Timeout
    );
    // Three attempts, each after the delay.
    let attempts = tasks_of(&history, "wf-3");
    assert_eq!(ids(&attempts), ["wf-3.t", "wf-3.t~2", "wf-3.t~3"]);
    for pair in attempts.windows(2) {
        assert!(pair[1].started_at >= pair[0].ended_at + 100, "{attempts:?}");
    }
}

#[test]
fn help_lists_the_workflows_the_asker_may_start() {
    let bot = bot_with("deploy", &example(), "");
    write_workflow(
        &bot,
        "secret",
        "permissions: {allow-users: [\"shell:bob\"]}\ntasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n",
    );
    write_workflow(
        &bot,
        "nightly",
        "tasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n",
    );
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=secret");
    alice.say("help");
    let mut lines = vec![alice.answer()];
    while let Some(line) = alice.try_answer(Duration::from_millis(300)) {
        lines.push(line);
    }
    let help = lines.join("\n");
    assert!(
        help.contains("deploy <app> [to <env>] — build, test, approve, deploy (workflow deploy)"),
        "{help}"
    );
    assert!(help.contains("workflow run nightly"), "{help}");
    assert!(help.contains("approve N / deny N"), "{help}");
    // Alice is an admin in these bots: she may reload them too.
    assert!(help.contains("workflow reload"), "{help}");
    assert!(
        !help.contains("secret"),
        "bob's workflow is not alice's:\n{help}"
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}
