//! Long-running work through the real bot: a skill with an `ack` is
//! acknowledged at once and runs in the background, its answer (or its
//! failure) coming when it ends, while the conversation goes on; a skill
//! with no place left is answered as busy without an ack; at the end of a
//! piped input, and on SIGTERM, the bot waits for what runs (up to
//! `runtime.shutdown-grace`) and records the rest as interrupted.

use crate::common::{BotDir, sandbot};
use sandbot::event::Outcome;
use sandbot::history::{Filter, History, Retention};
use std::time::{Duration, Instant};

/// The skill's own ack, and one for its `fail` matcher.
const SLOW: &str = "skills:\n  slow:\n    ack: \"On it, {{ user }}: {{ ms }} ms of work…\"\n    matchers: {fail: {ack: \"Trying, {{ user }}…\"}}\n    limits: {time: 60s, concurrency: 2, queue: 1}\n  hello: {}\n";

fn records(bot: &BotDir) -> Vec<sandbot::event::Execution> {
    let retention = Retention {
        max_age: Duration::from_secs(86_400),
        max_count: 1000,
        ..Retention::default()
    };
    let history = History::open(&bot.path().join("data/history.db"), retention).unwrap();
    history
        .find(&Filter {
            skill: Some("slow".into()),
            limit: 100,
            ..Filter::default()
        })
        .unwrap()
}

#[test]
fn an_ack_comes_at_once_and_the_answer_when_the_work_ends() {
    let bot = BotDir::new(
        &["slow", "hello"],
        &format!("logging: {{path: data/bot.log, format: json}}\n{SLOW}"),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice", "the bot is up");
    let asked = Instant::now();
    assert_eq!(run.ask("work 1500"), "On it, alice: 1500 ms of work…");
    assert!(
        asked.elapsed() < Duration::from_millis(1000),
        "the ack waited for the work"
    );
    // The conversation goes on while the work runs.
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(run.answer(), "worked 1500 ms");
    assert!(asked.elapsed() >= Duration::from_millis(1500));
    // A failure in the background is reported in the room too.
    assert_eq!(run.ask("work fail"), "Trying, alice…");
    assert_eq!(run.answer(), "⚠ slow: it broke");
    // The input ends while work still runs: its answer is printed before
    // the bot exits.
    assert_eq!(run.ask("work 700"), "On it, alice: 700 ms of work…");
    let (rest, status, log) = run.finish();
    assert!(status.success(), "{log}");
    assert_eq!(rest, ["worked 700 ms"], "{log}");
    let records = records(&bot);
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Ok, Outcome::Error, Outcome::Ok],
        "newest first"
    );

    // The JSON log: what the skill logged carries its execution's id (its
    // span), and so does the report of the failure.
    let text = std::fs::read_to_string(bot.path().join("data/bot.log")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let said = |words: &str| {
        lines
            .iter()
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains(words)
            })
            .unwrap_or_else(|| panic!("no `{words}` line in\n{text}"))
    };
    let working = said("working 1500 ms");
    assert_eq!(working["span"]["name"], "execution", "{working}");
    assert_eq!(working["span"]["id"], records[2].id.as_str(), "{working}");
    assert_eq!(working["span"]["skill"], "slow");
    let broke = said("reported an error: it broke");
    assert_eq!(
        broke["fields"]["execution"],
        records[1].id.as_str(),
        "{broke}"
    );
}

#[test]
fn past_its_places_a_skill_is_busy_at_once_and_says_no_ack() {
    let bot = BotDir::new(&["slow", "hello"], SLOW);
    let mut run = bot.start();
    // Two run (concurrency 2), one waits (queue 1), the fourth is refused.
    for _ in 0..3 {
        assert_eq!(run.ask("work 1200"), "On it, alice: 1200 ms of work…");
    }
    assert_eq!(
        run.ask("work 1200"),
        "⚠ slow: is busy with other requests; try again in a moment"
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    let started = Instant::now();
    assert_eq!(run.answers(2), ["worked 1200 ms", "worked 1200 ms"]);
    // The queued one starts when a place frees.
    assert_eq!(run.answer(), "worked 1200 ms");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the third waited its turn"
    );
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let mut outcomes: Vec<&str> = records(&bot).iter().map(|r| r.outcome.as_str()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["busy", "ok", "ok", "ok"]);
}

#[test]
fn sigterm_waits_for_running_work_and_records_the_rest_as_interrupted() {
    let bot = BotDir::new(
        &["slow", "hello"],
        &format!("runtime: {{shutdown-grace: 2s}}\n{SLOW}"),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("work 800"), "On it, alice: 800 ms of work…");
    assert_eq!(run.ask("work 30000"), "On it, alice: 30000 ms of work…");
    let stopped = Instant::now();
    run.terminate();
    let (rest, status, log) = run.wait_exit(Duration::from_secs(15));
    let took = stopped.elapsed();
    assert!(status.success(), "{status:?}\n{log}");
    // The short one finished within the grace and was answered; the long
    // one was stopped when the grace ran out.
    assert_eq!(rest, ["worked 800 ms"], "{log}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}\n{log}"
    );
    assert!(log.contains("stopping what still runs"), "{log}");
    let mut records = records(&bot);
    // Both start a moment after their acks, in either order: the long one
    // first here.
    records.sort_by_key(|r| r.captures.first().map(|(_, ms)| ms.len()));
    records.reverse();
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Interrupted, Outcome::Ok], "{records:?}");
    assert_eq!(
        records[0].error.as_deref(),
        Some("the bot stopped before the skill finished")
    );
    assert_eq!(records[0].captures, [("ms".to_owned(), "30000".to_owned())]);
}

#[test]
fn a_bad_ack_template_is_a_configuration_error_with_its_line() {
    let bot = BotDir::new(&["slow"], "skills:\n  slow:\n    ack: \"{{ oops\"\n");
    let config = bot.config();
    let (status, _, err) = sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("configuration.yaml:8:"), "{err}");
    assert!(err.contains("ack is not a valid template"), "{err}");
}
