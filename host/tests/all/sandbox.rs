//! Skills that loop or eat memory are stopped and reported; the others keep
//! answering.

use crate::common::BotDir;
use crate::common::texts;
use sandbot::event::{Event, Message};
use std::time::{Duration, Instant};

const LIMITS: &str = "skills:\n  hello: {}\n  infinite-loop:\n    limits: {time: 300ms}\n  memory-bomb:\n    limits: {memory: 16MiB}\n";

#[test]
fn a_loop_and_a_memory_bomb_fail_clearly_while_hello_answers() {
    let bot = BotDir::new(&["hello", "infinite-loop", "memory-bomb"], LIMITS);
    let mut run = bot.start();
    let asked = Instant::now();
    assert_eq!(
        run.ask("loop"),
        "⚠ infinite-loop: took longer than its 300ms budget and was stopped"
    );
    // Generous: the budget is 300 ms; this only catches a budget not enforced.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        asked.elapsed()
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(
        run.ask("bomb"),
        "⚠ memory-bomb: ran out of memory (limit 16MiB) and was stopped"
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(
        run.ask("loop"),
        "⚠ infinite-loop: took longer than its 300ms budget and was stopped"
    );
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("ran past its time budget of 300ms skill=infinite-loop"),
        "{log}"
    );
    assert!(
        log.contains("went over its memory limit of 16MiB skill=memory-bomb"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

fn message(n: usize, text: &str) -> Event {
    Event::Message(Message {
        id: n.to_string(),
        text: text.into(),
        user: "alice".into(),
        user_id: "alice".into(),
        room: "ops".into(),
        connector: "shell".into(),
        thread: None,
        received_at: sandbot::event::now_ms(),
        addressed: true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_answers_while_a_loop_is_still_running() {
    let bot = BotDir::new(
        &["hello", "infinite-loop"],
        "skills:\n  hello: {}\n  infinite-loop:\n    limits: {time: 2s}\n",
    );
    let config = sandbot::config::load(&bot.config()).unwrap();
    let mut app = sandbot::app::App::start(config).await.unwrap();
    let mut outbox = app.take_outbox("shell").unwrap();
    let bot_handle = app.bot.clone();
    let looping = tokio::spawn(async move { bot_handle.dispatch(message(0, "loop")).await });
    // Several loops at once: more than there are worker threads.
    let more: Vec<_> = (1..=3)
        .map(|i| {
            let b = app.bot.clone();
            tokio::spawn(async move { b.dispatch(message(100 + i, "loop")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 1..=20 {
        app.bot.dispatch(message(i, "hello")).await;
    }
    let greetings = texts(&mut outbox);
    assert_eq!(
        greetings.len(),
        20,
        "all twenty greetings came while the loops ran: {greetings:?}"
    );
    assert!(
        greetings.iter().all(|t| t == "Hello alice"),
        "{greetings:?}"
    );
    assert!(
        !looping.is_finished(),
        "the loop is still within its 2 s budget"
    );
    looping.await.unwrap();
    for m in more {
        m.await.unwrap();
    }
    assert_eq!(
        texts(&mut outbox),
        ["⚠ infinite-loop: took longer than its 2s budget and was stopped"; 4]
    );
}

#[test]
fn instances_are_fresh_unless_a_skill_opts_into_reuse_and_a_crash_ends_one() {
    let bot = BotDir::new(&["counter"], "skills:\n  counter: {}\n");
    let mut run = bot.start();
    for _ in 0..3 {
        assert_eq!(run.ask("count"), "instance served 1");
    }
    let (_, status, _) = run.finish();
    assert!(status.success());

    bot.install("counter", "warm");
    std::fs::remove_file(bot.skill_path("counter")).unwrap();
    bot.write_config("admins: [alice]\nconnectors:\n  shell: {}\nskills-dir: skills\ndata-dir: data\nskills:\n  warm:\n    instance-reuse: 3\n");
    let mut run = bot.start();
    let served: Vec<String> = (0..7).map(|_| run.ask("count")).collect();
    assert_eq!(
        served,
        [1, 2, 3, 1, 2, 3, 1].map(|n| format!("instance served {n}")),
        "each instance serves three events"
    );
    assert_eq!(run.ask("crash"), "⚠ warm: panicked: asked to crash");
    assert_eq!(
        run.ask("count"),
        "instance served 1",
        "a crashed instance is not reused"
    );
    assert_eq!(run.ask("count"), "instance served 2");
    let (_, status, _) = run.finish();
    assert!(status.success());
}
