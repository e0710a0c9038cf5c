//! Workflows through the real bot: the example `deploy` workflow
//! (example-skills/workflows/deploy.yaml) over the real `ci` skill, started
//! from a chat line: build → (test-a ∥ test-b) → approval in chat → deploy,
//! a failing suite rolling back, `deny` and an approval nobody answers, an
//! approval from someone not allowed, `kill -9` in the middle and a restart
//! that resumes without running a finished task again, a broken file
//! reported with its line while the old version keeps serving, and a task
//! over a list that keeps to its concurrency bound. Then the other ways in:
//! a `crontab:` entry (a per-second schedule) following hot reload, a
//! `webhook:` with good and bad inputs and secrets, a task that starts
//! another workflow (its success, its failure, a cancel of the parent that
//! cancels it, a restart in the middle of it), a circle of workflows
//! refused at load, and SIGTERM in the middle of a task: the run stops as
//! stored and resumes. `with-items` over a child workflow, a child per item,
//! the same children after a restart, and forty quick children four at a
//! time. Two bots sharing their runs in a real
//! redis-server: an approval said on the host that does not drive the run,
//! a host killed and its run taken over by the other, a cancel from a
//! third; the same with the hosts on a NATS bus. What ran, and when, is
//! read from the execution records in the
//! history database (in Redis for the shared runs).

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
        ..Retention::default()
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
    assert_eq!(alice.ask("release web to prod"), "▶ deploy #1 started.");
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
        Some("release {{app}}( to {{env=staging}})?")
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
        alice.ask("release web to prod fail=unit"),
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
    assert_eq!(alice.ask("release web"), "▶ deploy #1 started.");
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

    assert_eq!(alice.ask("release api"), "▶ deploy #2 started.");
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
    // Bob talks over TCP (his id is `dev:bob`); the approval names no
    // approvers, so the admins answer: only `shell:alice`.
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
    writeln!(bob_says, "release web to prod").unwrap();
    assert_eq!(bob_hears(), "▶ deploy #1 started.");
    assert!(bob_hears().starts_with("❓ Deploy web 1.1.0 to prod?"));
    writeln!(bob_says, "approve 1").unwrap();
    assert_eq!(
        bob_hears(),
        "⛔ dev:bob may not answer #1 (approval): only the bot's admins may (`admins:` in the configuration)."
    );
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
    assert_eq!(first.ask("release web to prod"), "▶ deploy #1 started.");
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
    assert_eq!(alice.ask("release web fail=unit"), "▶ deploy #1 started.");
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
    assert_eq!(alice.ask("release web"), "▶ deploy #1 started.");
    assert!(alice.answer().starts_with("❓ Deploy web"));
    assert_eq!(alice.ask("workflow cancel 1"), "Canceling #1…");
    assert_eq!(alice.answer(), "⏹ deploy #1 canceled by shell:alice");
    assert_eq!(alice.ask("workflow cancel 1"), "#1 is not running.");

    assert_eq!(alice.ask("release api"), "▶ deploy #2 started.");
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
        help.contains("release <app> [to <env>] — build, test, approve, deploy (workflow deploy)"),
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

/// A workflow's alias is routed as a skill's is: when it and a skill's
/// alias both fit a message, nothing runs and both are named, the answer
/// two skills' aliases get; with the skill off, the workflow's alone fits
/// and starts its run; a slip of its words is suggested, and `history
/// NAME` finds its runs as it finds a skill's.
#[test]
fn a_workflow_alias_and_a_skill_alias_that_both_fit_are_named_not_guessed() {
    let bot = BotDir::new(&["ci", "deploy"], "");
    std::fs::create_dir_all(bot.path().join("workflows")).unwrap();
    // The example's words made the deploy skill's, to collide.
    let colliding = example()
        .replace("release {{app}}", "deploy {{app}}")
        .replace("release <app>", "deploy <app>");
    write_workflow(&bot, "release", &colliding);
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=release");
    // Said at load, with where each command's words are written.
    alice.wait_for_log("two commands have the same words");
    let line = 1 + colliding
        .lines()
        .position(|l| l.contains("format: \"deploy {{app}}"))
        .unwrap();
    let file = bot.path().join("workflows/release.yaml");
    assert!(
        alice.log().contains(&format!(
            "skill `deploy`, its matcher `deploy` (`deploy {{{{app}}}}( to {{{{env=staging}}}})?`); workflow `release` ({}:{line})",
            file.display()
        )),
        "{}",
        alice.log()
    );
    assert_eq!(
        alice.ask("deploy web"),
        "⚠ That matches more than one command: \
         `deploy <app> [to <env>] [key=value ...] — deploy (staging by default)` (deploy), \
         `deploy <app> [to <env>] — build, test, approve, deploy` (release). \
         Say which, more precisely."
    );
    assert_eq!(alice.ask("skill disable deploy"), "`deploy` is disabled.");
    assert_eq!(alice.ask("deploy web"), "▶ release #1 started.");
    assert_eq!(
        alice.answer(),
        "❓ Deploy web 1.1.0 to staging? Say `approve 1` or `deny 1`."
    );
    assert_eq!(alice.ask("deny 1"), "👎 shell:alice denied #1 (approval).");
    alice.answer();
    alice.answer();
    let slip = alice.ask("deplyo web");
    assert!(
        slip.contains(
            "`deploy <app> [to <env>] — build, test, approve, deploy` (workflow release)"
        ),
        "{slip}"
    );
    let mut runs = vec![alice.ask("history release")];
    while let Some(line) = alice.try_answer(Duration::from_millis(300)) {
        runs.push(line);
    }
    let runs = runs.join("\n");
    assert!(runs.contains("release workflow/"), "{runs}");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}

