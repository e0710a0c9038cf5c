//! An admin manages the console's accounts from the console: adds one,
//! changes its role, links and unlinks a chat identity, revokes a token,
//! removes it; each through the same store `sandbot admin` writes (the
//! command sees the change), each an audit record, never a password's or
//! a token's hash in an answer, and never an admin's own account.

use crate::common::*;
use crate::console::{admin, log_in, request};
use serde_json::{Value, json};

#[test]
fn an_admin_manages_accounts_tokens_and_links_from_the_console() {
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
    let running = bot.start();
    wait_for_port(port);
    let root = log_in(port, "root", "root's long password").unwrap();
    let as_root = [
        ("cookie", root.cookie.as_str()),
        ("x-csrf-token", root.csrf.as_str()),
    ];
    let call = |method: &str, path: &str, body: Value| {
        let (status, _, text) = request(port, method, path, &as_root, &body.to_string());
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value, text)
    };

    // Added from the console: it logs in, and `sandbot admin list` sees it.
    let dora = json!({"name": "dora", "role": "viewer", "password": "dora's long password"});
    let (status, added, text) = call("POST", "/api/v1/users", dora.clone());
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        added,
        json!({"name": "dora", "role": "viewer", "links": []})
    );
    let (status, _, text) = call("POST", "/api/v1/users", dora);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("already an account `dora`"), "{text}");
    let short = json!({"name": "eve", "role": "viewer", "password": "short"});
    let (status, _, text) = call("POST", "/api/v1/users", short);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("too short"), "{text}");
    let session = log_in(port, "dora", "dora's long password").unwrap();
    let as_dora = [("cookie", session.cookie.as_str())];
    let (_, listed) = admin(&bot, &["list"], "");
    assert!(listed.contains("dora\tviewer"), "{listed}");

    // Its role changed: the session it holds acts with the new one.
    let (status, changed, text) = call(
        "POST",
        "/api/v1/users/dora/role",
        json!({"role": "operator"}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(changed["role"], "operator");
    let (_, _, me) = request(port, "GET", "/api/v1/me", &as_dora, "");
    assert!(me.contains(r#""role":"operator""#), "{me}");
    let (status, _, text) = call(
        "POST",
        "/api/v1/users/nobody/role",
        json!({"role": "viewer"}),
    );
    assert_eq!(status, 404, "{text}");

    // A chat identity linked and unlinked, as `sandbot admin link` does.
    let slack = json!({"identity": "slack:U024BE7LH"});
    let (status, linked, text) = call("POST", "/api/v1/users/dora/link", slack.clone());
    assert_eq!(status, 200, "{text}");
    assert_eq!(linked["links"], json!(["slack:U024BE7LH"]));
    let (_, listed) = admin(&bot, &["list"], "");
    assert!(
        listed.contains("dora\toperator\tslack:U024BE7LH"),
        "{listed}"
    );
    let (status, _, text) = call("POST", "/api/v1/users/root/link", slack.clone());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("linked to `dora` already"), "{text}");
    let (status, _, text) = call(
        "POST",
        "/api/v1/users/dora/link",
        json!({"identity": "no-colon"}),
    );
    assert_eq!(status, 400, "{text}");
    let (status, _, text) = call("POST", "/api/v1/users/root/unlink", slack.clone());
    assert_eq!(status, 404, "not root's to unlink: {text}");
    let (status, unlinked, text) = call("POST", "/api/v1/users/dora/unlink", slack);
    assert_eq!(status, 200, "{text}");
    assert_eq!(unlinked["links"], json!([]));

    // A token: listed without its secret or hash, and revoked here.
    let (ok, said) = admin(
        &bot,
        &["token", "dora", "--role", "viewer", "--note", "dash"],
        "",
    );
    assert!(ok, "{said}");
    let token = said
        .lines()
        .find(|l| l.starts_with("sbt_"))
        .unwrap()
        .to_owned();
    let id = token["sbt_".len()..].split('_').next().unwrap().to_owned();
    let secret = token.rsplit('_').next().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let with_token = [("authorization", bearer.as_str())];
    assert_eq!(request(port, "GET", "/api/v1/me", &with_token, "").0, 200);
    let (status, _, users) = request(port, "GET", "/api/v1/users", &as_root, "");
    assert_eq!(status, 200, "{users}");
    assert!(!users.contains(&secret), "{users}");
    assert!(
        !users.contains("argon2") && !users.contains("hash"),
        "{users}"
    );
    let users: Value = serde_json::from_str(&users).unwrap();
    assert!(
        users["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str() && t["account"] == "dora" && t["revoked"] == false),
        "{users}"
    );
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dora", "root"]);
    let (status, _, text) = call("POST", &format!("/api/v1/tokens/{id}/revoke"), json!(null));
    assert_eq!(status, 204, "{text}");
    assert_eq!(request(port, "GET", "/api/v1/me", &with_token, "").0, 401);
    let (_, tokens) = admin(&bot, &["tokens"], "");
    assert!(
        tokens.contains(&format!("{id}\tdora\tviewer\trevoked")),
        "{tokens}"
    );
    let (status, _, _) = call("POST", "/api/v1/tokens/nope/revoke", json!(null));
    assert_eq!(status, 404);

    // Not one's own account: the console would lose its last admin.
    let (status, _, text) = call("POST", "/api/v1/users/root/role", json!({"role": "viewer"}));
    assert_eq!(status, 409, "{text}");
    let (status, _, text) = call("POST", "/api/v1/users/root/remove", json!(null));
    assert_eq!(status, 409, "{text}");
    // An operator manages nobody.
    let as_dora_changing = [
        ("cookie", session.cookie.as_str()),
        ("x-csrf-token", session.csrf.as_str()),
    ];
    let (status, _, text) = request(
        port,
        "POST",
        "/api/v1/users/root/remove",
        &as_dora_changing,
        "",
    );
    assert_eq!(status, 403, "{text}");
    assert_eq!(request(port, "GET", "/api/v1/users", &as_dora, "").0, 403);

    // Removed: its session ends, and the command no longer lists it.
    let (status, _, text) = call("POST", "/api/v1/users/dora/remove", json!(null));
    assert_eq!(status, 204, "{text}");
    assert_eq!(request(port, "GET", "/api/v1/me", &as_dora, "").0, 401);
    let (_, listed) = admin(&bot, &["list"], "");
    assert!(!listed.contains("dora"), "{listed}");

    // Each change is an audit record: who, what, and refusals too.
    let (_, _, audit) = request(
        port,
        "GET",
        "/api/v1/executions?skill=console&limit=100",
        &as_root,
        "",
    );
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let said: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["text"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (text, outcome) in [
        ("user add dora as viewer", "ok"),
        ("user add eve as viewer", "denied"),
        ("user role dora operator", "ok"),
        ("user link dora slack:U024BE7LH", "ok"),
        ("user unlink dora slack:U024BE7LH", "ok"),
        (&*format!("token revoke {id}"), "ok"),
        ("user role root viewer", "denied"),
        ("user remove dora", "ok"),
    ] {
        assert!(
            said.iter().any(|(t, o)| t == text && o == outcome),
            "{text} ({outcome}) not in {said:?}"
        );
    }
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["user"] == "root" || r["matcher"] == "login")
    );
    running.terminate();
    let _ = running.finish();
}
