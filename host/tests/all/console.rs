//! The operator's console API (`/api/v1`) driven over real sockets against
//! the real binary: accounts made with `sandbot admin`, logins checked
//! (wrong passwords, lockout), sessions in HttpOnly SameSite cookies, a
//! CSRF token on every state change, roles, and an audit record in the
//! history for each change.

use crate::common::*;
use serde_json::Value;
use std::io::Write;
use std::process::Command;

/// One request to loopback `port`: (status, response head, body).
pub(crate) fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    request_bytes(port, method, path, headers, body.as_bytes())
}

pub(crate) fn request_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| *k == "content-type") {
        text.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// A logged-in operator: the cookie to send and the CSRF token.
pub(crate) struct Login {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) fn log_in(
    port: u16,
    name: &str,
    password: &str,
) -> Result<Login, (u16, String, String)> {
    let body = serde_json::json!({ "name": name, "password": password }).to_string();
    let (status, head, body) = request(port, "POST", "/api/v1/login", &[], &body);
    if status != 200 {
        return Err((status, head, body));
    }
    let set_cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: {set_cookie}"
    );
    let json: Value = serde_json::from_str(&body).unwrap();
    Ok(Login {
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        csrf: json["csrf"].as_str().unwrap().to_owned(),
    })
}

pub(crate) fn admin(bot: &BotDir, args: &[&str], password: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .arg("admin")
        .args(args)
        .arg("-c")
        .arg(bot.config())
        .env("SANDBOT_PASSWORD", password)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &*String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn operators_log_in_and_each_change_checks_the_session_the_csrf_token_and_the_role() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web:\n  port: {port}\nconsole: {{}}"));
    let (ok, said) = admin(&bot, &["add", "carol", "--role", "operator"], "short");
    assert!(!ok && said.contains("too short"), "{said}");
    assert!(
        admin(
            &bot,
            &["add", "carol", "--role", "operator"],
            "carol's long password"
        )
        .0
    );
    assert!(admin(&bot, &["add", "victor"], "victor's long password").0);
    let (ok, said) = admin(&bot, &["add", "carol"], "another long password");
    assert!(!ok && said.contains("already an account"), "{said}");
    let (_, list) = admin(&bot, &["list"], "");
    assert_eq!(list, "carol\toperator\nvictor\tviewer\n");

    let mut running = bot.start();
    wait_for_port(port);
    let (status, _, body) = request(port, "GET", "/api/v1/me", &[], "");
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = log_in(port, "carol", "not carol's password").err().unwrap();
    assert_eq!(status, 401);
    assert!(body.contains("wrong name or password"), "{body}");
    assert_eq!(
        log_in(port, "nobody", "whatever it is").err().unwrap().0,
        401
    );

    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let cookie = [("cookie", carol.cookie.as_str())];
    let (status, _, body) = request(port, "GET", "/api/v1/me", &cookie, "");
    assert_eq!(status, 200);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("carol"), Some("operator"))
    );
    // A page that reloads finds its CSRF token here (same origin only).
    assert_eq!(me["csrf"].as_str(), Some(carol.csrf.as_str()));
    let (status, _, body) = request(port, "GET", "/api/v1/skills", &cookie, "");
    assert_eq!(status, 200, "{body}");
    let skills: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(skills["skills"][0]["name"], "hello");
    assert_eq!(skills["skills"][0]["state"], "serving");
    assert_eq!(skills["skills"][0]["sha256"].as_str().unwrap().len(), 64);

    // A state change without the CSRF token, or with another, is refused.
    let disable = "/api/v1/skills/hello/disable";
    let (status, _, body) = request(port, "POST", disable, &cookie, "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("X-CSRF-Token"), "{body}");
    let wrong = [
        ("cookie", carol.cookie.as_str()),
        ("x-csrf-token", "0123456789abcdef0123456789abcdef"),
    ];
    assert_eq!(request(port, "POST", disable, &wrong, "").0, 403);
    // A cookie that names no session is refused too.
    let forged = [
        ("cookie", "sandbot-session=00ff"),
        ("x-csrf-token", carol.csrf.as_str()),
    ];
    assert_eq!(request(port, "POST", disable, &forged, "").0, 401);
    let with_csrf = [
        ("cookie", carol.cookie.as_str()),
        ("x-csrf-token", carol.csrf.as_str()),
    ];
    let (status, _, body) = request(port, "POST", disable, &with_csrf, "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""state":"disabled""#), "{body}");
    // Chat sees the same skill set.
    assert_eq!(running.ask("skills"), "1 skills:");
    assert!(running.answer().contains("hello 0.1.0 — disabled"));
    let (status, _, body) = request(
        port,
        "POST",
        "/api/v1/skills/nonesuch/enable",
        &with_csrf,
        "",
    );
    assert_eq!(status, 404, "{body}");

    // A viewer reads but changes nothing.
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    let victors = [
        ("cookie", victor.cookie.as_str()),
        ("x-csrf-token", victor.csrf.as_str()),
    ];
    assert_eq!(request(port, "GET", "/api/v1/skills", &victors, "").0, 200);
    let (status, _, body) = request(port, "POST", "/api/v1/skills/hello/enable", &victors, "");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("needs the operator role; victor is a viewer"),
        "{body}"
    );
    // An account removed ends its sessions at their next request.
    assert!(admin(&bot, &["remove", "victor"], "").0);
    assert_eq!(request(port, "GET", "/api/v1/me", &victors, "").0, 401);

    let (status, head, _) = request(port, "POST", "/api/v1/logout", &with_csrf, "");
    assert_eq!(status, 204);
    assert!(head.contains("Max-Age=0"), "{head}");
    assert_eq!(request(port, "GET", "/api/v1/me", &cookie, "").0, 401);

    // Five failed logins from one address lock it (two were above): the
    // right password is then refused too, without a check, and told when
    // to come back.
    for _ in 0..3 {
        let (status, _, _) = log_in(port, "carol", "a wrong guess again").err().unwrap();
        assert_eq!(status, 401);
    }
    let (status, head, body) = log_in(port, "carol", "carol's long password")
        .err()
        .unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(head.to_lowercase().contains("retry-after: "), "{head}");
    running.terminate();
    let _ = running.finish();

    // Every change, and every login tried, is in the history with who and where from.
    let records = bot.history().find(&sandbot::history::Filter {
        skill: Some("console".into()),
        limit: 100,
        ..Default::default()
    });
    let lines: Vec<String> = records
        .unwrap()
        .iter()
        .rev()
        .map(|r| {
            format!(
                "{} {} {:?} {}",
                r.user.as_deref().unwrap_or(""),
                r.text.as_deref().unwrap_or(""),
                r.outcome,
                r.trigger.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("carol login Denied console from 127.0.0.1"))
            .count(),
        4,
        "{lines:#?}"
    );
    for expected in [
        "nobody login Denied console from 127.0.0.1",
        "carol login Ok console from 127.0.0.1",
        "carol skill disable hello Ok console from 127.0.0.1",
        "carol skill enable nonesuch Error console from 127.0.0.1",
        "victor login Ok console from 127.0.0.1",
        "carol logout Ok console from 127.0.0.1",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} not in {lines:#?}"
        );
    }
}

