//! Nothing read back from the bot's own stores can stop it. The ways in
//! that once poisoned a restart are refused where the value is accepted,
//! each with a clear answer to whoever sent it: a workflow webhook's body
//! nesting 125 arrays deep (400, naming the input), a chat user's deeply
//! nested object for `workflow run` (an answer in chat), and a skill's
//! `set-result` nested 127 deep in a run that then waits for approval (the
//! task fails with the reason). Values at the limit are kept, and their
//! runs resume after a restart. And a record made unreadable by hand in
//! the SQLite file fails only its own run: the bot restarts, every other
//! run resumes, and the broken one is recorded as failed and not tried
//! again.

use crate::common::{BotDir, Running, free_port, http, wait_for_port};
use sandbot::event::Outcome;
use sandbot::history::{History, Retention};
use sandbot::stored::VALUE_DEPTH;
use std::time::Duration;

fn bot_with(skills: &[&str], config: &str, workflows: &[(&str, &str)]) -> BotDir {
    let bot = BotDir::new(skills, config);
    let dir = bot.path().join("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in workflows {
        std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
    }
    bot
}

/// `n` arrays, one inside the other, around `1`.
fn arrays(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

/// `n` objects, one inside the other (`{"a":{"a":…1}}`).
fn objects(n: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
}

/// The next `n` lines, sorted: what several runs say comes in any order.
fn sorted(run: &Running, n: usize) -> Vec<String> {
    let mut lines = run.answers(n);
    lines.sort();
    lines
}

/// Approves run `n`: the approval's answer and the run's end, sorted (the
/// approval is the run's last task, so its end may come first).
fn approve(run: &mut Running, n: u64) -> Vec<String> {
    run.say(&format!("approve {n}"));
    sorted(run, 2)
}

fn history(bot: &BotDir) -> History {
    History::open(&bot.path().join("data/history.db"), Retention::default()).unwrap()
}

/// Waits for the bot to stop as a piped shell does at the end of input:
/// runs stop where they are, stored, to resume.
fn stop(run: Running) {
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
}

const INTAKE: &str = "webhook: {room: shell:shell}
inputs:
  data: {type: array}
tasks:
  ask:
    action: approve
    input: {question: 'Take it?', approvers: ['shell:alice']}
output:
  size: '{{ inputs.data | length }}'
";

#[test]
fn a_webhook_body_nested_too_deep_is_refused_and_one_at_the_limit_resumes() {
    let port = free_port();
    let config =
        format!("web: {{port: {port}}}\nworkflows:\n  intake:\n    webhook: {{secret: s3cret}}\n");
    let bot = bot_with(&[], &config, &[("intake", INTAKE)]);
    let alice = bot.start();
    wait_for_port(port);
    let token = [("x-sandbot-token", "s3cret")];
    let post = |body: &str| http(port, "POST", "/workflow/intake", &token, body);
    // The request that once stopped every later start.
    let (code, text) = post(&format!(r#"{{"data": {}}}"#, arrays(125)));
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains(&format!(
            "input `data`: it nests 125 levels deep; at most {VALUE_DEPTH} are accepted"
        )),
        "{text}"
    );
    // Past what the reader takes at all: refused as it is read.
    let (code, text) = post(&format!(r#"{{"data": {}}}"#, arrays(200)));
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("recursion limit"), "{text}");
    // At the limit: accepted, kept, waiting.
    let (code, text) = post(&format!(r#"{{"data": {}}}"#, arrays(VALUE_DEPTH)));
    assert_eq!(code, 202, "{text}");
    let started: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(started["run"], 1, "no run was made of the refused ones");
    assert_eq!(alice.answer(), "▶ intake #1 started.");
    assert_eq!(alice.answer(), "❓ Take it? Say `approve 1` or `deny 1`.");
    stop(alice);

    let mut alice = bot.start();
    assert_eq!(alice.answer(), "↻ intake #1 resumes after a restart.");
    assert_eq!(alice.answer(), "❓ Take it? Say `approve 1` or `deny 1`.");
    assert_eq!(
        approve(&mut alice, 1),
        [
            "✅ intake #1 succeeded: size=1",
            "👍 shell:alice approved #1 (ask)."
        ]
    );
    stop(alice);
}

const FORM: &str = "inputs:
  spec: {type: object}
tasks:
  ask:
    action: approve
    input: {question: 'File it?', approvers: ['shell:alice']}
";

#[test]
fn a_chat_users_object_nested_too_deep_is_refused_in_chat() {
    let bot = bot_with(&[], "", &[("form", FORM)]);
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=form");
    let answer = alice.ask(&format!("workflow run form spec={}", objects(100)));
    assert_eq!(
        answer,
        format!(
            "⚠ form: input `spec`: it nests 100 levels deep; at most {VALUE_DEPTH} are accepted"
        )
    );
    assert_eq!(alice.ask("workflow status 1"), "No workflow run #1.");
    // At the limit it runs, is kept, and resumes.
    assert_eq!(
        alice.ask(&format!("workflow run form spec={}", objects(VALUE_DEPTH))),
        "▶ form #1 started."
    );
    assert_eq!(alice.answer(), "❓ File it? Say `approve 1` or `deny 1`.");
    stop(alice);

    let mut alice = bot.start();
    assert_eq!(alice.answer(), "↻ form #1 resumes after a restart.");
    assert_eq!(alice.answer(), "❓ File it? Say `approve 1` or `deny 1`.");
    assert_eq!(
        approve(&mut alice, 1),
        ["✅ form #1 succeeded", "👍 shell:alice approved #1 (ask)."]
    );
    stop(alice);
}

/// The `deep` skill's result, nested as deep as the input says, then an
/// approval whatever became of it.
const PROBE: &str = "inputs:
  depth: {type: integer}
tasks:
  nest:
    action: deep.nest
    input: {depth: '{{ inputs.depth }}'}
    next: [{do: ask}]
  ask:
    action: approve
    input: {question: 'Go on?', approvers: ['shell:alice']}
output:
  result: '{{ tasks.nest.status }}'
";

#[test]
fn a_skill_result_nested_too_deep_fails_its_task_and_the_waiting_runs_resume() {
    let bot = bot_with(&["deep"], "", &[("probe", PROBE)]);
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=probe");
    assert_eq!(
        alice.ask("workflow run probe depth=127"),
        "▶ probe #1 started."
    );
    assert_eq!(alice.answer(), "❓ Go on? Say `approve 1` or `deny 1`.");
    let status = alice.ask("workflow status 1");
    assert!(
        status.contains(&format!(
            "nest failed (the result is refused: it nests 127 levels deep; at most {VALUE_DEPTH} are accepted)"
        )),
        "{status}"
    );
    assert_eq!(
        alice.ask(&format!("workflow run probe depth={VALUE_DEPTH}")),
        "▶ probe #2 started."
    );
    assert_eq!(alice.answer(), "❓ Go on? Say `approve 2` or `deny 2`.");
    assert!(alice.ask("workflow status 2").contains("nest succeeded"));
    stop(alice);

    // Both were waiting for approval: both resume.
    let mut alice = bot.start();
    assert_eq!(
        sorted(&alice, 4),
        [
            "↻ probe #1 resumes after a restart.",
            "↻ probe #2 resumes after a restart.",
            "❓ Go on? Say `approve 1` or `deny 1`.",
            "❓ Go on? Say `approve 2` or `deny 2`.",
        ]
    );
    assert_eq!(
        approve(&mut alice, 1),
        [
            "✅ probe #1 succeeded: result=failed",
            "👍 shell:alice approved #1 (ask)."
        ]
    );
    assert_eq!(
        approve(&mut alice, 2),
        [
            "✅ probe #2 succeeded: result=succeeded",
            "👍 shell:alice approved #2 (ask)."
        ]
    );
    stop(alice);
}

const HOLD: &str = "tasks:
  ask:
    action: approve
    input: {question: 'Hold {{ workflow.id }}?', approvers: ['shell:alice']}
";

#[test]
fn a_record_broken_by_hand_fails_only_its_run_and_the_others_resume() {
    let bot = bot_with(&[], "", &[("hold", HOLD)]);
    let mut alice = bot.start();
    alice.wait_for_log("workflow loaded workflow=hold");
    for n in 1..=4 {
        assert_eq!(
            alice.ask("workflow run hold"),
            format!("▶ hold #{n} started.")
        );
        assert_eq!(
            alice.answer(),
            format!("❓ Hold {n}? Say `approve {n}` or `deny {n}`.")
        );
    }
    stop(alice);

    // By hand, in the file: run 2's document nests deeper than the reader
    // takes; run 3's task is not JSON at all.
    let db = rusqlite::Connection::open(bot.path().join("data/history.db")).unwrap();
    let deep = format!(
        r#"{{"workflow": "hold", "inputs": {{"x": {}}}}}"#,
        arrays(300)
    );
    let changed = db
        .execute("UPDATE workflow_runs SET doc = ? WHERE id = 2", [&deep])
        .unwrap();
    assert_eq!(changed, 1);
    let changed = db
        .execute(
            "UPDATE workflow_tasks SET doc = '{\"status\": ' WHERE run = 3",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    let mut alice = bot.start();
    assert_eq!(
        sorted(&alice, 4),
        [
            "↻ hold #1 resumes after a restart.",
            "↻ hold #4 resumes after a restart.",
            "❓ Hold 1? Say `approve 1` or `deny 1`.",
            "❓ Hold 4? Say `approve 4` or `deny 4`.",
        ]
    );
    alice.wait_for_log("workflow run #3 cannot be read");
    let log = alice.log();
    for n in [2, 3] {
        let said = format!(
            "a workflow run fails: its stored record cannot be read, so it cannot resume: workflow run #{n} cannot be read"
        );
        let line = log.lines().find(|l| l.contains(&said));
        assert!(
            line.is_some_and(|l| l.contains("ERROR")
                && l.contains(&format!("run={n}"))
                && l.contains("workflow=hold")),
            "{log}"
        );
    }
    assert!(
        alice
            .ask("workflow status 2")
            .starts_with("⚠ cannot read run #2"),
        "the broken run stays as it was"
    );
    assert_eq!(
        approve(&mut alice, 1),
        ["✅ hold #1 succeeded", "👍 shell:alice approved #1 (ask)."]
    );
    assert_eq!(
        approve(&mut alice, 4),
        ["✅ hold #4 succeeded", "👍 shell:alice approved #4 (ask)."]
    );
    stop(alice);

    // Each broken run's end is in the history, as a failure saying why.
    let history = history(&bot);
    for (n, why) in [(2, "its document"), (3, "its task `ask`")] {
        let record = history.get(&format!("wf-{n}")).unwrap().expect("recorded");
        assert_eq!(
            (record.skill.as_str(), record.outcome),
            ("hold", Outcome::Error)
        );
        let error = record.error.unwrap();
        assert!(
            error.contains("cannot be read") && error.contains(why),
            "{error}"
        );
    }
    // Failed once and for all: the next start tries neither again.
    let alice = bot.start();
    assert_eq!(alice.try_answer(Duration::from_millis(1500)), None);
    let (_, status, log) = alice.finish();
    assert!(status.success(), "{log}");
    assert!(!log.contains("a workflow run fails"), "{log}");
}
