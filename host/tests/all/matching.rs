//! Matching through the real bot and a real skill (`deploy`): StackStorm
//! action aliases, opsdroid parse-format templates, an operator's alias
//! from configuration.yaml with fixed parameters (which a message cannot
//! override) and an ack, two formats of one alias (the more specific runs),
//! and a message two commands' aliases fit, answered with both rather than
//! guessed.

use crate::common::BotDir;

const CONFIG: &str = r#"skills:
  deploy:
    aliases:
      - format: "ship {{app}}"
        matcher: deploy
        parameters: {env: prod}
        ack: "Shipping {{ app }} to {{ env }}…"
      - format: "deploy {{app}} now"
        matcher: deploy
        parameters: {env: prod}
        help: "deploy <app> now — straight to prod"
  hello:
    aliases:
      - format: "deploy {{app}} later"
        matcher: greet
        help: "deploy <app> later — a greeting instead"
"#;

#[test]
fn aliases_templates_and_an_operators_own_words() {
    let bot = BotDir::new(&["deploy", "hello"], CONFIG);
    let mut run = bot.start();
    // The skill's alias: default, given, quoted, trailing pairs.
    assert_eq!(run.ask("deploy web"), "Deploying web to staging for alice.");
    assert_eq!(
        run.ask("Deploy web to prod timeout=120 canary=true"),
        "Deploying web to prod (timeout=120, canary=true) for alice."
    );
    assert_eq!(
        run.ask("deploy web to 'eu west'"),
        "Deploying web to eu west for alice."
    );
    // The template.
    assert_eq!(
        run.ask("STATUS OF web"),
        "web was last deployed to eu west."
    );
    assert_eq!(run.ask("status of db"), "db has not been deployed yet.");
    // The operator's words: a fixed parameter cannot be changed (as
    // StackStorm refuses it), nothing runs; without the pair, the ack first.
    assert_eq!(
        run.ask("ship api env=dev"),
        "⛔ `env` cannot be overridden: this command fixes it."
    );
    assert_eq!(run.ask("status of api"), "api has not been deployed yet.");
    run.say("ship api");
    assert_eq!(
        run.answers(2),
        ["Shipping api to prod…", "Deploying api to prod for alice."]
    );
    // Two formats of one alias (the skill's `deploy` and the operator's
    // `deploy {{app}} now` for it) fit: the more specific runs.
    assert_eq!(run.ask("deploy db now"), "Deploying db to prod for alice.");
    // Two aliases of two commands fit: nothing runs, both are named.
    let answer = run.ask("deploy api later");
    assert!(
        answer.contains("matches more than one command")
            && answer.contains(
                "`deploy <app> [to <env>] [key=value ...] — deploy (staging by default)` (deploy)"
            )
            && answer.contains("`deploy <app> later — a greeting instead` (hello)"),
        "{answer}"
    );
    assert_eq!(run.ask("status of api"), "api was last deployed to prod.");
    assert_eq!(
        run.ask("hello"),
        "Hello alice",
        "regexes still work beside them"
    );
    // The refused override is in the history, as `denied` with its reason.
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let history = bot.history();
    let denied = history
        .find(&sandbot::history::Filter {
            outcome: Some(sandbot::event::Outcome::Denied),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].skill, "deploy");
    assert_eq!(denied[0].text.as_deref(), Some("ship api env=dev"));
    assert_eq!(
        denied[0].error.as_deref(),
        Some("⛔ `env` cannot be overridden: this command fixes it.")
    );
}

#[test]
fn an_alias_for_a_matcher_the_skill_lacks_is_a_load_error() {
    let bot = BotDir::new(
        &["deploy"],
        "skills:\n  deploy:\n    aliases:\n      - {format: 'ship {{app}}', matcher: shipit}\n",
    );
    let mut run = bot.start();
    run.wait_for_log("which the skill does not declare (it has: deploy, status)");
    assert_eq!(run.ask("help"), "I answer to:", "the bot keeps serving");
}

/// StackStorm's `match_multiple`: an operator's alias with `match-multiple:
/// true` runs once for every place it fits in one message, each with its
/// own parameters; fitting once, it runs once; a format that does not
/// begin with words (where a place would start) is refused at load.
#[test]
fn match_multiple_runs_once_per_place_the_alias_fits() {
    let bot = BotDir::new(
        &["deploy"],
        "skills:\n  deploy:\n    aliases:\n      - format: \"roll {{app}}( to {{env=staging}})?\"\n        matcher: deploy\n        match-multiple: true\n",
    );
    let mut run = bot.start();
    run.say("roll web roll api to prod ROLL db");
    let mut answers = run.answers(3);
    answers.sort();
    assert_eq!(
        answers,
        [
            "Deploying api to prod for alice.",
            "Deploying db to staging for alice.",
            "Deploying web to staging for alice.",
        ]
    );
    assert_eq!(run.ask("roll web"), "Deploying web to staging for alice.");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");

    bot.write_config(&std::fs::read_to_string(bot.config()).unwrap().replace(
        "format: \"roll {{app}}( to {{env=staging}})?\"",
        "format: \"{{app}} rolls\"",
    ));
    let (status, _, err) =
        crate::common::sandbot(&["config", "validate", "-c", bot.config().to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains("`match-multiple` needs the format to begin with plain words"),
        "{err}"
    );
}
