//! Permissions, help and the admins' commands through the real bot and real
//! skills: a user refused a skill hears so and the refusal is recorded;
//! `help` lists only what the asker may run and searches; `skill disable`
//! survives a restart; an operator alias's `result` template rewrites the
//! skill's answer; a slip gets "did you mean".

use crate::common::{BotDir, Running};
use std::time::Duration;

/// `deploy` for alice only, and its `status` matcher for no one on the
/// shell; `hello` for everyone.
const PERMISSIONS: &str = r#"skills:
  deploy:
    permissions:
      allow-users: [alice]
    matchers:
      status:
        permissions: {deny-connectors: [shell]}
  hello: {}
"#;

/// Every line of a many-line answer: the first, then any that follow
/// closely.
fn ask_all(run: &mut Running, text: &str) -> String {
    run.say(text);
    let mut lines = vec![run.answer()];
    while let Some(line) = run.try_answer(Duration::from_millis(300)) {
        lines.push(line);
    }
    lines.join("\n")
}

fn as_user(bot: &BotDir, user: &str, rest: &str) -> Running {
    bot.write_config(&format!(
        "admins: [alice]\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{user: {user}}}\n{rest}"
    ));
    bot.start()
}

#[test]
fn refusals_are_answered_recorded_and_help_follows_the_user() {
    let bot = BotDir::new(&["deploy", "hello"], PERMISSIONS);
    let mut bob = as_user(&bot, "bob", PERMISSIONS);
    assert_eq!(
        bob.ask("deploy web"),
        "⛔ Sorry bob, you are not allowed to run that (deploy) here."
    );
    bob.wait_for_log("denied: not in allow-users");
    bob.wait_for_log("outcome=denied");
    assert_eq!(bob.ask("hello"), "Hello bob", "other skills still serve");
    let help = ask_all(&mut bob, "help");
    assert!(help.contains("(hello)"), "{help}");
    assert!(!help.contains("(deploy)"), "bob may not deploy: {help}");
    assert!(!help.contains("reload"), "bob is no admin: {help}");
    assert_eq!(
        bob.ask("reload"),
        "Sorry bob, only admins may reload skills."
    );
    let (_, status, log) = bob.finish();
    assert!(status.success(), "{log}");

    let mut alice = as_user(&bot, "alice", PERMISSIONS);
    assert_eq!(
        alice.ask("deploy web"),
        "Deploying web to staging for alice."
    );
    // Her skill-level permission is not enough for a matcher the
    // configuration closed to the shell.
    assert_eq!(
        alice.ask("status of web"),
        "⛔ Sorry alice, you are not allowed to run that (deploy) here."
    );
    alice.wait_for_log("denied: deny-connectors has shell");
    let help = ask_all(&mut alice, "help");
    assert!(
        help.contains("deploy <app>") && help.contains("reload"),
        "{help}"
    );
    assert!(!help.contains("status of"), "{help}");
    // `help <word>` searches.
    let found = ask_all(&mut alice, "help deploy");
    assert!(
        found.starts_with("About `deploy`:") && found.contains("deploy <app>"),
        "{found}"
    );
    assert!(!found.contains("(hello)"), "{found}");
    assert_eq!(
        alice.ask("help weather"),
        "Nothing about `weather`. Say `help` for everything I answer to."
    );
}

#[test]
fn a_disabled_skill_stays_disabled_across_a_restart() {
    let bot = BotDir::new(&["hello", "deploy"], "");
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(run.ask("skill disable hello"), "`hello` is disabled.");
    run.say("hello");
    // The shell is answered in order: an answer to `hello` would come first.
    let skills = ask_all(&mut run, "skills");
    assert!(skills.starts_with("2 skills:"), "{skills}");
    assert!(
        skills.contains("hello ") && skills.contains("— disabled"),
        "{skills}"
    );
    assert_eq!(
        run.ask("skill disable nosuch"),
        "⚠ no skill is named `nosuch`"
    );
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");

    let mut again = bot.start();
    again.say("hello");
    // In order again: `hello` is still not answered.
    let help = ask_all(&mut again, "help");
    assert!(help.starts_with("I answer to:"), "{help}");
    assert_eq!(again.ask("skill enable hello"), "`hello` is enabled.");
    assert_eq!(again.ask("hello"), "Hello alice");
    assert_eq!(
        again.ask("skill enable hello"),
        "`hello` was already enabled."
    );
}

#[test]
fn admin_commands_are_for_admins() {
    let bot = BotDir::new(&["hello"], "");
    let mut mallory = as_user(&bot, "mallory", "");
    assert_eq!(
        mallory.ask("skill disable hello"),
        "Sorry mallory, only admins may manage skills."
    );
    assert_eq!(mallory.ask("hello"), "Hello mallory");
}

#[test]
fn an_alias_result_template_and_did_you_mean() {
    let bot = BotDir::new(
        &["deploy"],
        r#"skills:
  deploy:
    aliases:
      - format: "ship {{app}}"
        matcher: deploy
        parameters: {env: prod}
        result: "🚀 {{ result }} ({{ app }} by {{ user }})"
"#,
    );
    let mut run = bot.start();
    assert_eq!(
        run.ask("ship api"),
        "🚀 Deploying api to prod for alice. (api by alice)"
    );
    // The skill's own alias is not rewritten.
    assert_eq!(run.ask("deploy api"), "Deploying api to staging for alice.");
    let answer = run.ask("deplyo api");
    assert!(
        answer.starts_with("I don't know `deplyo api`. Did you mean `deploy <app>"),
        "{answer}"
    );
    assert_eq!(
        run.ask("hepl"),
        "I don't know `hepl`. Did you mean `help [word]`?"
    );
}

#[test]
fn a_matcher_setting_for_a_matcher_the_skill_lacks_is_a_load_error() {
    let bot = BotDir::new(
        &["deploy", "hello"],
        "skills:\n  deploy:\n    matchers:\n      stauts: {addressed: true}\n  hello: {}\n",
    );
    let mut run = bot.start();
    run.wait_for_log("`matchers:` names stauts, which the skill does not declare");
    assert_eq!(run.ask("hello"), "Hello alice");
}
