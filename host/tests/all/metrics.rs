//! `/metrics` through the real bot: a scrape after some traffic, parsed by
//! a Prometheus text parser, counts what happened; with `metrics.token` a
//! scrape without the token is refused.

use crate::common::{BotDir, free_port, http, wait_for_port};

fn scrape(port: u16) -> (prometheus_parse::Scrape, String) {
    wait_for_port(port);
    let (status, text) = http(port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    (scrape, text)
}

/// Scrapes until sample `name{labels}` reaches `at_least` (or the answer
/// timeout passes): an answer can reach the user before its execution's
/// record reaches the counters, which nothing makes the user wait for.
fn scrape_until(
    port: u16,
    name: &str,
    labels: &[(&str, &str)],
    at_least: f64,
) -> (prometheus_parse::Scrape, String) {
    let deadline = std::time::Instant::now() + crate::common::ANSWER_TIMEOUT;
    loop {
        let (scrape, text) = scrape(port);
        if value(&scrape, &text, name, labels) >= at_least || std::time::Instant::now() > deadline {
            return (scrape, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn value(
    scrape: &prometheus_parse::Scrape,
    text: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
}

#[test]
fn a_scrape_counts_events_and_executions() {
    let bot = BotDir::new(&["hello", "deploy"], "");
    let port = free_port();
    bot.write_config(&format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{}}\nweb: {{port: {port}}}\nskills:\n  hello: {{}}\n  deploy:\n    permissions: {{allow-users: [bob]}}\n"
    ));
    // A broken skill file: a load that failed.
    std::fs::write(bot.skill_path("broken"), b"\0asm not really").unwrap();
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(run.ask("hi"), "Hi alice");
    assert!(run.ask("deploy web").contains("not allowed"));
    // Nothing takes it: the bot's pointer to `help`, counted as matching
    // nothing.
    assert_eq!(
        run.ask("what is this"),
        "I don't know `what is this`. Say `help` for what I can do."
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    // The answer is printed before the execution's record reaches the
    // observers (the shell does not wait for it): scrape until the last
    // `hello` is counted, then check everything.
    let (scrape, text) = scrape_until(
        port,
        "sandbot_executions_total",
        &[("skill", "hello"), ("outcome", "ok")],
        3.0,
    );
    let value = |name: &str, labels: &[(&str, &str)]| value(&scrape, &text, name, labels);
    assert_eq!(
        value(
            "sandbot_events_total",
            &[("connector", "shell"), ("kind", "message")]
        ),
        5.0
    );
    assert_eq!(
        value(
            "sandbot_executions_total",
            &[("skill", "hello"), ("outcome", "ok")]
        ),
        3.0
    );
    assert_eq!(
        value(
            "sandbot_executions_total",
            &[("skill", "deploy"), ("outcome", "denied")]
        ),
        1.0
    );
    assert_eq!(value("sandbot_matches_total", &[("why", "chosen")]), 4.0);
    assert_eq!(value("sandbot_matches_total", &[("why", "none")]), 1.0);
    assert_eq!(value("sandbot_skills_loaded", &[]), 2.0);
    assert_eq!(value("sandbot_skill_loads_total", &[]), 2.0);
    assert_eq!(value("sandbot_skill_load_failures_total", &[]), 1.0);
    assert_eq!(
        value("sandbot_connector_up", &[("connector", "shell")]),
        1.0
    );
    let histogram = scrape
        .samples
        .iter()
        .find(|s| s.metric == "sandbot_execution_seconds" && s.labels.get("skill") == Some("hello"))
        .unwrap_or_else(|| panic!("no latency histogram in:\n{text}"));
    match &histogram.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(buckets.last().unwrap().count, 3.0, "{text}");
        }
        other => panic!("not a histogram: {other:?}"),
    }
}

/// With `metrics.token`, `/metrics` wants `Authorization: Bearer <token>`
/// (as the history API does): none or a wrong one is answered 401 with no
/// metric in it; the token itself gets the scrape.
#[test]
fn a_metrics_token_is_required_when_configured() {
    let bot = BotDir::new(&["hello"], "");
    let port = free_port();
    bot.write_config(&format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{}}\nweb: {{port: {port}}}\nmetrics: {{token: ${{METRICS_TOKEN}}}}\n"
    ));
    let mut run = crate::common::Running::start(&bot.config(), &[("METRICS_TOKEN", "m3trics")]);
    assert_eq!(run.ask("hello"), "Hello alice");
    wait_for_port(port);
    for headers in [
        &[][..],
        &[("authorization", "Bearer nope")][..],
        &[("authorization", "Bearer m3trics2")][..],
        &[("authorization", "m3trics")][..],
    ] {
        let (status, body) = http(port, "GET", "/metrics", headers, "");
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert_eq!(body, "a bearer token (metrics.token) is needed\n");
    }
    let auth = [("authorization", "Bearer m3trics")];
    let (status, text) = http(port, "GET", "/metrics", &auth, "");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("sandbot_skills_loaded 1"), "{text}");
    // The rest of the server is as it was.
    assert_eq!(http(port, "GET", "/", &[], "").0, 200);
}

#[test]
fn memory_calls_and_always_matchers_are_counted() {
    let bot = BotDir::new(&["seen"], "");
    let port = free_port();
    bot.write_config(&format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{}}\nweb: {{port: {port}}}\nskills:\n  seen: {{}}\n"
    ));
    let mut run = bot.start();
    // `record` (always) writes each time; `seen alice` also reads.
    // Only heard (by `record`): said to the bot, it is told about `help`.
    assert_eq!(
        run.ask("morning all"),
        "I don't know `morning all`. Say `help` for what I can do."
    );
    assert_eq!(
        run.ask("seen alice"),
        "alice was last seen just now in shell"
    );
    // The answer can come before `record` (which runs beside the query)
    // has written: scrape until both puts are counted.
    let (scrape, text) = scrape_until(
        port,
        "sandbot_memory_operations_total",
        &[("op", "put"), ("result", "ok")],
        2.0,
    );
    let value = |name: &str, labels: &[(&str, &str)]| value(&scrape, &text, name, labels);
    let memory = |op: &str, result: &str| {
        value(
            "sandbot_memory_operations_total",
            &[("op", op), ("result", result)],
        )
    };
    assert_eq!(memory("put", "ok"), 2.0);
    assert_eq!(memory("get", "ok"), 1.0);
    assert_eq!(memory("put", "refused"), 0.0);
    assert_eq!(value("sandbot_matches_total", &[("why", "always")]), 2.0);
    assert_eq!(value("sandbot_matches_total", &[("why", "chosen")]), 1.0);
}
