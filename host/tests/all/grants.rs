//! What a skill may reach is what its configuration entry grants: outbound
//! hosts, secrets, rooms (a wildcard never a list, an alias or markup), and
//! (with a pin) the exact file.

use crate::common::{ANSWER_TIMEOUT, BotDir, HttpServer, Running, free_port, http, wait_for_port};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// The newest execution record of `skill`, from the history API on `web`
/// (token `t0ken`); it is written a moment after the answer.
pub fn last_record(web: u16, skill: &str) -> serde_json::Value {
    wait_for_port(web);
    let auth = [("authorization", "Bearer t0ken")];
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let (status, body) = http(
            web,
            "GET",
            &format!("/api/executions?skill={skill}"),
            &auth,
            "",
        );
        assert_eq!(status, 200, "{body}");
        let records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if let Some(first) = records.into_iter().next() {
            return first;
        }
        assert!(Instant::now() < deadline, "no record of {skill}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Matrix alias is not a room id: `allow.send: ['matrix:*']` does not
/// reach `#ops:example.org` (the connector would have to ask a server
/// where it points, and the answer may change). Refused at the skill's
/// call, recorded; the same grant takes a room id.
#[test]
fn a_wildcard_grant_never_takes_a_matrix_alias() {
    let web = free_port();
    let config = |to: &str| {
        format!(
            "web: {{port: {web}}}\nhistory: {{token: t0ken}}\nskills:\n  relay:\n    to: '{to}'\n    allow: {{send: ['matrix:*', 'shell:ops-*']}}\n"
        )
    };
    let bot = BotDir::new(&["relay"], &config("matrix:#ops:example.org"));
    let mut run = bot.start();
    let answer = run.ask("relay psst");
    assert!(
        answer.starts_with("⚠ relay: sending to matrix:#ops:example.org is refused: it is a room alias, not a room id"),
        "{answer}"
    );
    let record = last_record(web, "relay");
    assert_eq!(record["outcome"], "denied", "{record}");
    assert!(
        record["denials"][0]
            .as_str()
            .unwrap_or_default()
            .contains("a room alias, not a room id"),
        "{record}"
    );
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");

    // The control, through the same check: a room a wildcard covers (the
    // shell prints every room's messages).
    bot.write_config(&format!(
        "admins: [alice]\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\n{}",
        config("shell:ops-room")
    ));
    let mut run = bot.start();
    run.say("relay psst");
    let mut heard = run.answers(2);
    heard.sort();
    assert_eq!(
        heard,
        ["Relayed to shell:ops-room.", "[shell shell] alice: psst"]
    );
}

const ALERTS: &str = r#"{"status":"success","data":{"alerts":[
 {"labels":{"alertname":"HighLatency","severity":"critical","instance":"api-1"},"annotations":{"summary":"p99 above 2s"},"state":"firing"},
 {"labels":{"alertname":"DiskFilling","severity":"warning","instance":"db-1"},"annotations":{"summary":"/var 91% full"},"state":"firing"},
 {"labels":{"alertname":"Flapping","severity":"critical"},"annotations":{},"state":"pending"}
]}}"#;

#[test]
fn alerts_asks_a_granted_http_api_and_answers_in_chat() {
    let prometheus = HttpServer::start(200, "application/json", ALERTS.as_bytes().to_vec());
    let big = HttpServer::start(200, "application/json", vec![b' '; 200 << 10]);
    let bot = BotDir::new(
        &["hello", "alerts"],
        &format!(
            "secrets:
  prometheus-token: ${{PROM_TOKEN}}
skills:
  hello: {{}}
  alerts:
    url: http://127.0.0.1:{p}
    allow:
      http: [\"http://127.0.0.1:{p}\"]
      secrets: [prometheus-token]
",
            p = prometheus.port,
        ),
    );
    let mut run = Running::start(&bot.config(), &[("PROM_TOKEN", "s3cret")]);
    run.say("alerts");
    assert_eq!(
        run.answers(3),
        [
            "2 alerts firing:",
            "│ • HighLatency [critical] api-1: p99 above 2s",
            "│ • DiskFilling [warning] db-1: /var 91% full",
        ]
    );
    run.say("alerts critical");
    assert_eq!(
        run.answers(2),
        [
            "1 critical alert firing:",
            "│ • HighLatency [critical] api-1: p99 above 2s"
        ]
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    let requests = prometheus.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[0].starts_with("GET /api/v1/alerts HTTP/1.1\r\n"),
        "{requests:?}"
    );
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer s3cret"),
        "the granted secret is sent: {requests:?}"
    );
    let (rest, status, log) = run.finish();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(status.success(), "{log}");

    // The same file as `big-alerts`: its server answers 200 KiB, over its
    // 64 KiB limit, and it is not granted the token.
    let second = BotDir::new(
        &[],
        &format!(
            "secrets:
  prometheus-token: ${{PROM_TOKEN}}
skills:
  big-alerts:
    url: http://127.0.0.1:{b}/
    allow: {{http: [\"http://127.0.0.1:{b}\"]}}
    limits: {{http-response-size: 64KiB}}
",
            b = big.port
        ),
    );
    second.install("alerts", "big-alerts");
    let mut run = Running::start(&second.config(), &[("PROM_TOKEN", "s3cret")]);
    assert_eq!(
        run.ask("alerts"),
        format!(
            "⚠ big-alerts: cannot reach Prometheus at http://127.0.0.1:{}/api/v1/alerts: the response is larger than this skill may read",
            big.port
        )
    );
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("denied: read of secret `prometheus-token`, which skills.big-alerts.allow.secrets does not list"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "the secret leaked into the log");
}

#[test]
fn a_file_that_asks_for_more_than_its_grants_is_refused() {
    // `greeter` is granted nothing. First it is plain hello; then it is
    // replaced by a build that imports wasi:http.
    let bot = BotDir::new(&[], "skills:\n  greeter: {}\n");
    bot.install("hello", "greeter");
    let mut run = bot.start();
    assert_eq!(run.ask("hi"), "Hi alice");
    bot.install("forbidden-host", "greeter");
    run.wait_for_log("but skills.greeter.allow.http grants no hosts");
    assert_eq!(run.ask("hi"), "Hi alice", "the old version keeps serving");
    assert_eq!(run.try_answer(std::time::Duration::from_millis(300)), None);
    let (_, status, log) = run.finish();
    assert!(status.success());
    assert!(log.contains("it imports `wasi:http/"), "{log}");
}

#[test]
fn a_pinned_skill_loads_only_the_pinned_file() {
    let v1 = std::fs::read(crate::common::skill_wasm("hello")).unwrap();
    let pin: String = Sha256::digest(&v1)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let bot = BotDir::new(
        &["hello"],
        &format!("skills:\n  hello:\n    sha256: {pin}\n"),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    bot.install("hello-v2", "hello");
    run.wait_for_log(&format!("but skills.hello.sha256 pins {pin}"));
    assert_eq!(
        run.ask("hello"),
        "Hello alice",
        "the pinned version keeps serving"
    );
    let (_, status, _) = run.finish();
    assert!(status.success());

    let e = BotDir::new(&["hello"], "skills:\n  hello:\n    sha256: abc\n");
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", e.config().to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("configuration.yaml:8:"), "{err}");
    assert!(err.contains("sha256 `abc` is not 64 hex digits"), "{err}");
}
