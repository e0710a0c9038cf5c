//! Replacing a skill's `.wasm` while the bot is talking.

use crate::common::{BotDir, Running, free_port, http, skill_wasm, wait_for_port};
use std::time::{Duration, Instant};

/// Sends `hello` every few milliseconds while `replace` swaps in hello-v2
/// half a second in, then checks every message got exactly one answer and
/// the answers switched once, within a second of the new file landing.
fn answers_switch_while_messages_flow(replace: impl FnOnce(&BotDir)) {
    let bot = BotDir::new(&["hello"], "");
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");

    let mut sent_at = Vec::new();
    let start = Instant::now();
    let mut replaced_at = None;
    let mut replace = Some(replace);
    while start.elapsed() < Duration::from_millis(2500) {
        if replaced_at.is_none() && start.elapsed() > Duration::from_millis(500) {
            (replace.take().unwrap())(&bot);
            replaced_at = Some(Instant::now());
        }
        run.say("hello");
        sent_at.push(Instant::now());
        std::thread::sleep(Duration::from_millis(5));
    }
    let replaced_at = replaced_at.unwrap();
    let (answers, status, log) = run.finish();
    assert!(status.success(), "log:\n{log}");

    assert_eq!(
        answers.len(),
        sent_at.len(),
        "every message gets exactly one answer; log:\n{log}"
    );
    let first_new = answers
        .iter()
        .position(|a| a == "Good day, alice")
        .unwrap_or_else(|| panic!("the new version never answered; log:\n{log}"));
    assert!(
        answers[..first_new].iter().all(|a| a == "Hello alice"),
        "{answers:?}"
    );
    assert!(
        answers[first_new..].iter().all(|a| a == "Good day, alice"),
        "once switched, never back: {answers:?}"
    );
    let switch_delay = sent_at[first_new].saturating_duration_since(replaced_at);
    assert!(
        switch_delay < Duration::from_secs(1),
        "switched {switch_delay:?} after the write"
    );
    assert!(
        log.contains("hello 0.1.0→0.2.0"),
        "the reload is logged:\n{log}"
    );
}

#[test]
fn an_atomic_replace_switches_answers_without_losing_one() {
    answers_switch_while_messages_flow(|bot| bot.install("hello-v2", "hello"));
}

#[test]
fn cargo_style_delete_and_hard_link_switches_answers() {
    answers_switch_while_messages_flow(|bot| {
        // What cargo does to its output: unlink, then hard-link the new file.
        let dest = bot.skill_path("hello");
        let staged = bot.path().join("hello-v2.wasm");
        std::fs::copy(skill_wasm("hello-v2"), &staged).unwrap();
        std::fs::remove_file(&dest).unwrap();
        std::fs::hard_link(&staged, &dest).unwrap();
    });
}

#[test]
fn a_broken_replacement_leaves_the_old_version_serving() {
    let bot = BotDir::new(&["hello"], "");
    let mut run = bot.start();
    assert_eq!(run.ask("hi"), "Hi alice");
    std::fs::write(
        bot.skill_path("hello"),
        b"\0asm\x0d\0\x01\0 this is not a component",
    )
    .unwrap();
    run.wait_for_log("hello failed to load, 0.1.0 still serving");
    assert_eq!(run.ask("hi"), "Hi alice");
    assert!(
        run.log().contains("skills/hello.wasm: it does not compile"),
        "{}",
        run.log()
    );
}

/// `ship api` (an alias the configuration no longer has) deploys nothing.
fn assert_ship_is_gone(run: &mut Running) {
    run.say("ship api");
    let answer = run.try_answer(Duration::from_secs(1));
    assert!(
        !answer
            .as_deref()
            .unwrap_or_default()
            .starts_with("Deploying"),
        "{answer:?}"
    );
}

/// Every line of one multi-line answer.
fn ask_lines(run: &mut Running, text: &str) -> String {
    run.say(text);
    let mut lines = vec![run.answer()];
    while let Some(line) = run.try_answer(Duration::from_millis(300)) {
        lines.push(line);
    }
    lines.join("\n")
}

