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
    // A message during the grace is answered, not dropped.
    run.wait_for_log("waiting up to");
    run.say("hello");
    let (mut rest, status, log) = run.wait_exit(Duration::from_secs(15));
    let took = stopped.elapsed();
    assert!(status.success(), "{status:?}\n{log}");
    // The short one finished within the grace and was answered; the long
    // one was stopped when the grace ran out, and its room told so.
    assert_eq!(
        rest.pop().as_deref(),
        Some("⏹ `work 30000` was interrupted by a restart"),
        "{log}"
    );
    rest.sort();
    assert_eq!(
        rest,
        [
            "worked 800 ms",
            "⏳ sandbot is stopping; try again in a moment"
        ],
        "{log}"
    );
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

/// After `kill -9` the runs that were in flight are in the history as
/// `abandoned` once the bot starts again (as StackStorm marks them), not
/// missing; a run that ended is untouched.
#[test]
fn runs_in_flight_at_kill_9_are_abandoned_at_the_next_start() {
    let bot = BotDir::new(&["slow", "hello"], SLOW);
    let mut run = bot.start();
    assert_eq!(run.ask("work 10"), "On it, alice: 10 ms of work…");
    assert_eq!(run.answer(), "worked 10 ms");
    assert_eq!(run.ask("work 30000"), "On it, alice: 30000 ms of work…");
    // Its `running` row is written within moments of its start (and the
    // first run's record, which replaces its own).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: Vec<(Outcome, String)> = records(&bot)
            .iter()
            .map(|r| (r.outcome, r.captures[0].1.clone()))
            .collect();
        if now
            == [
                (Outcome::Running, "30000".into()),
                (Outcome::Ok, "10".into()),
            ]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no running row: {:?}",
            records(&bot)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.kill();

    let mut again = bot.start();
    assert_eq!(again.ask("hello"), "Hello alice");
    let (_, status, log) = again.finish();
    assert!(status.success(), "{log}");
    assert!(log.contains("recorded as abandoned"), "{log}");
    let records = records(&bot);
    let outcomes: Vec<(Outcome, &str)> = records
        .iter()
        .map(|r| (r.outcome, r.captures[0].1.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [(Outcome::Abandoned, "30000"), (Outcome::Ok, "10")],
        "{records:?}"
    );
    assert!(
        records[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("without finishing"),
        "{:?}",
        records[0].error
    );
}

/// On a websocket: a message sent while the bot stops gets a short answer
/// (the socket stays open), a run the stop interrupts is told to it, and
/// then the socket is closed with "going away" (1001).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_hears_that_the_bot_is_stopping_and_what_it_interrupted() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let port = crate::common::free_port();
    let bot = BotDir::with_connectors(
        &["slow", "hello"],
        &format!(
            "  websocket: {{}}\nweb: {{port: {port}}}\nruntime: {{shutdown-grace: 2s}}\nskills:\n  slow: {{limits: {{time: 60s}}}}\n  hello: {{}}\n"
        ),
    );
    let run = bot.start();
    crate::common::wait_for_port(port);
    let (status, body) = crate::common::http(port, "POST", "/connector/websocket", &[], "");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = json["socket"].as_str().unwrap();
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "Hello user");
    ws.send(Message::text("work 30000")).await.unwrap();
    // It runs (no ack here: the socket waits for its answer).
    run.wait_for_log("working 30000 ms");
    run.terminate();
    run.wait_for_log("waiting up to");
    ws.send(Message::text("hello")).await.unwrap();
    // Answers keep the order of the messages: the run asked first is
    // answered first, when the grace runs out.
    assert_eq!(
        next_text(&mut ws).await,
        "⏹ `work 30000` was interrupted by a restart"
    );
    assert_eq!(
        next_text(&mut ws).await,
        "⏳ sandbot is stopping; try again in a moment"
    );
    // Then the socket is closed cleanly, not cut: "going away".
    let close = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a close within 20 s")
        .expect("the socket is open")
        .expect("a close frame");
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
    assert_eq!(frame.reason.as_str(), "the bot is stopping");
    let (_, status, log) = run.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{log}");
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an answer within 20 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}
