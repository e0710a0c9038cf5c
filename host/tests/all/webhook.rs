//! Webhooks over real HTTP on loopback: the `webhook-alert` example takes a
//! signed JSON alert, posts it to the shell's room and answers `ok`; a bad
//! signature is refused before the skill runs; a body over the cap, an
//! unknown path and a failing skill get their status codes; a webhook with
//! no secret loads only when the configuration says `public: true`.

use crate::common::{BotDir, Running, free_port, http, sandbot, wait_for_port};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

const SECRET: &str = "It's a Secret to Everybody";
const ALERT: &str =
    r#"{"name": "DiskFull", "severity": "critical", "summary": "/var is 97% full"}"#;

fn start() -> (BotDir, Running, u16) {
    let port = free_port();
    let bot = BotDir::new(
        &["webhook-alert", "hello"],
        &format!(
            r#"logging: {{level: debug}}
web:
  host: 127.0.0.1
  port: {port}
skills:
  webhook-alert:
    room: shell:shell
    webhook:
      max-body: 1KiB
      secret: "{SECRET}"
    allow:
      send: ["shell:shell"]
  hello: {{}}
"#
        ),
    );
    let run = bot.start();
    wait_for_port(port);
    (bot, run, port)
}

fn signature(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={digest}")
}

const PATH: &str = "/skill/webhook-alert/alert";

#[test]
fn a_signed_alert_is_posted_and_answered() {
    let (_bot, run, port) = start();
    let sig = signature(ALERT);
    let (status, body) = http(
        port,
        "POST",
        PATH,
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &sig),
        ],
        ALERT,
    );
    assert_eq!((status, body.as_str()), (200, "ok"), "{}", run.log());
    assert_eq!(run.answer(), "🚨 [critical] DiskFull: /var is 97% full");
    // Its execution record went to the observers.
    run.wait_for_log("executed");
    let log = run.log();
    let executed = log.lines().find(|l| l.contains("executed")).unwrap();
    assert!(
        executed.contains("skill=webhook-alert") && executed.contains("matcher=alert"),
        "{executed}"
    );
    // The shared token works too.
    let (status, body) = http(
        port,
        "POST",
        PATH,
        &[("authorization", &format!("Bearer {SECRET}"))],
        r#"{"name": "Up"}"#,
    );
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(run.answer(), "🚨 Up");
}

#[test]
fn a_bad_or_missing_signature_is_refused_before_the_skill_runs() {
    let (bot, run, port) = start();
    let wrong = signature("something else");
    for headers in [
        vec![("x-hub-signature-256", wrong.as_str())],
        vec![("x-sandbot-token", "guess")],
        vec![],
    ] {
        let (status, body) = http(port, "POST", PATH, &headers, ALERT);
        assert_eq!((status, body.as_str()), (401, "unauthorized\n"));
    }
    run.wait_for_log("webhook request refused (401): a wrong X-Hub-Signature-256");
    run.wait_for_log("webhook request refused (401): a wrong token");
    run.wait_for_log("webhook request refused (401): no X-Hub-Signature-256");
    assert_eq!(run.try_answer(Duration::from_millis(500)), None);
    assert!(!run.log().contains("executed"), "{}", run.log());
    // Every refusal is counted, by hook.
    let (_, metrics) = http(port, "GET", "/metrics", &[], "");
    assert!(
        metrics.contains("sandbot_webhooks_refused_total{hook=\"skills.webhook-alert.webhook\"} 3"),
        "{metrics}"
    );
    // And recorded in the history (at most one a second per hook), beside
    // the runs, as `denied`.
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let records = history(&bot);
    assert!((1..=2).contains(&records.len()), "{records:?}");
    for r in &records {
        assert_eq!(r.outcome, sandbot::event::Outcome::Denied, "{r:?}");
        assert_eq!(r.skill, "webhook-alert");
        assert_eq!(
            r.trigger.as_deref(),
            Some("webhook /skill/webhook-alert/alert")
        );
        assert!(
            r.error
                .as_deref()
                .unwrap_or_default()
                .starts_with("webhook request refused (401): "),
            "{r:?}"
        );
    }
}

