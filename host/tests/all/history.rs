//! Execution history through the real bot: every run (a denied one too) is
//! kept in SQLite and survives a restart; `history` in chat shows a user
//! their own runs and an admin anyone's; `GET /api/executions` wants the
//! configured bearer token and filters by skill, user and outcome. A
//! chatty user's thousand lines of 64 KiB leave the history within its
//! byte budget (`max-bytes`, each text cut to `max-text` and marked), in
//! SQLite and in Redis.

use crate::common::{BotDir, Running, free_port, http, wait_for_port};
use crate::memory::RedisServer;
use sandbot::event::{EventId, Execution, Outcome};
use sandbot::history::{Filter, History, Retention};
use std::time::Duration;

fn config(port: u16, user: &str, databases: &str) -> String {
    format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{user: {user}}}\nweb: {{port: {port}}}\nhistory: {{token: t0ken}}\n{databases}skills:\n  deploy:\n    permissions: {{allow-users: [alice]}}\n  hello: {{}}\n"
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
    kept_and_found("");
}

/// The same, with the history (and memory) in Redis: `databases.redis`.
#[test]
fn with_redis_every_run_is_kept_there_and_found() {
    let redis = RedisServer::start();
    kept_and_found(&format!(
        "databases: {{redis: {{url: '{}'}}}}\n",
        redis.url()
    ));
    let mut client = redis.client();
    let kept: u64 = ::redis::cmd("ZCARD")
        .arg("sandbot/executions-by-time")
        .query(&mut client)
        .unwrap();
    assert_eq!(kept, 3, "the records are in Redis");
}

fn kept_and_found(databases: &str) {
    let bot = BotDir::new(&["deploy", "hello"], "");
    let port = free_port();
    bot.write_config(&config(port, "bob", databases));
    let mut bob = bot.start();
    assert_eq!(bob.ask("hello"), "Hello bob");
    assert!(bob.ask("deploy web").contains("not allowed"));
    let mine = ask_all(&mut bob, "history");
    assert_eq!(mine[0], "Last 2 runs, newest first:", "{mine:?}");
    assert!(
        mine[1].contains("deploy 0.1.0/deploy")
            && mine[1].contains(" denied: not allowed")
            && mine[1].contains(" ms)  bob shell:shell  ["),
        "{mine:?}"
    );
    assert!(
        mine[2].contains("hello 0.1.0/greet")
            && mine[2].contains(" ok (")
            && mine[2].contains("bob shell:shell"),
        "{mine:?}"
    );
    assert_eq!(
        bob.ask("history alice"),
        "Sorry bob, only admins may see other people's runs."
    );
    let (_, status, log) = bob.finish();
    assert!(status.success(), "{log}");

    // A restart keeps it all; an admin sees everyone's, by skill and user.
    bot.write_config(&config(port, "alice", databases));
    let mut alice = bot.start();
    assert_eq!(
        alice.ask("deploy api to prod"),
        "Deploying api to prod for alice."
    );
    let deploys = ask_all(&mut alice, "history deploy");
    assert_eq!(deploys.len(), 3, "{deploys:?}");
    // The parameters the alias read are on the line, the columns aligned.
    assert!(
        deploys[1].contains("app=api env=prod")
            && deploys[1].contains(" ok (")
            && deploys[1].contains("alice shell:shell"),
        "{deploys:?}"
    );
    assert!(
        deploys[2].contains(" denied") && deploys[2].contains("bob shell:shell"),
        "{deploys:?}"
    );
    let column = |line: &str| line.find(" ok (").or_else(|| line.find(" denied"));
    assert_eq!(column(&deploys[1]), column(&deploys[2]), "{deploys:?}");
    let bobs = ask_all(&mut alice, "history bob 1");
    assert_eq!(bobs[0], "The last run:", "{bobs:?}");
    assert!(
        bobs[1].contains("/deploy") && bobs[1].contains("bob "),
        "{bobs:?}"
    );
    assert_eq!(alice.ask("history nobody"), "No runs by nobody recorded.");

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
    // Ids are strings: a JSON number above 2^53 is rounded by JavaScript.
    let event = all[0]["event_id"].as_str().expect("event_id is a string");
    assert!(
        all[0]["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{event}-")),
        "{body}"
    );
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
    let (status, why) = http(port, "GET", "/api/executions?outcome=great", &auth, "");
    assert_eq!(status, 400);
    assert!(
        why.contains("interrupted, canceled, running, abandoned"),
        "every outcome is named: {why}"
    );
}

