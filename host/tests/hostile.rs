//! The hostile-skill suite, loaded beside `hello`: each attack fails with its
//! own error, `hello` answers every time, the host's memory stays bounded
//! and nothing in the host panics.

mod common;
use common::{BotDir, HttpServer, Running};

const HOSTILE: &[&str] = &[
    "infinite-loop",
    "memory-bomb",
    "deep-recursion",
    "trap-and-panic",
    "output-flood",
    "oversized-response",
    "forbidden-host",
    "ssrf",
    "file-read",
    "env-read",
    "describe-never-returns",
    "wrong-world",
];

/// Says `text` and checks the exact lines it is answered with.
fn expect(run: &mut Running, text: &str, want: &[String]) {
    run.say(text);
    let got = run.answers(want.len());
    assert_eq!(got, want, "answers to `{text}`; log:\n{}", tail(&run.log()));
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn every_attack_fails_on_its_own_while_hello_answers() {
    // A server the SSRF attempt aims at: it must never see a request.
    let internal = HttpServer::start(200, "text/plain", b"the crown jewels".to_vec());
    let secret_url = format!("http://127.0.0.1:{}/secret", internal.port);
    let mut skills = vec!["hello"];
    skills.extend_from_slice(HOSTILE);
    let bot = BotDir::new(
        &skills,
        &format!(
            "skills:
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
"
        ),
    );
    bot.install_truncated("hello", "truncated", 5000);
    let mut run = Running::start(&bot.config(), &[("SANDBOT_TEST_SECRET", "hunter2")]);

    let hello = || vec!["Hello alice".to_string()];
    let one = |s: &str| vec![s.to_string()];
    let mut flood: Vec<String> = (0..20).map(|i| format!("flood {i}")).collect();
    flood.push(
        "⚠ output-flood: this event already sent 20 messages, this skill's limit (limits.responses)"
            .into(),
    );
    let mut rss = Vec::new();
    let rounds: usize = std::env::var("HOSTILE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for _round in 0..rounds {
        expect(&mut run, "hello", &hello());
        expect(
            &mut run,
            "loop",
            &one("⚠ infinite-loop: took longer than its 300ms budget and was stopped"),
        );
        expect(&mut run, "hello", &hello());
        expect(
            &mut run,
            "bomb",
            &one("⚠ memory-bomb: ran out of memory (limit 16MiB) and was stopped"),
        );
        expect(&mut run, "hello", &hello());
        expect(
            &mut run,
            "recurse",
            &one("⚠ deep-recursion: ran out of stack (runaway recursion?) and was stopped"),
        );
        expect(
            &mut run,
            "panic",
            &one("⚠ trap-and-panic: panicked: index 7 is out of reach of []"),
        );
        expect(
            &mut run,
            "trap",
            &one("⚠ trap-and-panic: crashed: wasm `unreachable` instruction executed"),
        );
        expect(&mut run, "hello", &hello());
        expect(&mut run, "flood", &flood);
        expect(&mut run, "hello", &hello());
        expect(
            &mut run,
            "huge",
            &one(
                "⚠ oversized-response: message of 10485760 bytes is over this skill's limit of 16KiB (limits.response-size)",
            ),
        );
        expect(
            &mut run,
            "fetch forbidden",
            &one(
                "⚠ forbidden-host: GET http://example.com/: denied: the host is not in this skill's allow.http",
            ),
        );
        expect(
            &mut run,
            "ssrf",
            &one(&format!(
                "⚠ ssrf: GET {secret_url}: denied: the host is an internal address no grant names"
            )),
        );
        run.say("read file");
        let file = run.answer();
        assert!(
            file.starts_with("⚠ file-read: file read failed: "),
            "{file}"
        );
        expect(
            &mut run,
            "read env",
            &one("⚠ env-read: env read failed: HOME: environment variable not found"),
        );
        expect(&mut run, "hello", &hello());
        rss.push(run.rss_kib());
    }

    assert!(
        internal.requests().is_empty(),
        "the SSRF attempt got through"
    );
    // Each round runs a 16 MiB memory bomb and has the host copy out a
    // 10 MiB string; later rounds must not keep what earlier ones used.
    // (HOSTILE_ROUNDS=10 shows the plateau: 48.5 → 50.1 MiB here.)
    println!("host RSS after each round: {rss:?} KiB");
    let last = *rss.last().unwrap();
    let growth = last.saturating_sub(rss[0]);
    assert!(
        growth < 12 << 10,
        "host memory grew by {growth} KiB: {rss:?}"
    );
    assert!(last < 256 << 10, "host memory is {last} KiB");

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
    for needle in [
        "`describe` did not answer within its time budget of 300ms",
        "describe-never-returns.wasm",
        "it is not a sandbot skill",
        "truncated.wasm",
        "does not compile",
        "outbound HTTP denied: http://example.com:80 is not in the skill's allow.http list skill=forbidden-host",
        "an internal address; only a pattern naming the host exactly",
        "messages refused: over limits.responses (20) for one event skill=output-flood",
        "log lines dropped: the skill logs faster than 20 lines a second skill=output-flood",
        "panicked: index 7 is out of reach of [] (at example-skills/hostile/trap-and-panic/src/lib.rs",
    ] {
        assert!(
            log.contains(needle),
            "`{needle}` is not in the log:\n{}",
            tail(&log)
        );
    }
    // The flood asked for 15,000 log lines of 1 KiB; the operator's log
    // stays small.
    assert!(log.len() < 2 << 20, "the log is {} bytes", log.len());
    assert!(!log.contains("hunter2"), "a secret leaked into the log");
}