/// Every record in `bot`'s history, newest first.
fn history(bot: &BotDir) -> Vec<sandbot::event::Execution> {
    let history = bot.history();
    history
        .find(&sandbot::history::Filter {
            limit: 100,
            ..Default::default()
        })
        .unwrap()
}

/// `text` as a form field's value.
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// With `delivery-header`, a delivery sent twice (a sender's retry) runs
/// once: the second is answered 200 "duplicate"; another id runs. A
/// form-encoded body (GitHub's `payload=` form) reaches the skill as the
/// JSON it holds. Records say what triggered them.
#[test]
fn a_repeated_delivery_runs_once_and_a_form_is_parsed() {
    let (bot, mut run, port) = start();
    let config = std::fs::read_to_string(bot.config()).unwrap();
    bot.write_config(&config.replace(
        "      max-body: 1KiB\n",
        "      max-body: 1KiB\n      delivery-header: X-GitHub-Delivery\n      delivery-window: 1h\n",
    ));
    drop(run);
    run = bot.start();
    wait_for_port(port);
    let sig = signature(ALERT);
    let post = |id: &str| {
        http(
            port,
            "POST",
            PATH,
            &[("x-hub-signature-256", &sig), ("x-github-delivery", id)],
            ALERT,
        )
    };
    assert_eq!(post("d-1"), (200, "ok".into()), "{}", run.log());
    assert_eq!(run.answer(), "🚨 [critical] DiskFull: /var is 97% full");
    assert_eq!(
        post("d-1"),
        (200, "duplicate: delivery d-1 was already taken\n".into())
    );
    assert_eq!(
        run.try_answer(Duration::from_millis(500)),
        None,
        "ran twice"
    );
    // A request that does not prove the secret is not remembered.
    let (status, _) = http(
        port,
        "POST",
        PATH,
        &[("x-sandbot-token", "guess"), ("x-github-delivery", "d-2")],
        ALERT,
    );
    assert_eq!(status, 401);
    assert_eq!(post("d-2"), (200, "ok".into()));
    assert_eq!(run.answer(), "🚨 [critical] DiskFull: /var is 97% full");

    // GitHub's form: the JSON in a `payload` field.
    let form = format!(
        "payload={}",
        form_value(r#"{"name": "Formed", "severity": "low"}"#)
    );
    let (status, body) = http(
        port,
        "POST",
        PATH,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-hub-signature-256", &signature(&form)),
        ],
        &form,
    );
    assert_eq!((status, body.as_str()), (200, "ok"), "{}", run.log());
    assert_eq!(run.answer(), "🚨 [low] Formed");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let records = history(&bot);
    let ok: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == sandbot::event::Outcome::Ok)
        .collect();
    assert_eq!(ok.len(), 3, "{records:?}");
    for r in ok {
        assert_eq!(
            r.trigger.as_deref(),
            Some("webhook /skill/webhook-alert/alert")
        );
    }
}

#[test]
fn big_bodies_unknown_paths_and_failures_get_their_status() {
    let (_bot, run, port) = start();
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2000));
    let (status, body) = http(
        port,
        "POST",
        PATH,
        &[("x-hub-signature-256", &signature(&big))],
        &big,
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("webhook.max-body"), "{body}");

    for path in [
        "/skill/webhook-alert/other",
        "/skill/nobody/alert",
        "/skill/hello/alert",
    ] {
        let (status, _) = http(port, "POST", path, &[], "{}");
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = http(port, "GET", PATH, &[], "");
    assert_eq!(status, 405, "webhooks take POST");

    let junk = "not json";
    let (status, body) = http(
        port,
        "POST",
        PATH,
        &[("x-hub-signature-256", &signature(junk))],
        junk,
    );
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("webhook-alert failed: ") && body.contains("the body is not JSON"),
        "{body}"
    );
    assert_eq!(run.try_answer(Duration::from_millis(300)), None);
}