#[test]
fn the_console_is_off_unless_configured_and_needs_https_off_loopback() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web:\n  port: {port}"));
    let running = bot.start();
    wait_for_port(port);
    let (status, _, _) = request(
        port,
        "POST",
        "/api/v1/login",
        &[],
        r#"{"name":"a","password":"b"}"#,
    );
    assert_eq!(status, 404);
    running.terminate();
    let _ = running.finish();

    bot.write_config("web:\n  host: 0.0.0.0\n  port: 8080\nconsole:\n  session-ttl: 1h\n");
    let config = bot.config();
    let (status, out, err) = sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success(), "{out}");
    assert!(err.contains("configuration.yaml:4:1"), "{err}");
    assert!(err.contains("console.insecure-http: true"), "{err}");
    bot.write_config("web:\n  host: 0.0.0.0\n  port: 8080\nconsole:\n  insecure-http: true\n");
    let (status, out, err) = sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(status.success(), "{out}{err}");
}

#[test]
fn scripts_use_revocable_tokens_and_find_executions_by_filter() {
    let port = free_port();
    let bot = BotDir::new(
        &["hello"],
        &format!(
            "web:\n  port: {port}\nconsole: {{}}\nskills:\n  hello:\n    allow: {{send: ['shell:*']}}\n    limits: {{time: 2s}}"
        ),
    );
    assert!(
        admin(
            &bot,
            &["add", "carol", "--role", "operator"],
            "carol's long password"
        )
        .0
    );
    let token = |role: &str, note: &str| {
        let (ok, said) = admin(
            &bot,
            &["token", "carol", "--role", role, "--note", note],
            "",
        );
        assert!(ok, "{said}");
        said.lines()
            .find(|l| l.starts_with("sbt_"))
            .unwrap()
            .to_owned()
    };
    let operating = token("admin", "deploys");
    let reading = token("viewer", "dashboard");
    let (_, listed) = admin(&bot, &["tokens"], "");
    assert!(
        listed.contains("\tcarol\tadmin\tactive\tdeploys"),
        "{listed}"
    );
    assert!(
        !listed.contains(&operating[12..]),
        "a secret listed: {listed}"
    );

    let mut running = bot.start();
    wait_for_port(port);
    assert_eq!(running.ask("hello"), "Hello alice");
    assert_eq!(running.ask("hey"), "Hey alice");
    let bearer = |t: &str| format!("Bearer {t}");
    let (reader, operator) = (bearer(&reading), bearer(&operating));
    let as_reader = [("authorization", reader.as_str())];
    let as_operator = [("authorization", operator.as_str())];

    // Grants as a person reads them.
    let (status, _, body) = request(port, "GET", "/api/v1/skills", &as_reader, "");
    assert_eq!(status, 200, "{body}");
    let skills: Value = serde_json::from_str(&body).unwrap();
    let grants: Vec<&str> = skills["skills"][0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(grants[0], "no network", "{grants:?}");
    assert_eq!(grants[1], "may send to shell:*", "{grants:?}");
    assert!(grants[2].starts_with("2s a run"), "{grants:?}");

    // The connectors and their state.
    let (status, _, body) = request(port, "GET", "/api/v1/connectors", &as_reader, "");
    assert_eq!(status, 200, "{body}");
    let connectors: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(connectors["connectors"][0]["name"], "shell", "{body}");
    assert_eq!(connectors["connectors"][0]["type"], "shell", "{body}");
    assert!(connectors["connectors"][0]["state"].is_string(), "{body}");
    assert_eq!(connectors["cluster"], Value::Null);

    // A token needs no CSRF token, and acts with the lower of its role and
    // its account's (an operator here).
    let (status, _, body) = request(port, "POST", "/api/v1/skills/hello/disable", &as_reader, "");
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = request(
        port,
        "POST",
        "/api/v1/skills/hello/disable",
        &as_operator,
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&request(port, "GET", "/api/v1/me", &as_operator, "").2)
            .unwrap(),
        serde_json::json!({"name": "carol", "role": "operator", "links": []})
    );

    // Executions, filtered.
    let find = |query: &str| {
        let (status, _, body) = request(
            port,
            "GET",
            &format!("/api/v1/executions?{query}"),
            &as_reader,
            "",
        );
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        )
    };
    let (status, all) = find("skill=hello");
    assert_eq!(status, 200, "{all}");
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let (_, hey) = find("skill=hello&text=HEY");
    assert_eq!(hey.as_array().unwrap().len(), 1, "{hey}");
    assert_eq!(hey[0]["text"], "hey");
    assert_eq!(find("skill=hello&until=1").1.as_array().unwrap().len(), 0);
    let (status, why) = find("outcome=bogus");
    assert_eq!(status, 400, "{why}");
    let (status, audit) = find("skill=console");
    assert_eq!(status, 200);
    let id = all[0]["id"].as_str().unwrap();
    let (status, _, body) = request(
        port,
        "GET",
        &format!("/api/v1/executions/{id}"),
        &as_reader,
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""text":"hey""#), "{body}");

    // Revoked, a token opens nothing; nor does a made-up one.
    let id_of = |t: &str| {
        t.trim_start_matches("sbt_")
            .split('_')
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(admin(&bot, &["revoke", &id_of(&operating)], "").0);
    assert_eq!(request(port, "GET", "/api/v1/me", &as_operator, "").0, 401);
    // Its last digit changed (to another: a `0` one time in sixteen).
    let last = if reading.ends_with('0') { '1' } else { '0' };
    let forged = bearer(&format!("{}{last}", &reading[..reading.len() - 1]));
    assert_eq!(
        request(
            port,
            "GET",
            "/api/v1/me",
            &[("authorization", forged.as_str())],
            ""
        )
        .0,
        401
    );
    running.terminate();
    let _ = running.finish();
    let who = format!("carol (token {})", id_of(&operating));
    assert_eq!(audit[0]["user"], who.as_str(), "{audit}");
    assert_eq!(audit[0]["text"], "skill disable hello", "{audit}");
}

#[test]
fn an_operators_commands_go_through_the_bot_as_console_name_under_chats_permissions() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], "");
    bot.write_config(&format!(
        "admins: [alice, 'console:carol']\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\n"
    ));
    for (name, role) in [
        ("carol", "operator"),
        ("dave", "operator"),
        ("victor", "viewer"),
    ] {
        assert!(
            admin(
                &bot,
                &["add", name, "--role", role],
                &format!("{name}'s long password")
            )
            .0
        );
    }
    let running = bot.start();
    wait_for_port(port);
    let say = |who: &Login, text: &str| {
        let headers = [
            ("cookie", who.cookie.as_str()),
            ("x-csrf-token", who.csrf.as_str()),
        ];
        let body = serde_json::json!({ "text": text }).to_string();
        let (status, _, body) = request(port, "POST", "/api/v1/commands", &headers, &body);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        )
    };
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let (status, answer) = say(&carol, "hello");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"answers": ["Hello carol"], "finished": true})
    );
    // carol is an admin in chat's list as console:carol; dave is not.
    let (_, answer) = say(&carol, "skill disable hello");
    assert_eq!(answer["answers"][0], "`hello` is disabled.", "{answer}");
    let dave = log_in(port, "dave", "dave's long password").unwrap();
    let (status, answer) = say(&dave, "skill enable hello");
    assert_eq!(status, 200);
    let refusal = answer["answers"][0].as_str().unwrap_or_default();
    assert!(!refusal.contains("is enabled"), "{answer}");
    let (_, _, skills) = request(
        port,
        "GET",
        "/api/v1/skills",
        &[("cookie", dave.cookie.as_str())],
        "",
    );
    assert!(skills.contains(r#""state":"disabled""#), "{skills}");
    // A viewer runs nothing; a command without the CSRF token is refused.
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    assert_eq!(say(&victor, "hello").0, 403);
    let no_csrf = [("cookie", carol.cookie.as_str())];
    assert_eq!(
        request(
            port,
            "POST",
            "/api/v1/commands",
            &no_csrf,
            r#"{"text":"hello"}"#
        )
        .0,
        403
    );
    running.terminate();
    let _ = running.finish();
    // The command is in the history as the console's, who said it included.
    let records = bot
        .history()
        .find(&sandbot::history::Filter {
            connector: Some("console".into()),
            user: Some("carol".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.skill == "hello" && r.user.as_deref() == Some("carol")),
        "{records:#?}"
    );

    bot.write_config("connectors:\n  shell: {}\n  console: {type: websocket}\nconsole: {}\n");
    let config = bot.config();
    let (status, _, err) = sandbot(&["config", "validate", "-c", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains("connectors.console: the name `console` is the console's own"),
        "{err}"
    );
}

#[test]
fn an_admin_sees_an_uploaded_skills_manifest_and_grants_before_it_serves() {
    let port = free_port();
    let bot = BotDir::new(
        &["hello"],
        &format!(
            "web:\n  port: {port}\nconsole: {{}}\nskills:\n  dance:\n    limits: {{time: 3s}}"
        ),
    );
    assert!(
        admin(
            &bot,
            &["add", "root", "--role", "admin"],
            "root's long password"
        )
        .0
    );
    assert!(
        admin(
            &bot,
            &["add", "carol", "--role", "operator"],
            "carol's long password"
        )
        .0
    );
    let mut running = bot.start();
    wait_for_port(port);
    let root = log_in(port, "root", "root's long password").unwrap();
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let headers = |who: &Login| {
        vec![
            ("cookie".to_owned(), who.cookie.clone()),
            ("x-csrf-token".to_owned(), who.csrf.clone()),
            ("content-type".to_owned(), "application/wasm".to_owned()),
        ]
    };
    let send = |who: &Login, path: &str, body: &[u8]| {
        let owned = headers(who);
        let borrowed: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (status, _, body) = request_bytes(port, "POST", path, &borrowed, body);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        )
    };
    let dance = std::fs::read(skill_wasm("dance")).unwrap();

    // Only an admin installs; what would not load is said, and kept out.
    let (status, why) = send(&carol, "/api/v1/skills/dance/upload", &dance);
    assert_eq!(status, 403, "{why}");
    let (status, why) = send(&root, "/api/v1/skills/dance/upload", b"\0asm not really");
    assert_eq!(status, 422, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .starts_with("it would not load: "),
        "{why}"
    );

    // Shown first: what it is, what it answers to, what it may do.
    let (status, shown) = send(&root, "/api/v1/skills/dance/upload", &dance);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["name"], "dance");
    assert_eq!(shown["replaces"], Value::Null);
    assert_eq!(shown["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(shown["matchers"][0]["help"], "dance — I dance");
    assert_eq!(shown["grants"][0], "no network");
    assert!(
        shown["grants"][2].as_str().unwrap().starts_with("3s a run"),
        "{shown}"
    );
    // Not serving until approved (configured, its file not there yet).
    let (_, _, listed) = request(
        port,
        "GET",
        "/api/v1/skills",
        &[("cookie", root.cookie.as_str())],
        "",
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let dance_now = listed["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "dance")
        .cloned();
    assert_eq!(
        dance_now.map(|s| s["state"].clone()),
        Some(Value::from("failed"))
    );

    let id = shown["id"].as_str().unwrap();
    let (status, installed) = send(&root, &format!("/api/v1/uploads/{id}/approve"), b"");
    assert_eq!(status, 200, "{installed}");
    assert!(
        installed["change"]
            .as_str()
            .unwrap()
            .starts_with("dance 0.1.0"),
        "{installed}"
    );
    assert!(
        !running.ask("dance").is_empty(),
        "dance answers once installed"
    );
    assert!(bot.skill_path("dance").exists());
    let (status, _) = send(&root, &format!("/api/v1/uploads/{id}/approve"), b"");
    assert_eq!(status, 404, "approved once");

    // Rejected, an upload is gone.
    let hello = std::fs::read(skill_wasm("hello")).unwrap();
    let (_, again) = send(&root, "/api/v1/skills/hello/upload", &hello);
    assert_eq!(again["replaces"], "0.1.0", "{again}");
    let id = again["id"].as_str().unwrap();
    assert_eq!(
        send(&root, &format!("/api/v1/uploads/{id}/reject"), b"").0,
        204
    );
    assert_eq!(
        send(&root, &format!("/api/v1/uploads/{id}/approve"), b"").0,
        404
    );
    running.terminate();
    let _ = running.finish();
    let texts: Vec<String> = bot
        .history()
        .find(&sandbot::history::Filter {
            skill: Some("console".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|r| r.user.as_deref() == Some("root"))
        .filter_map(|r| r.text)
        .collect();
    let sha = shown["sha256"].as_str().unwrap();
    for expected in [
        "skill upload dance".to_owned(),
        format!("skill install dance {}", &sha[..12]),
        "skill upload hello".to_owned(),
    ] {
        assert!(texts.contains(&expected), "{expected} not in {texts:?}");
    }
}

#[test]
fn the_log_is_read_and_followed_by_skill_one_json_line_an_event() {
    use std::io::BufRead;
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web:\n  port: {port}\nconsole: {{}}"));
    assert!(admin(&bot, &["add", "victor"], "victor's long password").0);
    let mut running = bot.start();
    wait_for_port(port);
    let victor = log_in(port, "victor", "victor's long password").unwrap();

    // Follow the console's lines as they are written.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /api/v1/log/stream?skill=console HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncookie: {}\r\n\r\n",
        victor.cookie
    )
    .unwrap();
    let mut following = std::io::BufReader::new(stream);
    let mut head = String::new();
    while following.read_line(&mut head).unwrap() > 2 && !head.ends_with("\r\n\r\n") {}
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");

    // A failed login is a warning of skill `console`; a name with a line
    // break in it stays on its one line.
    assert_eq!(
        log_in(port, "mallory\nINFO forged", "a guess that fails")
            .err()
            .unwrap()
            .0,
        401
    );
    let mut line = String::new();
    let data = loop {
        line.clear();
        following.read_line(&mut line).unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            break data.trim_end().to_owned();
        }
    };
    let event: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
    assert_eq!(event["fields"]["skill"], "console", "{data}");
    assert_eq!(event["level"], "WARN", "{data}");
    assert!(data.contains("wrong name or password"), "{data}");

    // And kept: found by skill, not under another skill.
    assert_eq!(running.ask("hello"), "Hello alice");
    let cookie = [("cookie", victor.cookie.as_str())];
    let (status, _, body) = request(port, "GET", "/api/v1/log?skill=console", &cookie, "");
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("wrong name or password")),
        "{body}"
    );
    let (_, _, other) = request(port, "GET", "/api/v1/log?skill=hello", &cookie, "");
    assert!(!other.contains("wrong name or password"), "{other}");
    assert_eq!(request(port, "GET", "/api/v1/log", &[], "").0, 401);
    running.terminate();
    let _ = running.finish();
}

#[test]
fn an_admin_checks_a_configuration_change_before_applying_it() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web:\n  port: {port}\nconsole: {{}}"));
    assert!(
        admin(
            &bot,
            &["add", "root", "--role", "admin"],
            "root's long password"
        )
        .0
    );
    assert!(
        admin(
            &bot,
            &["add", "carol", "--role", "operator"],
            "carol's long password"
        )
        .0
    );
    let running = bot.start();
    wait_for_port(port);
    let check = |who: &Login, text: &str| {
        let headers = [
            ("cookie", who.cookie.as_str()),
            ("x-csrf-token", who.csrf.as_str()),
            ("content-type", "text/yaml"),
        ];
        let (status, _, body) = request(port, "POST", "/api/v1/config/validate", &headers, text);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
        )
    };
    let root = log_in(port, "root", "root's long password").unwrap();
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let current = std::fs::read_to_string(bot.config()).unwrap();
    assert_eq!(check(&carol, &current).0, 403);
    let (status, verdict) = check(&root, &current);
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict}");
    let changed = current.replace("skills-dir: skills", "skills-dir: skills\nunmatchd: help");
    let (_, verdict) = check(&root, &changed);
    assert_eq!(verdict["valid"], false, "{verdict}");
    let first = verdict["errors"][0].as_str().unwrap();
    let file = bot.config().display().to_string();
    assert!(first.starts_with(&format!("{file}:")), "{first}");
    assert!(first.contains("did you mean `unmatched`?"), "{first}");
    // Nothing changed: the file in use is as it was.
    assert_eq!(std::fs::read_to_string(bot.config()).unwrap(), current);
    running.terminate();
    let _ = running.finish();
}

