//! The console's API as a whole, from its OpenAPI document: the document
//! is OpenAPI 3.x and lists exactly the routes the router serves (the
//! router's own list), each served; and every route that changes something
//! refuses a missing or invalid session or token, a role below its own,
//! and a session without its CSRF token, before doing anything.

use crate::common::*;
use crate::console::{admin, log_in, request};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn the_openapi_document_lists_every_route_and_every_change_checks_who_asks() {
    let port = free_port();
    let bot = BotDir::new(
        &["hello", "count"],
        &format!("web:\n  port: {port}\nconsole: {{}}"),
    );
    for (name, role) in [
        ("root", "admin"),
        ("carol", "operator"),
        ("victor", "viewer"),
    ] {
        let password = format!("{name}'s long password");
        assert!(admin(&bot, &["add", name, "--role", role], &password).0);
    }
    let running = bot.start();
    wait_for_port(port);
    let (status, head, body) = request(port, "GET", "/api/v1/openapi.json", &[], "");
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("application/json"), "{head}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    // Exactly the router's routes.
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.insert((method.clone(), path.clone()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{path}"
            );
            // Each {param} of the path is declared.
            for part in path.split('/').filter(|p| p.starts_with('{')) {
                let name = part.trim_matches(['{', '}']);
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{method} {path}: {name} not declared"
                );
            }
        }
    }
    let served: BTreeSet<(String, String)> = sandbot::console::route_list()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(listed, served);
    assert!(listed.len() >= 27, "{listed:?}");
    // The schemas come from the types: a workflow run's tasks, a login's body.
    let run = &doc["paths"]["/api/v1/workflows/runs/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        run["properties"]["tasks"]["items"]["properties"]["next"]["items"]["properties"]["to"]["type"],
        "array",
        "{run}"
    );
    let login = &doc["paths"]["/api/v1/login"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        login["required"],
        serde_json::json!(["name", "password"]),
        "{login}"
    );

    // Each one is served: without a login, a route that needs one says 401
    // (never the router's own 404 or 405).
    let root = log_in(port, "root", "root's long password").unwrap();
    let carol = log_in(port, "carol", "carol's long password").unwrap();
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    let mut changes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{name}", "hello").replace("{id}", "1");
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let Some(role) = op["x-role"].as_str() else {
                if method == "GET" && !path.contains("stream") {
                    let (status, _, body) = request(port, &method, &concrete, &[], "");
                    assert_eq!(status, 200, "{method} {path}: {body}");
                }
                continue;
            };
            if path.ends_with("/log/stream") {
                continue; // a stream that stays open; refusals as any GET.
            }
            let (status, _, body) = request(port, &method, &concrete, &[], "");
            assert_eq!(status, 401, "{method} {path} without a login: {body}");
            assert!(body.contains("\"error\""), "{method} {path}: {body}");
            let bogus = [("authorization", "Bearer sbt_00000000_0000000000000000")];
            assert_eq!(
                request(port, &method, &concrete, &bogus, "").0,
                401,
                "{method} {path} with an invalid token"
            );
            let forged = [("cookie", "sandbot-session=00ff"), ("x-csrf-token", "00ff")];
            assert_eq!(
                request(port, &method, &concrete, &forged, "").0,
                401,
                "{method} {path} with an invalid session"
            );
            if method == "GET" {
                continue;
            }
            changes += 1;
            // A session without its CSRF token: refused, even an admin's.
            let no_csrf = [("cookie", root.cookie.as_str())];
            let (status, _, body) = request(port, &method, &concrete, &no_csrf, "");
            assert_eq!(
                status, 403,
                "{method} {path} without the CSRF token: {body}"
            );
            assert!(body.contains("X-CSRF-Token"), "{body}");
            // A role below the route's: refused.
            let below: &[&crate::console::Login] = match role {
                "admin" => &[&victor, &carol],
                "operator" => &[&victor],
                _ => &[],
            };
            for who in below {
                let headers = [
                    ("cookie", who.cookie.as_str()),
                    ("x-csrf-token", who.csrf.as_str()),
                ];
                let (status, _, body) = request(port, &method, &concrete, &headers, "");
                assert_eq!(status, 403, "{method} {path} with a lower role: {body}");
                assert!(body.contains(&format!("needs the {role} role")), "{body}");
            }
        }
    }
    assert!(changes >= 20, "{changes} state-changing routes");
    // hello runs twice (as console:carol), "hello" in the skills answer:
    // its last runs, newest first, with how each ended, when and how long.
    let as_carol = [
        ("cookie", carol.cookie.as_str()),
        ("x-csrf-token", carol.csrf.as_str()),
    ];
    for _ in 0..2 {
        let said = request(
            port,
            "POST",
            "/api/v1/commands",
            &as_carol,
            r#"{"text":"hello"}"#,
        );
        assert_eq!(said.0, 200, "{}", said.2);
    }
    // count keeps two things: "count:apples" = "5", "count:pears" = "1".
    for text in ["count apples by 5", "count pears"] {
        let said = request(
            port,
            "POST",
            "/api/v1/commands",
            &as_carol,
            &serde_json::json!({"text": text}).to_string(),
        );
        assert_eq!(said.0, 200, "{}", said.2);
    }
    let (_, _, skills) = request(port, "GET", "/api/v1/skills", &as_carol, "");
    let skills: Value = serde_json::from_str(&skills).unwrap();
    let skill = |name: &str| {
        skills["skills"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {skills}"))
            .clone()
    };
    let count = skill("count");
    let stored = ("count:apples".len() + 1 + "count:pears".len() + 1) as u64;
    assert_eq!(count["memory"]["keys"], 2, "{count}");
    assert_eq!(count["memory"]["bytes"], stored, "{count}");
    assert_eq!(count["memory"]["max_keys"], 10000, "{count}");
    assert_eq!(skill("hello")["memory"]["keys"], 0);
    assert_eq!(count["recent"].as_array().map(Vec::len), Some(2), "{count}");
    let hello = skill("hello");
    let recent = &hello["recent"];
    assert_eq!(recent.as_array().map(Vec::len), Some(2), "{skills}");
    assert_eq!(recent[0]["outcome"], "ok", "{skills}");
    assert!(recent[0]["started_at"].as_u64() >= recent[1]["started_at"].as_u64());
    assert!(
        recent[0]["micros"].as_u64().is_some_and(|m| m > 0),
        "{skills}"
    );
    // The history's own records of those runs, by the ids shown.
    let (_, _, ran) = request(port, "GET", "/api/v1/executions?skill=hello", &as_carol, "");
    let ran: Value = serde_json::from_str(&ran).unwrap();
    assert_eq!(ran[0]["id"], recent[0]["id"], "{ran}");
    assert_eq!(ran[1]["id"], recent[1]["id"], "{ran}");
    // What the routes answer is what their schemas say.
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(schema) = item["get"]["responses"]["200"]["content"]["application/json"]
            .get("schema")
            .filter(|s| s.get("type").is_some())
        else {
            continue;
        };
        if path.contains('{') {
            continue;
        }
        // An admin's session: the admin's routes (accounts) answer too.
        let (status, _, body) = request(port, "GET", path, &[("cookie", root.cookie.as_str())], "");
        assert_eq!(status, 200, "{path}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        if let Err(why) = conforms(&answer, schema, "") {
            panic!("GET {path}: {why}\n{answer}\n{schema}");
        }
        // A list checked empty checks nothing: these have rows by now (the
        // logins' audit records, their log lines, the accounts).
        if ["/api/v1/executions", "/api/v1/log", "/api/v1/users"].contains(&path.as_str()) {
            let rows = answer.as_array().or(answer["users"].as_array());
            assert!(rows.is_some_and(|r| !r.is_empty()), "{path}: {answer}");
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked} answers checked");
    // Every JSON answer but this document's own has a schema.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
            if path != "/api/v1/openapi.json" && schema.is_object() {
                assert!(schema.get("type").is_some(), "{method} {path}: no schema");
            }
        }
    }
    // One execution, by the id the list gives.
    let as_root = [("cookie", root.cookie.as_str())];
    let (_, _, list) = request(port, "GET", "/api/v1/executions?limit=1", &as_root, "");
    let list: Value = serde_json::from_str(&list).unwrap();
    let id = list[0]["id"].as_str().unwrap();
    let (status, _, one) = request(
        port,
        "GET",
        &format!("/api/v1/executions/{id}"),
        &as_root,
        "",
    );
    assert_eq!(status, 200, "{one}");
    let schema = &doc["paths"]["/api/v1/executions/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let one: Value = serde_json::from_str(&one).unwrap();
    if let Err(why) = conforms(&one, schema, "") {
        panic!("GET /api/v1/executions/{id}: {why}\n{one}");
    }
    // Nothing was changed by the refusals: hello still serves.
    let (_, _, skills) = request(
        port,
        "GET",
        "/api/v1/skills",
        &[("cookie", victor.cookie.as_str())],
        "",
    );
    assert!(skills.contains(r#""state":"serving""#), "{skills}");

    // And the document validates, where a validator is installed.
    let file = bot.path().join("openapi.json");
    std::fs::write(&file, &body).unwrap();
    match std::process::Command::new("python3")
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
        .arg(&file)
        .output()
    {
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            eprintln!("openapi-spec-validator is not installed: the document's shape was checked above only");
        }
        Ok(out) => assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("no python3 ({e}): the document's shape was checked above only"),
    }
    running.terminate();
    let _ = running.finish();
}

/// Does `value` fit `schema` (the subset the document uses: type,
/// properties, required, items, enum)? `Err` says where not.
fn conforms(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    if let Some(kind) = schema["type"].as_str() {
        let fits = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        // A field that may be absent may be null.
        if !fits && !value.is_null() {
            return Err(format!("{at}: {value} is not {kind}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(fields), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}.{name}: missing"));
            }
        }
        for key in object.keys() {
            if !fields.contains_key(key) {
                return Err(format!("{at}.{key}: not in the schema"));
            }
        }
        for (name, field) in fields {
            if let Some(v) = object.get(name) {
                conforms(v, field, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            conforms(v, items, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