/// `skills` and `GET /` never show a change that did not take: a new file
/// that failed is named beside the version still serving, one that never
/// loaded is listed as not loaded; a new version compiling is said in the
/// log while the old one answers, and once it loads the warning is gone.
#[test]
fn skills_and_the_status_page_show_a_new_file_that_failed() {
    let port = free_port();
    let bot = BotDir::new(&["hello"], &format!("web: {{port: {port}}}\n"));
    let mut run = bot.start();
    wait_for_port(port);
    assert_eq!(run.ask("hi"), "Hi alice");
    std::fs::write(
        bot.skill_path("hello"),
        b"\0asm\x0d\0\x01\0 this is not a component",
    )
    .unwrap();
    run.wait_for_log("hello failed to load, 0.1.0 still serving");
    std::fs::write(bot.skill_path("broken"), b"not webassembly").unwrap();
    run.wait_for_log("broken failed to load");
    let skills = ask_lines(&mut run, "skills");
    assert!(
        skills.contains("hello 0.1.0 — enabled")
            && skills.contains("⚠ its new file did not load, this version serves:"),
        "{skills}"
    );
    assert!(skills.contains("broken — ✗ not loaded:"), "{skills}");
    let (status, body) = http(port, "GET", "/", &[], "");
    assert_eq!(status, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let entry = |name: &str| {
        status["skills"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
    };
    assert!(entry("hello")["error"].as_str().is_some(), "{body}");
    assert_eq!(entry("broken")["loaded"], false, "{body}");

    bot.install("hello-v2", "hello");
    run.wait_for_log("hello 0.1.0→0.2.0");
    assert!(
        run.log()
            .contains("compiling its new file; the old version serves meanwhile"),
        "{}",
        run.log()
    );
    let skills = ask_lines(&mut run, "skills");
    let hello = skills
        .lines()
        .find(|l| l.contains("hello 0.2.0 — enabled"))
        .unwrap_or_else(|| panic!("{skills}"));
    assert!(!hello.contains('⚠'), "{skills}");
}

#[test]
fn a_new_file_loads_and_a_deleted_one_unloads() {
    let bot = BotDir::new(&["hello"], "");
    let mut run = bot.start();
    bot.install("loudnoises", "loudnoises");
    run.wait_for_log("loudnoises 0.1.0 (new)");
    assert_eq!(run.ask("STOP"), "STOP!!! WHY ARE WE SHOUTING?");
    std::fs::remove_file(bot.skill_path("loudnoises")).unwrap();
    run.wait_for_log("loudnoises 0.1.0 (removed)");
    run.say("STOP");
    assert_eq!(run.ask("hi"), "Hi alice", "loudnoises no longer answers");
}

#[test]
fn reload_in_chat_reports_what_changed() {
    // `later/` does not exist at start, so no watcher sees it: only the
    // `reload` command can pick the skill up.
    let bot = BotDir::new(&[], "skills:\n  hello:\n    path: later/hello.wasm\n");
    let mut run = bot.start();
    run.wait_for_log("hello failed to load");
    let later = bot.path().join("later");
    std::fs::create_dir(&later).unwrap();
    std::fs::copy(skill_wasm("hello"), later.join("hello.wasm")).unwrap();
    assert_eq!(run.ask("reload"), "reloaded 1 skill: hello 0.1.0 (new)");
    assert_eq!(run.ask("hi"), "Hi alice");

    std::fs::copy(skill_wasm("hello-v2"), later.join("hello.wasm")).unwrap();
    assert_eq!(run.ask("reload"), "reloaded 1 skill: hello 0.1.0→0.2.0");
    assert_eq!(run.ask("hi"), "Good day, alice");
    assert_eq!(run.ask("reload"), "reloaded 1 skill: hello 0.2.0");
}

#[test]
fn only_admins_may_reload() {
    let bot = BotDir::new(&["hello"], "");
    let mut run = crate::common::Running::start(&bot.config(), &[("USER", "mallory")]);
    assert_eq!(
        run.ask("reload"),
        "Sorry mallory, only admins may reload skills."
    );
    assert_eq!(run.ask("hi"), "Hi mallory");
}

/// Every line of a many-line answer: the first, then any that follow
/// closely.
fn ask_all(run: &mut crate::common::Running, text: &str) -> Vec<String> {
    run.say(text);
    let mut lines = vec![run.answer()];
    while let Some(line) = run.try_answer(std::time::Duration::from_millis(300)) {
        lines.push(line);
    }
    lines
}

/// `reload` reads configuration.yaml again: a removed operator alias stops
/// matching and leaves `help`, the answer says what changed (and what waits
/// for a restart), and a configuration that does not load is refused with
/// its error while the one in use stays.
#[test]
fn reload_rereads_the_configuration_and_refuses_a_bad_one() {
    let alias = "skills:\n  deploy:\n    aliases:\n      - format: \"ship {{app}}\"\n        matcher: deploy\n";
    let bot = BotDir::new(&["deploy"], alias);
    let mut run = bot.start();
    assert_eq!(run.ask("ship api"), "Deploying api to staging for alice.");
    assert!(
        ask_all(&mut run, "help")
            .iter()
            .any(|l| l.contains("ship {{app}}"))
    );
    let with_alias = std::fs::read_to_string(bot.config()).unwrap();

    let without = with_alias.replace(alias, "skills:\n  deploy: {}\n");
    bot.write_config(&without.replace("admins: [alice]", "admins: [alice, bob]"));
    assert_eq!(
        ask_all(&mut run, "reload"),
        [
            "reloaded 1 skill: deploy 0.1.0 (reconfigured)",
            "│ configuration: skills.deploy: changed",
            "│ configuration: skills.deploy: alias `ship {{app}}` removed",
            "│ configuration: admins changed: applied at the next start, not by reload",
        ]
    );
    assert_ship_is_gone(&mut run);
    assert!(!ask_all(&mut run, "help").iter().any(|l| l.contains("ship")));
    assert_eq!(run.ask("deploy api"), "Deploying api to staging for alice.");

    // Broken: refused with its line, the configuration in use stays.
    bot.write_config(
        &with_alias.replace("        matcher: deploy\n", "        matcher: [deploy\n"),
    );
    let answer = ask_all(&mut run, "reload");
    assert!(
        answer[0].starts_with("⚠ configuration.yaml was not reloaded, the one in use stays: ")
            && answer[0].contains("configuration.yaml:"),
        "{answer:?}"
    );
    assert_eq!(answer[1], "│ reloaded 1 skill: deploy 0.1.0", "{answer:?}");
    assert_ship_is_gone(&mut run);

    // Back: the alias runs again.
    bot.write_config(&with_alias);
    let answer = ask_all(&mut run, "reload");
    assert_eq!(
        answer[0], "reloaded 1 skill: deploy 0.1.0 (reconfigured)",
        "{answer:?}"
    );
    assert_eq!(run.ask("ship api"), "Deploying api to staging for alice.");
}