#[test]
fn a_chat_identity_linked_to_an_admin_account_is_an_admin_in_chat() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], "");
    // alice (the shell's user) is in no `admins:` list.
    bot.write_config(&format!(
        "admins: []\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\n"
    ));
    assert!(
        admin(
            &bot,
            &["add", "carol", "--role", "admin"],
            "carol's long password"
        )
        .0
    );
    assert!(
        admin(
            &bot,
            &["add", "dave", "--role", "operator"],
            "dave's long password"
        )
        .0
    );
    let mut alice = bot.start();
    wait_for_port(port);
    let disable = |alice: &mut crate::common::Running| alice.ask("skill disable hello");
    let said = disable(&mut alice);
    assert!(said.starts_with("Sorry alice, only admins may"), "{said}");

    // Linked to an operator: still no admin.
    let (ok, said) = admin(&bot, &["link", "dave", "shell:alice"], "");
    assert!(ok, "{said}");
    std::thread::sleep(sandbot_link_wait());
    assert!(disable(&mut alice).starts_with("Sorry alice"));
    let (ok, said) = admin(&bot, &["link", "carol", "shell:alice"], "");
    assert!(!ok && said.contains("linked to `dave` already"), "{said}");
    assert!(admin(&bot, &["unlink", "shell:alice"], "").0);

    // Linked to an admin: an admin in chat, within the bot's re-read.
    let (ok, said) = admin(&bot, &["link", "carol", "shell:alice"], "");
    assert!(ok, "{said}");
    let (_, list) = admin(&bot, &["list"], "");
    assert_eq!(list, "carol\tadmin\tshell:alice\ndave\toperator\n");
    std::thread::sleep(sandbot_link_wait());
    assert_eq!(disable(&mut alice), "`hello` is disabled.");
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let (_, _, me) = request(
        port,
        "GET",
        "/api/v1/me",
        &[("cookie", carol.cookie.as_str())],
        "",
    );
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["links"], serde_json::json!(["shell:alice"]), "{me}");

    // Unlinked (or the account removed): no more.
    assert!(admin(&bot, &["unlink", "shell:alice"], "").0);
    std::thread::sleep(sandbot_link_wait());
    let said = alice.ask("skill enable hello");
    assert!(said.starts_with("Sorry alice, only admins may"), "{said}");
    alice.terminate();
    let _ = alice.finish();
}

/// Longer than the bot's re-read of the links (every 2 s).
fn sandbot_link_wait() -> std::time::Duration {
    std::time::Duration::from_millis(2500)
}