/// A webhook without a secret answers anyone, so it must be asked for out
/// loud: a skill with a webhook matcher and no `webhook:` entry does not
/// load (the others do), a `webhook:` with neither `secret` nor `public:
/// true` is a configuration error that `config validate` names the same
/// way, and `public: true` serves it.
#[test]
fn a_webhook_without_a_secret_loads_only_when_written_public() {
    let port = free_port();
    let header = format!(
        "admins: [alice]\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\n\
         web: {{host: 127.0.0.1, port: {port}}}\nskills:\n  hello: {{}}\n  ticker:\n    schedule: \"0 0 1 1 *\"\n"
    );
    let bot = BotDir::new(&["ticker", "hello"], "");
    bot.write_config(&header);
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice", "the others load");
    run.wait_for_log(
        "it has webhook matcher `slow` (POST /skill/ticker/…), but skills.ticker.webhook has no `secret`",
    );
    wait_for_port(port);
    assert_eq!(http(port, "POST", "/skill/ticker/slow", &[], "").0, 404);
    drop(run);

    bot.write_config(&format!("{header}    webhook: {{max-body: 1KiB}}\n"));
    let config = bot.config();
    let file = config.to_str().unwrap();
    let expected = "skills.ticker.webhook: no `secret`: anyone who can reach the server could call this webhook; give `secret: ${SOME_VAR}`, or write `public: true` if that is what you want";
    let (status, _, err) = sandbot(&["config", "validate", "-c", file]);
    assert!(!status.success());
    assert!(
        err.contains(&format!("{file}:11:")) && err.contains(expected),
        "{err}"
    );
    let (status, out, err) = sandbot(&["start", "-c", file]);
    assert!(!status.success() && out.is_empty(), "{out}");
    assert!(err.contains(expected), "{err}");

    bot.write_config(&format!("{header}    webhook: {{public: true}}\n"));
    let (status, _, err) = sandbot(&["config", "validate", "-c", file]);
    assert!(status.success(), "{err}");
    let run = bot.start();
    wait_for_port(port);
    let (status, body) = http(port, "POST", "/skill/ticker/slow", &[], "");
    assert_eq!(
        (status, body.as_str()),
        (200, "slept 0 ms\nPOST slow"),
        "{}",
        run.log()
    );
    drop(run);

    // A secret from an unset `${VAR:-}` is empty, not absent: it loads,
    // and refuses every request.
    bot.write_config(&format!(
        "{header}    webhook:\n      secret: ${{SANDBOT_TEST_UNSET_SECRET:-}}\n"
    ));
    let run = bot.start();
    wait_for_port(port);
    for headers in [
        &[][..],
        &[("x-sandbot-token", "")][..],
        &[("authorization", "Bearer ")][..],
    ] {
        let (status, body) = http(port, "POST", "/skill/ticker/slow", headers, "");
        assert_eq!(status, 401, "{headers:?}: {body}\n{}", run.log());
    }
}

#[test]
fn answers_are_joined_and_a_slow_skill_times_out() {
    let port = free_port();
    let bot = BotDir::new(
        &["ticker"],
        &format!(
            r#"web: {{host: 127.0.0.1, port: {port}}}
skills:
  ticker:
    webhook: {{public: true}}
    schedule: "0 0 1 1 *"
    sleep-ms: 10
    limits: {{time: 1s}}
"#
        ),
    );
    let run = bot.start();
    wait_for_port(port);
    // Public: anyone who reaches the server may call.
    let (status, body) = http(port, "POST", "/skill/ticker//slow", &[], "");
    assert_eq!(
        (status, body.as_str()),
        (200, "slept 10 ms\nPOST slow"),
        "{}",
        run.log()
    );
    drop(run);
    bot.write_config(&format!(
        "admins: [alice]\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\n\
         web: {{host: 127.0.0.1, port: {port}}}\n\
         skills:\n  ticker:\n    webhook: {{public: true}}\n    schedule: \"0 0 1 1 *\"\n    sleep-ms: 3000\n    limits: {{time: 500ms}}\n"
    ));
    let run = bot.start();
    wait_for_port(port);
    let (status, body) = http(port, "POST", "/skill/ticker/slow", &[], "");
    assert_eq!(
        (status, body.as_str()),
        (504, "ticker ran out of time\n"),
        "{}",
        run.log()
    );
}