/// Reads answers until `pred` holds for one, which it returns.
fn answer_until(bot: &crate::common::Running, pred: impl Fn(&str) -> bool) -> String {
    loop {
        let line = bot.answer();
        if pred(&line) {
            return line;
        }
    }
}

#[test]
fn a_crontab_entry_starts_the_workflow_and_follows_reload() {
    let nightly = |suite: &str| {
        format!(
            "crontab:\n  - schedule: \"* * * * * *\"\n    inputs: {{suite: {suite}}}\n    room: shell:shell\n\
             inputs:\n  suite: {{type: string}}\n\
             tasks:\n  t:\n    action: ci.test\n    input: {{suite: '{{{{ inputs.suite }}}}', ms: 1}}\n\
             output:\n  suite: '{{{{ tasks.t.result.suite }}}}'\n"
        )
    };
    let bot = bot_with("nightly", &nightly("unit"), "");
    let alice = bot.start();
    // A tick starts a run, said in the entry's room, with the entry's inputs.
    let started = answer_until(&alice, |l| l.starts_with("▶ nightly #"));
    let n: u64 = started
        .trim_start_matches("▶ nightly #")
        .trim_end_matches(" started.")
        .parse()
        .unwrap();
    assert_eq!(
        answer_until(&alice, |l| l.contains(&format!("#{n} succeeded"))),
        format!("✅ nightly #{n} succeeded: suite=unit")
    );
    // Hot reload: the new inputs from the next tick on.
    write_workflow(&bot, "nightly", &nightly("integration"));
    answer_until(&alice, |l| l.ends_with("succeeded: suite=integration"));
    // Without a `crontab:` it no longer starts.
    write_workflow(
        &bot,
        "nightly",
        "tasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n",
    );
    alice.wait_for_log("workflow loaded workflow=nightly");
    // A run that started before the swap may still end; then nothing.
    while alice.try_answer(Duration::from_millis(1500)).is_some() {}
    assert_eq!(alice.try_answer(Duration::from_millis(1500)), None);
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    // A tick's run has its record, and the tick is its event.
    let history = history(&bot);
    let run = history.get(&format!("wf-{n}")).unwrap().unwrap();
    assert_eq!(run.outcome, Outcome::Ok);
    assert_eq!(run.skill, "nightly");
    assert!(
        run.captures.contains(&("suite".into(), "unit".into())),
        "{run:?}"
    );
    assert_eq!(tasks_of(&history, &format!("wf-{n}")).len(), 1);
}