/// Retention in Redis: the oldest beyond `max-count` go, filters apply to
/// what is left, newest first.
#[test]
fn redis_keeps_the_newest_records_up_to_the_count() {
    let redis = RedisServer::start();
    let retention = Retention {
        max_age: Duration::from_secs(86_400),
        max_count: 3,
        ..Retention::default()
    };
    let history = History::open_redis(&redis.url(), "test", "t", retention).unwrap();
    let now = sandbot::event::now_ms();
    let record = |n: u64, skill: &str, outcome: Outcome| Execution {
        id: format!("e{n}"),
        event_id: EventId(n),
        skill: skill.into(),
        version: "1".into(),
        sha256: "ab".into(),
        matcher: "m".into(),
        alias: None,
        connector: Some("shell".into()),
        room: Some("shell".into()),
        thread: None,
        user: Some("alice".into()),
        user_id: Some("alice".into()),
        text: Some("hi".into()),
        captures: Vec::new(),
        started_at: now + n,
        ended_at: now + n,
        micros: 1,
        outcome,
        error: None,
        denials: Vec::new(),
        responses: Vec::new(),
        parent: None,
        undelivered: None,
        trigger: None,
        host: None,
        notified: Vec::new(),
    };
    for n in 1..=4 {
        history.record(&record(
            n,
            if n % 2 == 0 { "deploy" } else { "hello" },
            Outcome::Ok,
        ));
    }
    assert!(history.flush(Duration::from_secs(5)));
    // Pruning runs at most once a second, after a write.
    std::thread::sleep(Duration::from_millis(1100));
    history.record(&record(5, "hello", Outcome::Error));
    assert!(history.flush(Duration::from_secs(5)));
    let all = history
        .find(&Filter {
            limit: 10,
            ..Filter::default()
        })
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e5", "e4", "e3"], "the newest three, newest first");
    let errors = history
        .find(&Filter {
            outcome: Some(Outcome::Error),
            limit: 10,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(history.get("e4").unwrap().unwrap().skill, "deploy");
    assert!(history.get("e1").unwrap().is_none(), "pruned");
}

/// `n` lines of 64 KiB (the shell's longest) to `loudnoises`, each an
/// execution whose record once kept the whole line; returns the history's
/// records as they are left.
fn chatty(bot: &BotDir, n: usize) -> Vec<Execution> {
    let mut run = bot.start();
    let line = "A".repeat(64 << 10);
    let rss = run.rss_kib();
    for _ in 0..n {
        run.say(&line);
        // The shout, cut to limits.response-size, and the note of the cut.
        assert!(run.answer().starts_with("AAAA"));
        assert!(
            run.answer()
                .contains("over this skill's limits.response-size")
        );
    }
    let grown = run.rss_kib().saturating_sub(rss);
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    println!("{n} lines of 64 KiB: the bot grew by {grown} KiB resident");
    let history = History::open(&bot.path().join("data/history.db"), Retention::default()).unwrap();
    history
        .find(&Filter {
            limit: 100_000,
            ..Filter::default()
        })
        .unwrap()
}

const BUDGET: u64 = 2 << 20;

#[test]
fn a_thousand_lines_of_64_kib_leave_the_history_within_its_byte_budget() {
    let bot = BotDir::new(
        &["loudnoises"],
        "history: {max-bytes: 2MiB, max-text: 4KiB}\nskills:\n  loudnoises: {}\n",
    );
    let kept = chatty(&bot, 1000);
    let db = rusqlite::Connection::open(bot.path().join("data/history.db")).unwrap();
    let (total, rows, counted): (i64, i64, i64) = db
        .query_row(
            "SELECT (SELECT coalesce(sum(octet_length(record)), 0) FROM executions),
                    (SELECT count(*) FROM executions),
                    (SELECT bytes FROM history_size)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let file =
        |name: &str| std::fs::metadata(bot.path().join("data").join(name)).map_or(0, |m| m.len());
    println!(
        "history after 1000 lines of 64 KiB: {rows} records, {total} bytes of records \
         (budget {BUDGET}), history.db {} bytes, its WAL {} bytes",
        file("history.db"),
        file("history.db-wal")
    );
    assert!(total as u64 <= BUDGET, "{total} bytes kept");
    assert_eq!(total, counted, "the kept total is the table's");
    // The newest are the ones kept: the budget holds hundreds of them
    // (each about 8.7 KB: the message and the answer, 4 KiB each).
    assert!(rows >= 200 && rows as usize == kept.len(), "{rows}");
    // Each text is cut to 4 KiB and says so.
    let text = kept[0].text.as_deref().unwrap();
    assert!(text.len() <= 4096, "{}", text.len());
    assert!(
        text.ends_with(&format!("… [{} bytes cut]", 65_536 - (4096 - 40))),
        "{text}"
    );
    // The file holds about the budget, not the 64 MiB said.
    assert!(file("history.db") <= 3 * BUDGET, "{}", file("history.db"));
}

#[test]
fn with_redis_the_history_keeps_within_its_byte_budget() {
    let redis = RedisServer::start();
    let bot = BotDir::new(
        &["loudnoises"],
        &format!(
            "history: {{max-bytes: 1MiB, max-text: 4KiB}}\ndatabases: {{redis: {{url: '{}'}}}}\nskills:\n  loudnoises: {{}}\n",
            redis.url()
        ),
    );
    let mut run = bot.start();
    let line = "A".repeat(64 << 10);
    for _ in 0..400 {
        run.say(&line);
        // The shout, cut to limits.response-size, and the note of the cut.
        assert!(run.answer().starts_with("AAAA"));
        assert!(
            run.answer()
                .contains("over this skill's limits.response-size")
        );
    }
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let mut client = redis.client();
    let ids: Vec<String> = ::redis::cmd("HKEYS")
        .arg("sandbot/executions")
        .query(&mut client)
        .unwrap();
    let mut total = 0u64;
    for id in &ids {
        let n: u64 = ::redis::cmd("HSTRLEN")
            .arg("sandbot/executions")
            .arg(id)
            .query(&mut client)
            .unwrap();
        total += n;
    }
    let counted: u64 = ::redis::cmd("GET")
        .arg("sandbot/executions-bytes")
        .query(&mut client)
        .unwrap();
    let by_time: u64 = ::redis::cmd("ZCARD")
        .arg("sandbot/executions-by-time")
        .query(&mut client)
        .unwrap();
    println!(
        "history in Redis after 400 lines of 64 KiB: {} records, {total} bytes (budget {})",
        ids.len(),
        1 << 20
    );
    assert!(total <= 1 << 20, "{total} bytes kept");
    assert_eq!(total, counted, "the kept total is the hash's");
    assert_eq!(by_time as usize, ids.len());
    // About 8.7 KB each: the message and the answer, 4 KiB each.
    assert!(ids.len() >= 100, "{}", ids.len());
}

/// `history` lists commands first: what an always-matcher heard (`seen`
/// noting every message) is counted under the list, not listed, unless
/// asked with `all`; an empty answer says what was asked for.
#[test]
fn history_lists_commands_and_counts_what_was_only_heard() {
    let bot = BotDir::new(&["hello", "seen"], "skills:\n  hello: {}\n  seen: {}\n");
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    run.say("just talking");
    assert_eq!(run.ask("hi"), "Hi alice");
    let listed = ask_all(&mut run, "history");
    assert_eq!(listed[0], "Last 2 runs, newest first:", "{listed:?}");
    assert!(
        listed[1..3].iter().all(|l| l.contains("hello 0.1.0/")),
        "{listed:?}"
    );
    assert!(
        listed[3].starts_with("(3 background runs not shown: what always-matchers heard"),
        "{listed:?}"
    );
    let all = ask_all(&mut run, "history all");
    assert_eq!(
        all.iter()
            .filter(|l| l.contains("seen 0.1.0/record"))
            .count(),
        3,
        "{all:?}"
    );
    assert_eq!(
        run.ask("history seen"),
        "No commands among the last runs, only 3 background runs (`history all` shows them)."
    );
}

/// What a crash may lose is bounded (docs/operations.md): the records of
/// runs that ended within the writer's gathering (a tenth of a second)
/// before a `kill -9`, still queued. Everything older is on disk, though
/// the bot is killed in the middle of more answers.
#[test]
fn a_kill_9_loses_at_most_the_last_tenth_of_a_second_of_records() {
    let bot = BotDir::new(&["hello"], "skills:\n  hello: {}\n");
    let mut run = bot.start();
    for _ in 0..40 {
        assert_eq!(run.ask("hello"), "Hello alice");
    }
    // The bound, with room for a slow machine to write the batch.
    std::thread::sleep(Duration::from_millis(600));
    // More runs, and the kill while their records are queued.
    for _ in 0..10 {
        run.say("hello");
    }
    assert_eq!(run.answer(), "Hello alice");
    run.kill();
    let history = History::open(&bot.path().join("data/history.db"), Retention::default()).unwrap();
    let kept = history
        .find(&Filter {
            skill: Some("hello".into()),
            limit: 1000,
            ..Filter::default()
        })
        .unwrap();
    let ok = kept.iter().filter(|e| e.outcome == Outcome::Ok).count();
    assert!((40..=50).contains(&ok), "{ok} of the 40 older runs kept");
    println!("after kill -9: {ok} of 50 runs kept (40 older than the bound)");
}
