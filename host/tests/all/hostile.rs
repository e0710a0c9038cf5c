//! The hostile-skill suite: every skill in `example-skills/hostile/` (and the
//! hostile components composed from them) loaded together beside `hello` in
//! one bot, attacked round after round. Each has an attack below named after
//! it, and `foreach_hostile!` calls them all, so a hostile skill without an
//! attack does not compile. Each attack fails on its own with a clear
//! reason, `hello` answers after every one, the host's memory and database
//! stay bounded, and nothing in the host panics.

use crate::common::{BotDir, HttpServer, Running, free_port};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

struct Suite {
    run: Running,
    secret_url: String,
    /// The suite bot's line-chat connector, for attacks that need many
    /// messages at once.
    tcp_port: u16,
    /// What must be in the log by the end.
    needles: Vec<String>,
}

impl Suite {
    /// Says `text` and checks the exact lines it is answered with.
    fn expect(&mut self, text: &str, want: &[&str]) {
        self.run.say(text);
        let got = self.run.answers(want.len());
        assert_eq!(
            got,
            want,
            "answers to `{text}`; log:\n{}",
            tail(&self.run.log())
        );
    }

    fn hello(&mut self) {
        self.expect("hello", &["Hello alice"]);
    }

    fn log_has(&mut self, needle: impl Into<String>) {
        self.needles.push(needle.into());
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The configuration of the suite's bot, after the standard header.
fn config(secret_url: &str, tcp_port: u16) -> String {
    format!(
        "  ops: {{type: tcp, port: {tcp_port}, max-connections: 64}}
skills:
  hello: {{}}
  infinite-loop: {{limits: {{time: 300ms}}}}
  memory-bomb: {{limits: {{memory: 16MiB}}}}
  describe-never-returns: {{limits: {{time: 300ms}}}}
  forbidden-host:
    allow: {{http: [\"https://api.allowed.test\"]}}
    url: http://example.com/
  ssrf:
    allow: {{http: [\"http://*:*\"]}}
    url: {secret_url}
  send-anywhere:
    allow: {{send: [\"ops:*\"]}}
  bomb-wide: {{pattern: '\\w{{1000}}x1', count: 40}}
  bomb-many: {{pattern: '^x$', count: 100000}}
  bomb-dfa: {{pattern: 'a[ab]{{24}}c', count: 1}}
  memory-hog: {{limits: {{stored-bytes: 1MiB}}}}
  pool-hog: {{limits: {{time: 300ms, concurrency: 16, queue: 8}}}}
"
    )
}

#[test]
fn every_attack_fails_on_its_own_while_hello_answers() {
    // A server the SSRF attempt aims at: it must never see a request.
    let internal = HttpServer::start(200, "text/plain", b"the crown jewels".to_vec());
    let secret_url = format!("http://127.0.0.1:{}/secret", internal.port);
    let tcp_port = free_port();
    let mut skills = vec!["hello"];
    skills.extend(
        sandbot_test_skills::HOSTILE
            .iter()
            .filter(|s| **s != "matcher-bomb"),
    );
    let bot = BotDir::with_connectors(&skills, &config(&secret_url, tcp_port));
    for copy in ["bomb-wide", "bomb-many", "bomb-dfa"] {
        bot.install("matcher-bomb", copy);
    }
    bot.install_truncated("hello", "truncated", 5000);
    let run = Running::start(&bot.config(), &[("SANDBOT_TEST_SECRET", "hunter2")]);
    let mut suite = Suite {
        run,
        secret_url,
        tcp_port,
        needles: vec!["truncated.wasm".into(), "does not compile".into()],
    };

    let rounds: usize = std::env::var("HOSTILE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut rss = Vec::new();
    // Nothing was said before the first message: no skill spoke at load.
    suite.hello();
    for _round in 0..rounds {
        macro_rules! attack {
            ($name:ident) => {
                $name(&mut suite);
                suite.hello();
            };
        }
        sandbot_test_skills::foreach_hostile!(attack);
        rss.push(suite.run.rss_kib());
    }

    assert!(
        internal.requests().is_empty(),
        "the SSRF attempt got through"
    );
    // Rounds run memory bombs, a 10 MiB string copied out, regex searches
    // over long lines and forty events at once; later rounds must not keep
    // what earlier ones used. (HOSTILE_ROUNDS=10 shows the plateau.)
    println!("host RSS after each round: {rss:?} KiB");
    let last = *rss.last().unwrap();
    let growth = last.saturating_sub(rss[0]);
    assert!(
        growth < 16 << 10,
        "host memory grew by {growth} KiB: {rss:?}"
    );
    assert!(last < 320 << 10, "host memory is {last} KiB");
    let db = std::fs::metadata(bot.path().join("data/memory.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(db < 4 << 20, "the database grew to {db} bytes");

    let Suite {
        run, mut needles, ..
    } = suite;
    let (rest, status, log) = run.finish();
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
    assert!(status.success(), "{}", tail(&log));
    // The guests' own panics are in the log (their stderr is reported);
    // none may come from anywhere else.
    let host_panics: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("panicked at") && !l.contains("panicked at example-skills/"))
        .collect();
    assert!(host_panics.is_empty(), "the host panicked: {host_panics:?}");
    needles.dedup();
    for needle in &needles {
        assert!(
            log.contains(needle.as_str()),
            "`{needle}` is not in the log:\n{}",
            tail(&log)
        );
    }
    assert!(
        !log.contains("maximum concurrent limit"),
        "the instance pool ran dry:\n{}",
        tail(&log)
    );
    // The flood asked for 15,000 log lines of 1 KiB; the operator's log
    // stays small.
    assert!(log.len() < 2 << 20, "the log is {} bytes", log.len());
    assert!(!log.contains("hunter2"), "a secret leaked into the log");
}

/// Every hostile skill the suite loads has an attack here.
fn infinite_loop(s: &mut Suite) {
    s.expect(
        "loop",
        &["⚠ infinite-loop: took longer than its 300ms budget and was stopped"],
    );
    s.log_has("ran past its time budget of 300ms");
}

fn memory_bomb(s: &mut Suite) {
    s.expect(
        "bomb",
        &["⚠ memory-bomb: ran out of memory (limit 16MiB) and was stopped"],
    );
}

fn deep_recursion(s: &mut Suite) {
    s.expect(
        "recurse",
        &["⚠ deep-recursion: ran out of stack (runaway recursion?) and was stopped"],
    );
}

fn trap_and_panic(s: &mut Suite) {
    s.expect(
        "panic",
        &["⚠ trap-and-panic: panicked: index 7 is out of reach of []"],
    );
    s.expect(
        "trap",
        &["⚠ trap-and-panic: crashed: wasm `unreachable` instruction executed"],
    );
    s.log_has("panicked: index 7 is out of reach of [] (at example-skills/hostile/trap-and-panic/src/lib.rs");
}

fn output_flood(s: &mut Suite) {
    let mut flood: Vec<String> = (0..20).map(|i| format!("flood {i}")).collect();
    flood.push(
        "⚠ output-flood: this event already sent 20 messages, this skill's limit (limits.responses)"
            .into(),
    );
    let flood: Vec<&str> = flood.iter().map(String::as_str).collect();
    s.expect("flood", &flood);
    s.log_has("messages refused: over limits.responses (20) for one event skill=output-flood");
    s.log_has("log lines dropped: the skill logs faster than 20 lines a second skill=output-flood");
}

/// Over `limits.response-size` the answer is cut to it with a note, not
/// replaced by a warning: the room sees what fits.
fn oversized_response(s: &mut Suite) {
    let note =
        "… (cut: the answer was 10485760 bytes, over this skill's limits.response-size of 16KiB)";
    let kept = "A".repeat((16 << 10) - note.len() - 1);
    s.expect("huge", &[&kept, &format!("│ {note}")]);
    s.log_has("message cut: over limits.response-size (16KiB)");
}

fn forbidden_host(s: &mut Suite) {
    s.expect(
        "fetch forbidden",
        &["⚠ forbidden-host: GET http://example.com/: denied: the host is not in this skill's allow.http"],
    );
    s.log_has("outbound HTTP denied: http://example.com:80 is not in the skill's allow.http list");
}

fn ssrf(s: &mut Suite) {
    let want = format!(
        "⚠ ssrf: GET {}: denied: the host is an internal address no grant names",
        s.secret_url
    );
    s.expect("ssrf", &[&want]);
    s.log_has("an internal address; only a pattern naming the host exactly");
}

fn file_read(s: &mut Suite) {
    s.run.say("read file");
    let file = s.run.answer();
    assert!(
        file.starts_with("⚠ file-read: file read failed: "),
        "{file}"
    );
}

fn env_read(s: &mut Suite) {
    s.expect(
        "read env",
        &["⚠ env-read: env read failed: HOME: environment variable not found"],
    );
}

fn describe_never_returns(s: &mut Suite) {
    s.log_has(
        "describe-never-returns.wasm: `describe` did not answer within its time budget of 300ms",
    );
}

fn wrong_world(s: &mut Suite) {
    s.log_has("wrong-world.wasm: it is not a sandbot skill");
}

fn unknown_import(s: &mut Suite) {
    s.log_has("unknown-import.wasm: it needs something the bot does not provide");
}

/// Sixteen core instances with a memory each: refused at load by count.
fn many_memories(s: &mut Suite) {
    s.log_has("many-memories.wasm: it would create 17 linear memories per event");
}

/// Memories each under the limit, over it together: the sum is what counts.
fn memory_sum(s: &mut Suite) {
    s.log_has("memory-sum.wasm: `describe` failed: went over its memory limit of 64MiB");
}

/// Escape sequences are shown, not obeyed; a line break cannot forge an
/// answer or a log line.
fn forger(s: &mut Suite) {
    s.expect(
        "forge",
        &[
            "␛]52;c;cm0gLXJmIH4vKgo=␇␛]0;root@prod␇␛[31mred␛[0m␛[2J\\u{202e}txt.exe",
            "│ sandbot: reloaded 0 skills",
        ],
    );
    s.expect("forge log", &["logged"]);
    s.log_has(
        "all good\\n2026-11-23T00:00:00.000000Z ERROR sandbot: the database is corrupt\\u{1b}[8m",
    );
    assert!(
        !s.run
            .log()
            .lines()
            .any(|l| l.starts_with("2026-11-23T00:00:00.000000Z")),
        "a skill forged a log line"
    );
}

/// `describe` may neither talk nor write: it runs at load.
fn describe_side_effects(s: &mut Suite) {
    s.expect("side effects", &["planted: nothing"]);
    s.run.say("help");
    // Read to the end of `help`, whatever its last command, so none of
    // its lines is taken for the next answer.
    let help: Vec<String> =
        std::iter::from_fn(|| s.run.try_answer(Duration::from_millis(500))).collect();
    assert!(
        help.iter()
            .any(|l| l.contains("describe tried: send refused, memory refused")),
        "{help:?}"
    );
    s.log_has("denied: a message from `describe`, which runs at load and may not talk");
}

/// Only the event's own room, and rooms `allow.send` grants.
fn send_anywhere(s: &mut Suite) {
    s.expect(
        "send to shell elsewhere",
        &["⚠ send-anywhere: sending to shell:elsewhere is not granted to this skill (skills.send-anywhere.allow.send); it may answer where its event came from"],
    );
    s.expect(
        "send to shell shell",
        &["an announcement nobody approved", "sent"],
    );
    // `ops:*` is granted: the message goes to that connector.
    s.expect("send to ops tcp-999", &["sent"]);
    s.log_has(
        "denied: send to shell:elsewhere, which skills.send-anywhere.allow.send does not grant",
    );
}

/// Patterns that compile huge and floods of matchers are refused at load;
/// a pattern whose automaton explodes costs only its own search, on a line
/// cut at the connector's limit.
fn matcher_bomb(s: &mut Suite) {
    s.log_has("bomb-wide.wasm: its matchers are not acceptable: matcher `m0` has a bad regex: it compiles to more than");
    s.log_has("bomb-many.wasm: its matchers are not acceptable: it declares 100000 matchers; a skill may declare at most 128");
    let line = format!(
        "{}a{}c{}",
        "ab".repeat(1000),
        "ab".repeat(12),
        "ab".repeat(1 << 20)
    );
    s.expect(&line, &["matched 65536 bytes"]);
    s.log_has("bytes over max-message-length (65536) was cut");
}

/// Writes stop at the quota, with a reason the skill sees.
fn memory_hog(s: &mut Suite) {
    s.expect(
        "fill memory",
        &["stopped after 15 writes: memory quota reached: this write would make 1048678 bytes, over this skill's limit of 1048576 (limits.stored-bytes)"],
    );
    s.log_has("memory write refused: memory quota reached");
}

/// Forty events at once for a skill that runs to its budget: it gets its
/// concurrency and queue, the rest are told it is busy, and no other
/// skill's event fails.
fn pool_hog(s: &mut Suite) {
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", s.tcp_port)).unwrap();
            c.write_all(b"hog\n").unwrap();
            c
        })
        .collect();
    // Other skills answer meanwhile.
    s.hello();
    s.expect("hi", &["Hi alice"]);
    let answers: Vec<String> = clients
        .into_iter()
        .map(|c| {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut line = String::new();
            BufReader::new(c).read_line(&mut line).unwrap();
            line.trim_end().to_string()
        })
        .collect();
    let busy = answers
        .iter()
        .filter(|a| *a == "⚠ pool-hog: is busy with other requests; try again in a moment")
        .count();
    let stopped = answers
        .iter()
        .filter(|a| *a == "⚠ pool-hog: took longer than its 300ms budget and was stopped")
        .count();
    assert_eq!(busy + stopped, 40, "{answers:?}");
    assert_eq!(
        stopped,
        16 + 8,
        "the concurrency and the queue ran: {answers:?}"
    );
    s.log_has("is busy: 16 events running and 8 waiting");
}
