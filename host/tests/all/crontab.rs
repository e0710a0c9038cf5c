//! Crontab matchers through the real bot: the `reminder` example firing on a
//! seconds schedule in a named zone and posting to the shell's room, ticks
//! that overlap skipped and logged, the schedule following hot reload, and
//! a bad expression or zone failing the skill's load with the matcher named.
//! (Next-fire arithmetic in zones is unit-tested in `matching::crontab`.)

use crate::common::BotDir;
use std::time::{Duration, Instant};

const REMINDER: &str = r#"logging: {level: debug}
skills:
  reminder:
    room: shell:shell
    text: stand up
    schedule: "*/2 * * * * *"
    timezone: America/New_York
    allow:
      send: ["shell:shell"]
"#;

#[test]
fn a_reminder_fires_on_its_schedule_and_posts_to_its_room() {
    let bot = BotDir::new(&["reminder"], REMINDER);
    let run = bot.start();
    assert_eq!(run.answer(), "stand up");
    let first = Instant::now();
    assert_eq!(run.answer(), "stand up");
    let gap = first.elapsed();
    assert!(
        gap > Duration::from_millis(1500) && gap < Duration::from_millis(2500),
        "every two seconds, not {gap:?}"
    );
    // Each tick has its execution record, like a message's.
    run.wait_for_log("executed");
    let log = run.log();
    let executed = log.lines().find(|l| l.contains("executed")).unwrap();
    assert!(
        executed.contains("skill=reminder") && executed.contains("matcher=remind"),
        "{executed}"
    );
    assert!(log.contains("zone=America/New_York"), "{log}");
    // Its record says what triggered it.
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let history = bot.history();
    let records = history
        .find(&sandbot::history::Filter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(
            r.trigger.as_deref(),
            Some(r#"cron "*/2 * * * * *""#),
            "{r:?}"
        );
    }
}

#[test]
fn a_tick_still_running_when_the_next_is_due_is_skipped_and_logged() {
    let bot = BotDir::new(
        &["ticker"],
        r#"skills:
  ticker:
    webhook: {public: true}
    schedule: "* * * * * *"
    sleep-ms: 2500
    room: shell:shell
    allow:
      send: ["shell:shell"]
"#,
    );
    let run = bot.start();
    let first: u64 = fired_at(&run.answer());
    let second: u64 = fired_at(&run.answer());
    // Each tick runs 2.5 s: the two or three seconds between were skipped.
    assert!(
        (3000..=4000).contains(&(second - first)),
        "ticks at {first} and {second}"
    );
    let log = run.log();
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("crontab tick skipped"))
        .collect();
    assert!(skipped.len() >= 2, "{log}");
    assert!(
        skipped.iter().all(|l| l.contains("WARN")
            && l.contains("skill=ticker")
            && l.contains("matcher=tick")),
        "{skipped:?}"
    );
}

#[test]
fn the_schedule_follows_the_skill_set() {
    let bot = BotDir::new(
        &[],
        r#"skills:
  ticker:
    webhook: {public: true}
    schedule: "* * * * * *"
    timezone: Asia/Kolkata
    room: shell:shell
    allow:
      send: ["shell:shell"]
"#,
    );
    let run = bot.start();
    run.wait_for_log("no skills loaded");
    assert_eq!(run.try_answer(Duration::from_millis(1500)), None);
    // Added while running: it starts ticking.
    bot.install("ticker", "ticker");
    assert!(run.answer().starts_with("tick "));
    // Removed: it stops.
    std::fs::remove_file(bot.skill_path("ticker")).unwrap();
    run.wait_for_log("(removed)");
    // A tick that started before the swap may still arrive; then nothing.
    while run.try_answer(Duration::from_millis(1500)).is_some() {}
    assert_eq!(run.try_answer(Duration::from_millis(2000)), None);
}

#[test]
fn a_bad_expression_or_zone_fails_the_load_naming_the_matcher() {
    for (settings, expected) in [
        (
            "schedule: \"* * *\"",
            "crontab matcher `tick`: `* * *` has 3 fields",
        ),
        (
            "timezone: Europe/Atlantis",
            "crontab matcher `tick`: unknown time zone `Europe/Atlantis`",
        ),
    ] {
        let bot = BotDir::new(
            &["ticker", "hello"],
            &format!(
                "skills:\n  hello: {{}}\n  ticker:\n    webhook: {{public: true}}\n    {settings}\n"
            ),
        );
        let mut run = bot.start();
        assert_eq!(run.ask("hello"), "Hello alice", "the others still load");
        run.wait_for_log(expected);
        assert!(run.log().contains("ticker"), "{}", run.log());
    }
}

fn fired_at(line: &str) -> u64 {
    line.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a tick: {line:?}"))
}