#[test]
fn a_webhook_starts_the_workflow_with_its_inputs_checked() {
    let port = free_port();
    let release = "webhook: {room: shell:shell}
inputs:
  app: {type: string}
  n: {type: integer, default: 1}
tasks:
  t:
    action: ci.build
    input: {app: '{{ inputs.app }}'}
output:
  app: '{{ inputs.app }}'
  n: '{{ inputs.n }}'
";
    let config = format!(
        "web: {{port: {port}}}\nworkflows:\n  release:\n    webhook: {{secret: s3cret, max-body: 1KiB}}\n"
    );
    let bot = bot_with("release", release, &config);
    let alice = bot.start();
    wait_for_port(port);
    let token = [("x-sandbot-token", "s3cret")];
    let post = |headers: &[(&str, &str)], body: &str| {
        http(port, "POST", "/workflow/release", headers, body)
    };
    let (code, body) = post(&token, r#"{"app": "web", "n": 3}"#);
    assert_eq!(code, 202, "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["id"], "wf-1");
    assert_eq!(alice.answer(), "▶ release #1 started.");
    assert_eq!(alice.answer(), "✅ release #1 succeeded: app=web, n=3");
    // Bad inputs: 400 naming the field; nothing starts.
    for (body, expected) in [
        (
            r#"{"app": "web", "n": "three"}"#,
            "input `n`: \"three\" is not an integer",
        ),
        (
            r#"{"app": "web", "colour": "red"}"#,
            "`release` has no input `colour`",
        ),
        (r#"{"n": 2}"#, "input `app` is needed"),
        (r#"["web"]"#, "must be a JSON object"),
        ("app=web", "the body is not JSON"),
    ] {
        let (code, text) = post(&token, body);
        assert_eq!(code, 400, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    // The secret is checked before the body is read as inputs.
    let (code, _) = post(&[("x-sandbot-token", "guess")], r#"{"app": "web"}"#);
    assert_eq!(code, 401);
    let (code, _) = post(&[], r#"{"app": "web"}"#);
    assert_eq!(code, 401);
    let big = format!(r#"{{"app": "{}"}}"#, "x".repeat(2000));
    let (code, _) = post(&token, &big);
    assert_eq!(code, 413);
    // Only a workflow that declares `webhook:` has one.
    write_workflow(
        &bot,
        "quiet",
        "tasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n",
    );
    alice.wait_for_log("workflow loaded workflow=quiet");
    let (code, _) = http(port, "POST", "/workflow/quiet", &token, "{}");
    assert_eq!(code, 404);
    assert_eq!(alice.try_answer(Duration::from_millis(300)), None);
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    assert!(log.contains("webhook request refused (401)"), "{log}");
    let history = history(&bot);
    let run = history.get("wf-1").unwrap().unwrap();
    assert_eq!(run.outcome, Outcome::Ok);
    assert!(history.get("wf-2").unwrap().is_none(), "no second run");

    // Without an HTTP server the operator is told at start.
    let bot = bot_with(
        "release",
        release,
        "workflows:\n  release:\n    webhook: {secret: s3cret}\n",
    );
    let alice = bot.start();
    alice.wait_for_log("a workflow declares `webhook:`, but no HTTP server runs");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}

/// A workflow file may declare `webhook:` only when the configuration has a
/// secret for it or says `public: true`: otherwise the file does not load
/// (named with its line, by the bot and by `config validate`) and nothing
/// answers at its address; with `public: true` anyone may start it.
#[test]
fn a_workflow_webhook_without_a_secret_loads_only_when_written_public() {
    let port = free_port();
    let open = "webhook: {room: shell:shell}\ntasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n";
    let bot = bot_with("open", open, &format!("web: {{port: {port}}}\n"));
    let flow = bot.path().join("workflows/open.yaml");
    let expected = format!(
        "{}:1:1: webhook: workflows.open.webhook in the configuration has no `secret`",
        flow.display()
    );
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", bot.config().to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains(&expected), "{err}");
    let alice = bot.start();
    alice.wait_for_log(&expected);
    wait_for_port(port);
    assert_eq!(http(port, "POST", "/workflow/open", &[], "{}").0, 404);
    drop(alice);

    let config = std::fs::read_to_string(bot.config()).unwrap();
    bot.write_config(&format!(
        "{config}workflows:\n  open:\n    webhook: {{public: true}}\n"
    ));
    let alice = bot.start();
    wait_for_port(port);
    let (code, body) = http(port, "POST", "/workflow/open", &[], "{}");
    assert_eq!(code, 202, "{body}");
    assert_eq!(alice.answer(), "▶ open #1 started.");
}

/// A parent `release` whose `ship` task starts the child `ship` workflow:
/// a check, an approval, a deploy.
const RELEASE: &str = "
inputs:
  app: {type: string}
  fail: {type: string, default: ''}
tasks:
  build:
    action: ci.build
    input: {app: '{{ inputs.app }}'}
    next: [{when: succeeded, publish: {version: '{{ result.version }}'}, do: ship}]
  ship:
    action: workflow.ship
    input: {app: '{{ inputs.app }}', version: '{{ vars.version }}', fail: '{{ inputs.fail }}'}
    next:
      - when: succeeded
        publish: {url: '{{ result.url }}'}
      - when: failed
        do: rollback
  rollback:
    action: ci.rollback
    input: {app: '{{ inputs.app }}'}
    next: [{do: fail}]
output:
  url: '{{ vars.url }}'
";

const SHIP: &str = "
inputs:
  app: {type: string}
  version: {type: string}
  fail: {type: string, default: ''}
tasks:
  check:
    action: ci.test
    input: {suite: smoke, ms: 1, fail: '{{ inputs.fail }}'}
    next: [{when: succeeded, do: approval}]
  approval:
    action: approve
    input: {question: 'Ship {{ inputs.app }} {{ inputs.version }}?', approvers: ['shell:alice']}
    next: [{when: succeeded, do: deploy}]
  deploy:
    action: ci.deploy
    input: {app: '{{ inputs.app }}', env: prod, version: '{{ inputs.version }}'}
output:
  url: '{{ tasks.deploy.result.url }}'
";

fn release_bot() -> BotDir {
    let bot = bot_with("release", RELEASE, "");
    write_workflow(&bot, "ship", SHIP);
    bot
}

#[test]
fn a_task_starts_a_child_workflow_and_takes_its_output() {
    let bot = release_bot();
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=ship");
    assert_eq!(
        alice.ask("workflow run release app=web"),
        "▶ release #1 started."
    );
    // The child asks in the parent's room, under its own number.
    assert_eq!(
        alice.answer(),
        "❓ Ship web 1.1.0? Say `approve 2` or `deny 2`."
    );
    assert_eq!(
        alice.ask("approve 2"),
        "👍 shell:alice approved #2 (approval)."
    );
    assert_eq!(
        alice.answer(),
        "✅ release #1 succeeded: url=https://prod.example/web"
    );

    // The failure path: the child fails, so does the task, and `next:` handles it.
    assert_eq!(
        alice.ask("workflow run release app=api fail=smoke"),
        "▶ release #3 started."
    );
    assert_eq!(
        alice.answer(),
        "❌ release #3 failed: ship failed: ship #4: check failed: suite smoke failed"
    );

    // Canceling the parent cancels the child it waits for.
    assert_eq!(
        alice.ask("workflow run release app=db"),
        "▶ release #5 started."
    );
    assert!(alice.answer().starts_with("❓ Ship db 1.3.0?"));
    assert_eq!(alice.ask("workflow cancel 5"), "Canceling #5…");
    assert_eq!(alice.answer(), "⏹ release #5 canceled by shell:alice");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");

    let history = history(&bot);
    // The child's record hangs under the task that started it.
    let child = history.get("wf-2").unwrap().unwrap();
    assert_eq!(child.skill, "ship");
    assert_eq!(child.outcome, Outcome::Ok);
    assert_eq!(child.parent.as_deref(), Some("wf-1.ship"));
    assert_eq!(
        ids(&tasks_of(&history, "wf-1.ship")),
        ["wf-2"],
        "the task's record has the child run under it"
    );
    let task_record = task(&tasks_of(&history, "wf-1"), "wf-1.ship").clone();
    assert_eq!(task_record.outcome, Outcome::Ok);
    assert_eq!(
        (task_record.skill.as_str(), task_record.matcher.as_str()),
        ("workflow", "ship")
    );
    assert_eq!(
        ids(&tasks_of(&history, "wf-2")),
        ["wf-2.approval", "wf-2.check", "wf-2.deploy"]
    );
    let failed = tasks_of(&history, "wf-3");
    assert_eq!(task(&failed, "wf-3.ship").outcome, Outcome::Error);
    assert_eq!(task(&failed, "wf-3.rollback").outcome, Outcome::Ok);
    assert_eq!(
        history.get("wf-4").unwrap().unwrap().outcome,
        Outcome::Error
    );
    assert_eq!(
        history.get("wf-5").unwrap().unwrap().outcome,
        Outcome::Canceled
    );
    let child = history.get("wf-6").unwrap().unwrap();
    assert_eq!(child.outcome, Outcome::Canceled);
    assert_eq!(child.error.as_deref(), Some("canceled by parent #5"),);
}

#[test]
fn a_circle_of_workflows_is_refused_at_load() {
    let calls =
        |other: &str| format!("tasks:\n  t:\n    action: workflow.{other}\n    input: {{}}\n");
    let bot = bot_with("a", &calls("b"), "");
    write_workflow(&bot, "b", &calls("a"));
    write_workflow(&bot, "c", &calls("c"));
    // `config validate` names the place too.
    let config = bot.config();
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("a.yaml:3:13: task `t` starts `b`, which leads back to it (a → b → a)"),
        "{err}"
    );
    assert!(
        err.contains("c.yaml:3:13: task `t`: workflow `c` may not start itself"),
        "{err}"
    );
    let mut alice = bot.start();
    alice.wait_for_log("which leads back to it");
    // `b` loaded (it was not the one refused); the workflow it starts is not there.
    assert_eq!(alice.ask("workflow run b"), "▶ b #1 started.");
    assert_eq!(
        alice.answer(),
        "❌ b #1 failed: t failed: no workflow named `a` is loaded"
    );
    assert_eq!(alice.ask("workflow run a"), "⚠ No workflow is named `a`.");
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}

#[test]
fn a_bot_killed_while_a_child_runs_resumes_both_and_reruns_nothing() {
    let bot = release_bot();
    let mut first = bot.start();
    first.wait_for_log("workflow loaded workflow=ship");
    assert_eq!(
        first.ask("workflow run release app=web"),
        "▶ release #1 started."
    );
    assert!(first.answer().starts_with("❓ Ship web 1.1.0?"));
    // The finished tasks' records are on disk before the kill.
    let history = history(&bot);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tasks_of(&history, "wf-1").is_empty() || tasks_of(&history, "wf-2").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no records");
        std::thread::sleep(Duration::from_millis(20));
    }
    let build = task(&tasks_of(&history, "wf-1"), "wf-1.build").clone();
    let check = task(&tasks_of(&history, "wf-2"), "wf-2.check").clone();
    let killed_at = sandbot::event::now_ms();
    first.kill();

    let mut second = bot.start();
    let mut resumed = second.answers(2);
    resumed.sort();
    assert_eq!(
        resumed,
        [
            "↻ release #1 resumes after a restart.",
            "↻ ship #2 resumes after a restart."
        ]
    );
    assert_eq!(
        second.answer(),
        "❓ Ship web 1.1.0? Say `approve 2` or `deny 2`."
    );
    assert_eq!(
        second.ask("approve 2"),
        "👍 shell:alice approved #2 (approval)."
    );
    assert_eq!(
        second.answer(),
        "✅ release #1 succeeded: url=https://prod.example/web"
    );
    let (_, status, log) = second.finish();
    assert!(status.success(), "{log}");
    // Nothing finished ran again, and no second child was started.
    assert_eq!(task(&tasks_of(&history, "wf-1"), "wf-1.build"), &build);
    assert_eq!(task(&tasks_of(&history, "wf-2"), "wf-2.check"), &check);
    assert!(task(&tasks_of(&history, "wf-2"), "wf-2.deploy").started_at >= killed_at);
    assert!(history.get("wf-3").unwrap().is_none());
    assert_eq!(history.get("wf-1").unwrap().unwrap().outcome, Outcome::Ok);
    assert_eq!(
        history.get("wf-2").unwrap().unwrap().parent.as_deref(),
        Some("wf-1.ship")
    );
}

#[test]
fn a_bot_stopped_mid_task_stops_the_run_as_stored_and_resumes_it() {
    let slow = "
tasks:
  quick:
    action: ci.build
    input: {app: web, ms: 1}
    next: [{do: slow}]
  slow:
    action: ci.test
    input: {suite: long, ms: 3000}
output:
  version: '{{ tasks.quick.result.version }}'
";
    let bot = bot_with("slow", slow, "runtime: {shutdown-grace: 1s}\n");
    let mut first = bot.start();
    assert_eq!(first.ask("workflow run slow"), "▶ slow #1 started.");
    // Read from the store: `slow` runs once `quick`'s step is kept.
    loop {
        let status = first.ask("workflow status 1");
        if status.contains("slow running") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    first.terminate();
    let (rest, status, log) = first.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{log}");
    assert!(rest.is_empty(), "nothing said about the run: {rest:?}");
    assert!(
        log.contains("workflow stopped with the bot; it resumes on the next start"),
        "{log}"
    );
    let history = history(&bot);
    assert!(history.get("wf-1").unwrap().is_none(), "no end recorded");
    let quick = task(&tasks_of(&history, "wf-1"), "wf-1.quick").clone();

    let second = bot.start();
    assert_eq!(second.answer(), "↻ slow #1 resumes after a restart.");
    assert_eq!(second.answer(), "✅ slow #1 succeeded: version=1.1.0");
    let (_, status, log) = second.finish();
    assert!(status.success(), "{log}");
    assert_eq!(task(&tasks_of(&history, "wf-1"), "wf-1.quick"), &quick);
    assert_eq!(
        task(&tasks_of(&history, "wf-1"), "wf-1.slow").outcome,
        Outcome::Ok
    );
}

/// The records of run `run`'s tasks, polled until there are `n`.
fn wait_for_tasks(history: &History, run: &str, n: usize) -> Vec<Execution> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = tasks_of(history, run);
        if found.len() >= n {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{run}'s task records never arrived: {:?}",
            ids(&found)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_hosts_share_runs_in_redis_and_one_takes_over_the_runs_of_a_host_that_dies() {
    let redis = crate::memory::RedisServer::start();
    let config = format!("databases:\n  redis: {{url: '{}'}}\n", redis.url());
    let (a, b) = (
        bot_with("deploy", &example(), &config),
        bot_with("deploy", &example(), &config),
    );
    let mut one = a.start();
    let mut two = b.start();
    for host in [&one, &two] {
        host.wait_for_log("workflow runs are in Redis");
    }
    let retention = Retention {
        max_age: Duration::from_secs(86_400),
        max_count: 100_000,
        ..Retention::default()
    };
    let history = History::open_redis(&redis.url(), "redis", "sandbot", retention).unwrap();

    // Started on the first host, approved on the second: the second asks
    // the first, which drives the run and says how it ended.
    assert_eq!(one.ask("release web to prod"), "▶ deploy #1 started.");
    assert!(one.answer().starts_with("❓ Deploy web 1.1.0 to prod?"));
    let status = two.ask("workflow status 1");
    assert!(status.starts_with("#1 deploy: running on "), "{status}");
    assert!(status.contains("approval waiting for approval"), "{status}");
    assert_eq!(
        two.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    assert_eq!(
        one.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );

    // The first host dies waiting for an approval: the second takes the
    // run once the first's heartbeat lapses, and asks again.
    assert_eq!(one.ask("release web to prod"), "▶ deploy #2 started.");
    assert!(one.answer().starts_with("❓ Deploy web 1.2.0 to prod?"));
    let before = wait_for_tasks(&history, "wf-2", 3);
    let killed_at = sandbot::event::now_ms();
    one.kill();
    let taken = two.answer();
    assert!(
        taken.starts_with("↻ deploy #2 resumes on ") && taken.ends_with(" stopped."),
        "{taken}"
    );
    assert_eq!(
        two.answer(),
        "❓ Deploy web 1.2.0 to prod? Say `approve 2` or `deny 2`."
    );
    assert_eq!(
        two.ask("approve 2"),
        "👍 shell:alice approved #2 (approval)."
    );
    assert_eq!(
        two.answer(),
        "✅ deploy #2 succeeded: version=1.2.0, url=https://prod.example/web"
    );
    let after = wait_for_tasks(&history, "wf-2", 5);
    for id in ["wf-2.build", "wf-2.test-a", "wf-2.test-b"] {
        // Not run again: the record is the one from before the kill.
        assert_eq!(task(&after, id), task(&before, id));
    }
    assert!(task(&after, "wf-2.deploy").started_at >= killed_at);

    // A cancel said to a new host reaches the host driving the run.
    assert_eq!(two.ask("release api to prod"), "▶ deploy #3 started.");
    assert!(two.answer().starts_with("❓ Deploy api"));
    let mut three = a.start();
    three.wait_for_log("workflow runs are in Redis");
    assert_eq!(three.ask("workflow cancel 3"), "Canceling #3…");
    assert_eq!(two.answer(), "⏹ deploy #3 canceled by shell:alice");
    assert_eq!(three.ask("approve 3"), "#3 is not waiting for anyone.");
    let (_, status, log) = two.finish();
    assert!(status.success(), "{log}");
    assert!(!log.contains("another host took"), "{log}");
    let (_, status, log) = three.finish();
    assert!(status.success(), "{log}");
}

/// The same on a NATS bus: the hosts' coordination is NATS's (presence in
/// its hosts bucket, asking over request/reply), the runs still in Redis.
/// The first host is the only worker while it starts two runs, so it
/// drives both; killed, its runs are taken by the second once it is no
/// longer alive, and a cancel said on a third host reaches the driver.
#[test]
fn on_a_nats_bus_a_hosts_runs_are_taken_over_when_it_dies() {
    let nats = crate::cluster::NatsServer::start();
    let redis = crate::memory::RedisServer::start();
    let host = |name: &str| {
        let config = format!(
            "databases:\n  redis: {{url: '{}'}}\nbus:\n  type: nats\n  url: {}\n  host: {name}\n  ack-wait: 2s\n  lease-ttl: 3s\n",
            redis.url(),
            nats.url()
        );
        bot_with("deploy", &example(), &config)
    };
    let (a, b, c) = (host("one"), host("two"), host("three"));
    let mut one = a.start();
    one.wait_for_log("workflow runs are in Redis");
    one.wait_for_log("on the NATS bus");
    assert_eq!(one.ask("release web to prod"), "▶ deploy #1 started.");
    assert!(one.answer().starts_with("❓ Deploy web 1.1.0 to prod?"));
    let mut two = b.start();
    two.wait_for_log("workflow runs are in Redis");
    // One is alive: two does not take its run.
    let status = two.ask("workflow status 1");
    assert!(status.starts_with("#1 deploy: running on one "), "{status}");
    // One dies: two takes its run once one is no longer alive.
    let killed = std::time::Instant::now();
    one.kill();
    assert_eq!(two.answer(), "↻ deploy #1 resumes on two: one stopped.");
    assert!(
        killed.elapsed() < Duration::from_secs(3 + 5),
        "taken over within lease-ttl and a margin: {:?}",
        killed.elapsed()
    );
    assert_eq!(
        two.answer(),
        "❓ Deploy web 1.1.0 to prod? Say `approve 1` or `deny 1`."
    );
    assert_eq!(
        two.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    assert_eq!(
        two.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    // Two, the only worker, drives run 2; a cancel said on a third host
    // (whichever worker takes it) reaches it.
    assert_eq!(two.ask("release api to prod"), "▶ deploy #2 started.");
    assert!(two.answer().starts_with("❓ Deploy api"));
    let mut three = c.start();
    three.wait_for_log("workflow runs are in Redis");
    assert_eq!(three.ask("workflow cancel 2"), "Canceling #2…");
    assert_eq!(two.answer(), "⏹ deploy #2 canceled by shell:alice");
    let (_, status, log) = two.finish();
    assert!(status.success(), "{log}");
    assert!(!log.contains("another host took"), "{log}");
    let (_, status, log) = three.finish();
    assert!(status.success(), "{log}");
}

/// `n` lines, sorted: for answers whose order is not set.
fn sorted_answers(bot: &crate::common::Running, n: usize) -> Vec<String> {
    let mut lines = bot.answers(n);
    lines.sort();
    lines
}

#[test]
fn with_items_over_a_workflow_starts_a_child_per_item_and_a_restart_waits_for_the_same_ones() {
    let fleet = "
inputs:
  apps: {type: array, default: [web, api, db]}
tasks:
  each:
    action: workflow.ship
    with-items: '{{ inputs.apps }}'
    concurrency: 2
    input: {app: '{{ item }}', version: '1.0'}
output:
  shipped: '{{ tasks.each.result | length }}'
  last: '{{ (tasks.each.result | last).url }}'
";
    let bot = bot_with("fleet", fleet, "");
    write_workflow(&bot, "ship", SHIP);
    let mut first = bot.start();
    first.wait_for_log("workflow loaded workflow=ship");
    assert_eq!(first.ask("workflow run fleet"), "▶ fleet #1 started.");
    // Two children at once, one per item, each asking under its number.
    let asked = sorted_answers(&first, 2);
    assert_eq!(
        asked
            .iter()
            .map(|l| &l[..l.find('?').unwrap()])
            .collect::<Vec<_>>(),
        ["❓ Ship api 1.0", "❓ Ship web 1.0"]
    );
    let numbers: Vec<&str> = asked
        .iter()
        .map(|l| l.split('`').nth(1).unwrap().trim_start_matches("approve "))
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(sorted, ["2", "3"], "{asked:?}");
    first.kill();

    // The restart resumes the parent and the same two children: no third
    // child for an item that had one.
    let mut second = bot.start();
    let mut expected = vec![
        "↻ fleet #1 resumes after a restart.".to_owned(),
        "↻ ship #2 resumes after a restart.".to_owned(),
        "↻ ship #3 resumes after a restart.".to_owned(),
    ];
    expected.extend(asked.iter().cloned());
    expected.sort();
    assert_eq!(sorted_answers(&second, 5), expected);
    second.say("approve 2");
    second.say("approve 3");
    // Two places free up: the last item's child starts.
    assert_eq!(
        sorted_answers(&second, 3),
        [
            "❓ Ship db 1.0? Say `approve 4` or `deny 4`.",
            "👍 shell:alice approved #2 (approval).",
            "👍 shell:alice approved #3 (approval).",
        ]
    );
    assert_eq!(
        second.ask("approve 4"),
        "👍 shell:alice approved #4 (approval)."
    );
    assert_eq!(
        second.answer(),
        "✅ fleet #1 succeeded: shipped=3, last=https://prod.example/db"
    );
    let (_, status, log) = second.finish();
    assert!(status.success(), "{log}");
    let history = history(&bot);
    // Each item's record has its child under it; no fifth run.
    // `asked` is sorted: api (item 1) first, then web (item 0).
    let children = [
        ("wf-1.each[0]", format!("wf-{}", numbers[1])),
        ("wf-1.each[1]", format!("wf-{}", numbers[0])),
        ("wf-1.each[2]", "wf-4".to_owned()),
    ];
    for (item, child) in &children {
        let under = tasks_of(&history, item);
        assert!(
            ids(&under).contains(&child.as_str()),
            "{item}: {:?}",
            ids(&under)
        );
    }
    assert!(history.get("wf-5").unwrap().is_none());
}

#[test]
fn many_quick_children_over_with_items_all_end() {
    // Children that end at once, four at a time: items end while others'
    // children are being created, again and again.
    let quick = "
inputs:
  n: {type: integer}
tasks:
  one:
    action: ci.test
    input: {suite: 'q{{ inputs.n }}', ms: 1}
output:
  suite: '{{ tasks.one.result.suite }}'
";
    let many = "
tasks:
  each:
    action: workflow.quick
    with-items: '{{ range(40) | list }}'
    concurrency: 4
    input: {n: '{{ item }}'}
output:
  ended: '{{ tasks.each.result | length }}'
  last: '{{ (tasks.each.result | last).suite }}'
";
    let bot = bot_with("many", many, "");
    write_workflow(&bot, "quick", quick);
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=quick");
    for run in [1, 42] {
        assert_eq!(
            alice.ask("workflow run many"),
            format!("▶ many #{run} started.")
        );
        assert_eq!(
            alice.answer(),
            format!("✅ many #{run} succeeded: ended=40, last=q39")
        );
    }
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
}

/// Orquesta's joins through the real bot. A branch that failed and was
/// handled elsewhere never reaches the join: the join can never run, and
/// the run fails naming it (it said "✅ succeeded" with the join left
/// waiting). A task that leads to the join on success and on failure
/// counts once, so the join runs after it failed (it waited forever). A
/// run's error names the failure nothing handled.
#[test]
fn a_join_after_a_handled_failure_fails_the_run_and_one_reached_on_failure_runs() {
    let stranded = "
inputs:
  fail: {type: string, default: unit}
tasks:
  start:
    action: ci.build
    input: {app: web}
    next: [{do: [test-a, test-b]}]
  test-a:
    action: ci.test
    input: {suite: unit, ms: 10, fail: '{{ inputs.fail }}'}
    next:
      - {when: succeeded, do: deploy}
      - {when: failed, do: cleanup}
  test-b:
    action: ci.test
    input: {suite: integration, ms: 200}
    next: [{when: succeeded, do: deploy}]
  cleanup: {action: ci.rollback, input: {app: web}}
  deploy: {action: ci.deploy, join: all, input: {app: web, env: prod, version: '1'}}
";
    let bot = bot_with("gate", stranded, "");
    let reached = stranded
        .replace(
            "- {when: failed, do: cleanup}",
            "- {when: failed, do: deploy}",
        )
        .replace("  cleanup: {action: ci.rollback, input: {app: web}}\n", "");
    write_workflow(&bot, "report", &reached);
    // A failure handled early, another unhandled later: the run's error
    // names the unhandled one (it named the earliest).
    let unhandled = "
tasks:
  start: {action: ci.build, input: {app: web}, next: [{do: [a, c]}]}
  a:
    action: ci.test
    input: {suite: unit, ms: 10, fail: unit}
    next: [{when: failed, do: cleanup}]
  cleanup: {action: ci.rollback, input: {app: web}}
  c: {action: ci.test, input: {suite: integration, ms: 300, fail: integration}}
";
    write_workflow(&bot, "unhandled", unhandled);
    let mut alice = bot.start();
    assert_eq!(alice.ask("workflow run gate"), "▶ gate #1 started.");
    assert_eq!(
        alice.answer(),
        "❌ gate #1 failed: join `deploy` can never run: it waits for every task that leads to it, and `test-a` did not lead to it"
    );
    let status = alice.ask("workflow status 1");
    assert!(status.contains("cleanup succeeded"), "{status}");
    assert!(status.contains("deploy waiting"), "{status}");
    // Without the failure the same join runs.
    assert_eq!(
        alice.ask("workflow run gate fail=none"),
        "▶ gate #2 started."
    );
    assert_eq!(alice.answer(), "✅ gate #2 succeeded");
    assert_eq!(alice.ask("workflow run report"), "▶ report #3 started.");
    assert_eq!(alice.answer(), "✅ report #3 succeeded");
    assert_eq!(
        alice.ask("workflow run unhandled"),
        "▶ unhandled #4 started."
    );
    assert_eq!(
        alice.answer(),
        "❌ unhandled #4 failed: c failed: suite integration failed"
    );
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    let history = history(&bot);
    assert_eq!(
        history.get("wf-1").unwrap().unwrap().outcome,
        Outcome::Error
    );
    let gate = tasks_of(&history, "wf-1");
    assert_eq!(
        ids(&gate),
        ["wf-1.cleanup", "wf-1.start", "wf-1.test-a", "wf-1.test-b"],
        "no deploy"
    );
    assert_eq!(ids(&tasks_of(&history, "wf-2")).len(), 4, "deploy ran");
    let report = tasks_of(&history, "wf-3");
    assert_eq!(task(&report, "wf-3.test-a").outcome, Outcome::Error);
    assert_eq!(task(&report, "wf-3.deploy").outcome, Outcome::Ok);
}

/// A file with three mistakes is answered with three lines, each at its
/// own place, by `config validate` (the count is of files); joins that
/// could never run are among the mistakes.
#[test]
fn every_mistake_in_a_workflow_file_is_reported_with_its_place() {
    let broken = "
tasks:
  build:
    action: ci.build
    next: [{do: tset}]
  test:
    action: wait
    input: {for: soon}
  deploy:
    action: ci
    join: all
    concurrency: 0
";
    let bot = bot_with("deploy", broken, "");
    // Joins that could never run are refused at load, at the join.
    let joins = "
tasks:
  check:
    action: ci.test
    next:
      - {when: succeeded, do: good}
      - {when: failed, do: bad}
  good: {action: ci, next: [{do: [end, quorum]}]}
  bad: {action: ci, next: [{do: [end, quorum]}]}
  end:
    action: ci
    join: all
  quorum:
    action: ci
    join: 3
";
    write_workflow(&bot, "joins", joins);
    let config = bot.config();
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let places: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split("deploy.yaml:").nth(1)?.split(": ").next())
        .collect();
    assert_eq!(places, ["8:18", "12:5", "5:17"], "{err}");
    assert!(lines[0].contains("`for: soon` is not a duration"), "{err}");
    assert!(lines[1].contains("concurrency must be at least 1"), "{err}");
    assert!(lines[2].contains("`do: tset` names no task"), "{err}");
    assert!(
        lines.iter().any(|l| l.ends_with("/joins.yaml:12:5: task `end`: the join can never run: it waits for both `good` and `bad` (`check` leads to one or the other)")),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("/joins.yaml:15:5: task `quorum`: `join: 3` waits for more tasks than the 2 that lead to it")),
        "{err}"
    );
    assert!(err.contains(": 5 mistakes"), "{err}");
}

/// What `make run` installs is what the default configuration and the
/// example workflow need: every skill and workflow `make install-skills`
/// copies (read from `make -n`, so the Makefile itself is checked), put in
/// a bot on `configuration.yaml`, starts the example as its docs say, the
/// person who ran it (an admin there) approves, and the deploy skill keeps
/// its own `deploy` command.
#[test]
fn make_run_installs_the_example_workflow_and_its_skill_and_they_run_as_documented() {
    let repo = Path::new(sandbot_test_skills::WORKSPACE);
    let plan = std::process::Command::new("make")
        .args(["-n", "--no-print-directory", "install-skills"])
        .current_dir(repo)
        .output()
        .expect("make runs");
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    // `for s in a b c; do ...`: the lists the loops run over.
    let lists: Vec<Vec<&str>> = plan
        .lines()
        .filter_map(|l| l.trim().strip_prefix("for "))
        .filter_map(|l| {
            l.split_once(" in ")?
                .1
                .split_once(';')
                .map(|(list, _)| list)
        })
        .map(|list| list.split_whitespace().collect())
        .collect();
    assert_eq!(
        lists.len(),
        2,
        "a loop for skills and one for workflows:\n{plan}"
    );
    let (skills, workflows) = (&lists[0], &lists[1]);
    assert!(plan.contains("workflows/$w.yaml"), "{plan}");
    assert_eq!(workflows, &["deploy"], "the example workflows");
    let example = example();
    for action in example
        .lines()
        .filter_map(|l| l.trim().strip_prefix("action: "))
    {
        if let Some((skill, _)) = action.split_once('.') {
            assert!(
                skills.contains(&skill),
                "`make run` does not install `{skill}`"
            );
        }
    }
    let default = std::fs::read_to_string(repo.join("configuration.yaml")).unwrap();
    let bot = BotDir::new(skills, "");
    std::fs::create_dir_all(bot.path().join("workflows")).unwrap();
    write_workflow(&bot, "deploy", &example);
    let port = free_port();
    bot.write_config(&default.replace("port: 8080", &format!("port: {port}")));
    // USER=alice: she ran `make run`, so she is the admin.
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=deploy");
    assert_eq!(
        alice.ask("deploy api"),
        "Deploying api to staging for alice."
    );
    assert_eq!(alice.ask("release web to prod"), "▶ deploy #1 started.");
    assert_eq!(
        alice.answer(),
        "❓ Deploy web 1.1.0 to prod? Say `approve 1` or `deny 1`."
    );
    assert_eq!(
        alice.ask("approve 1"),
        "👍 shell:alice approved #1 (approval)."
    );
    assert!(
        alice.answer().starts_with("✅ deploy #1 succeeded"),
        "{}",
        alice.log()
    );
    assert!(!alice.log().contains("same words"), "{}", alice.log());
}

/// A bot started before its workflows folder exists makes it and watches
/// it: a workflow written there afterwards loads and runs.
#[test]
fn a_workflow_written_after_the_start_into_a_new_folder_loads() {
    let bot = BotDir::new(&["ci"], "");
    assert!(!bot.path().join("workflows").exists());
    let mut alice = bot.start();
    alice.wait_for_log("created the workflows folder");
    write_workflow(
        &bot,
        "nightly",
        "aliases: [{format: \"nightly\"}]\ntasks:\n  t:\n    action: ci.test\n    input: {suite: x, ms: 1}\n",
    );
    alice.wait_for_log("workflow loaded workflow=nightly");
    assert_eq!(alice.ask("nightly"), "▶ nightly #1 started.");
}
