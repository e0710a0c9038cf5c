//! The configuration in the console: `GET /api/v1/config` shows the one in
//! effect with every secret masked, and no console route (nor the page)
//! ever shows a secret: a distinctive value is planted in the environment
//! and in the file for each connector kind and guard the bot starts with
//! here, and every GET route's body is searched for it.

use crate::common::*;
use crate::console::{admin, log_in, request};
use serde_json::Value;

#[test]
fn no_console_route_or_page_shows_a_secret() {
    let port = free_port();
    let (slack_port, irc_port) = (free_port(), free_port());
    // The account first: `sandbot admin` reads the configuration, and the
    // planted variables are the bot's alone.
    let bot = BotDir::new(&["hello"], "console: {}");
    assert!(admin(&bot, &["add", "victor"], "victor's long password").0);
    bot.write_config(&format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{}}\n\
         \x20 slack:\n    bot-token: ${{PLANTED_BOT}}\n    app-token: xapp-planted-in-the-file\n    api-url: http://127.0.0.1:{slack_port}/api/\n\
         \x20 irc: {{server: 127.0.0.1, port: {irc_port}, nick: bot, channels: ['#ops'], password: irc-planted-password}}\n\
         \x20 websocket: {{token: ws-planted-token}}\n\
         web: {{port: {port}}}\nconsole: {{}}\n\
         history: {{token: history-planted-token}}\nmetrics: {{token: ${{PLANTED_METRICS}}}}\n\
         secrets: {{api: secret-planted-value}}\n\
         skills:\n  hello:\n    allow: {{secrets: [api]}}\n"
    ));
    let env = [
        ("PLANTED_BOT", "xoxb-planted-from-the-env"),
        ("PLANTED_METRICS", "metrics-planted-from-the-env"),
    ];
    let mut running = Running::start(&bot.config(), &env);
    wait_for_port(port);
    assert_eq!(running.ask("hello"), "Hello alice");
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    let cookie = [("cookie", victor.cookie.as_str())];
    let get = |path: &str| {
        let (status, _, body) = request(port, "GET", path, &cookie, "");
        assert_eq!(status, 200, "{path}: {body}");
        body
    };

    let shown: Value = serde_json::from_str(&get("/api/v1/config")).unwrap();
    let config = &shown["configuration"];
    assert_eq!(config["connectors"]["slack"]["bot-token"], "***", "{shown}");
    assert_eq!(config["connectors"]["irc"]["password"], "***", "{shown}");
    assert_eq!(
        config["connectors"]["irc"]["server"], "127.0.0.1",
        "{shown}"
    );
    assert_eq!(config["secrets"]["api"], "***", "{shown}");
    assert_eq!(config["web"]["port"], port, "{shown}");
    assert!(
        shown["yaml"].as_str().unwrap().contains("bot-token: '***'"),
        "{shown}"
    );
    assert!(
        shown["file"]
            .as_str()
            .unwrap()
            .ends_with("configuration.yaml"),
        "{shown}"
    );

    let id =
        serde_json::from_str::<Value>(&get("/api/v1/executions?skill=hello")).unwrap()[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut bodies = String::new();
    for path in [
        "/console",
        "/console/console.js",
        "/console/console.css",
        "/api/v1/me",
        "/api/v1/skills",
        "/api/v1/connectors",
        "/api/v1/config",
        "/api/v1/log",
        "/api/v1/executions",
        &format!("/api/v1/executions/{id}"),
        "/api/v1/workflows",
        "/api/v1/workflows/runs",
    ] {
        bodies.push_str(&get(path));
    }
    assert!(
        bodies.contains("\"skill\":\"hello\""),
        "the bodies were read"
    );
    for planted in [
        "planted-from-the-env",
        "xapp-planted-in-the-file",
        "irc-planted-password",
        "ws-planted-token",
        "history-planted-token",
        "secret-planted-value",
    ] {
        assert!(!bodies.contains(planted), "{planted} shown");
    }
    running.terminate();
    let _ = running.finish();
}
