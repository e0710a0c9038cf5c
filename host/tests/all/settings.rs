//! A skill's declared settings (its `settings` export) against its section
//! of configuration.yaml: `config validate`, start-up and a reload say the
//! same of a misspelt key (with its `file:line:col` and the declared name
//! it is nearest) and of a missing required one; a skill that declares
//! nothing (the C `calc`, built against world `skill`) is not checked; the
//! C `greet` declares its own.

use crate::common::{BotDir, sandbot, skill_wasm};
use sandbot::bus::Outboxes;
use sandbot::manifest::SettingSpec;
use sandbot::memory::SqliteMemory;
use sandbot::runtime::{Options, Runtime, Services, SkillSource};
use std::path::Path;
use std::sync::Arc;

/// `alerts` with a misspelt `url`, so also without its required one;
/// `relay` without its required `to`; `calc`, which declares nothing, with
/// a key of its own; `alerts`' token granted from `secrets:`, not flagged.
const MISTAKES: &str = "secrets:
  prometheus-token: s3cret
skills:
  hello: {}
  alerts:
    urll: http://127.0.0.1:9
    allow:
      secrets: [prometheus-token]
      http: [\"http://127.0.0.1:9\"]
  relay:
    allow: {send: ['shell:*']}
  calc:
    precision: 3
";

/// The 1-based line of `needle` in `file`, and the column it starts at.
fn place(file: &Path, needle: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find(needle).map(|col| (i + 1, col + 1)))
        .unwrap_or_else(|| panic!("`{needle}` is not in {}", file.display()))
}

/// What `config validate` and start-up must both say of [`MISTAKES`].
fn expected(file: &Path) -> Vec<String> {
    let at = |needle: &str| {
        let (line, col) = place(file, needle);
        format!("{}:{line}:{col}", file.display())
    };
    vec![
        format!(
            "{}: skills.alerts.urll: alerts has no setting `urll` (did you mean `url`?); it declares: url, prometheus-token",
            at("urll:")
        ),
        format!(
            "{}: skills.alerts: alerts needs setting `url` (the Prometheus API's base URL, e.g. http://prometheus:9090), which is not given",
            at("alerts:")
        ),
        format!(
            "{}: skills.relay: relay needs setting `to` (the bridged room, as connector:room), which is not given",
            at("relay:")
        ),
    ]
}

#[test]
fn config_validate_names_each_undeclared_or_missing_setting_at_its_place() {
    let bot = BotDir::new(&["hello", "alerts", "relay", "calc"], MISTAKES);
    let file = bot.config();
    let (status, out, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success(), "{out}{err}");
    for message in expected(&file) {
        assert!(
            err.lines().any(|l| l == format!("error: {message}")),
            "missing `{message}` in:\n{err}"
        );
    }
    assert!(
        err.contains("3 mistakes"),
        "all at once, nothing else:\n{err}"
    );
    assert!(!err.contains("calc"), "calc declares nothing:\n{err}");
    assert!(!err.contains("prometheus-token`"), "{err}");

    // Fixed, the same skills (and calc's own key) are valid.
    let fixed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("urll:", "url:")
        .replace("  relay:\n", "  relay:\n    to: shell:ops\n");
    bot.write_config(&fixed);
    let (status, out, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(status.success(), "{out}{err}");
    assert!(out.contains("valid ("), "{out}");
}

/// Start-up says the same words of each mistake, drops the two skills
/// (as for any skill that fails to load) and serves the rest.
#[test]
fn start_up_refuses_the_same_settings_with_the_same_words() {
    let bot = BotDir::new(&["hello", "alerts", "relay", "calc"], MISTAKES);
    let file = bot.config();
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(run.ask("calc 6*7"), "42", "calc is not checked");
    let log = run.log();
    for message in expected(&file) {
        assert!(log.contains(&message), "missing `{message}` in:\n{log}");
    }
    assert!(log.contains("alerts failed to load"), "{log}");
    assert!(log.contains("relay failed to load"), "{log}");
    assert!(!log.contains("calc failed"), "{log}");
    run.say("alerts");
    assert!(
        run.try_answer(std::time::Duration::from_secs(1))
            .is_none_or(|a| !a.contains("Prometheus")),
        "alerts is not serving"
    );
}

/// A new file whose declared settings do not fit the configuration is a
/// failed load: the version serving stays, and `reload` says why.
#[test]
fn a_new_file_whose_settings_do_not_fit_leaves_the_old_one_serving() {
    let bot = BotDir::new(
        &[],
        "skills:\n  probe:\n    pattern: '^probe (?P<x>\\w+)$'\n    reply: yes\n",
    );
    bot.install("configured", "probe");
    let mut run = bot.start();
    assert_eq!(run.ask("probe one"), "yes one");
    // `relay` reads only `to` (required): `pattern` and `reply` are not its.
    bot.install("relay", "probe");
    run.wait_for_log("probe failed to load, 0.1.0 still serving");
    let (line, col) = place(&bot.config(), "pattern:");
    let log = run.log();
    assert!(
        log.contains(&format!(
            "{}:{line}:{col}: skills.probe.pattern: probe has no setting `pattern`; it declares: to",
            bot.config().display()
        )),
        "{log}"
    );
    assert!(log.contains("probe needs setting `to`"), "{log}");
    assert_eq!(run.ask("probe two"), "yes two", "the old version serves");
}

fn runtime(dir: &Path) -> Runtime {
    let services = Services {
        memory: Arc::new(SqliteMemory::open(&dir.join("memory.db")).unwrap()),
        responses: Arc::new(Outboxes::default()),
    };
    Runtime::new(Options::default(), services).unwrap()
}

/// What a Rust skill declares with the SDK (`Setting::new("url").help(…)
/// .required()`) reaches the bot's manifest as written; a component
/// without the export (the C `calc`, built against world `skill`) declares
/// nothing and loads as before (the bot's own tests of `table`, of world
/// `skill-sync`, are in `languages`).
#[tokio::test]
async fn declared_settings_reach_the_manifest_and_their_absence_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime(dir.path());
    let mut reminder = SkillSource::new("reminder", skill_wasm("reminder"));
    reminder.settings.insert("room".into(), "shell:ops".into());
    let loaded = runtime.load(reminder).await.unwrap();
    let declared = |name: &str, help: &str, required| SettingSpec {
        name: name.into(),
        help: help.into(),
        required,
    };
    assert_eq!(
        loaded.manifest.settings,
        Some(vec![
            declared("room", "where to post, as connector:room", true),
            declared("text", "what to post", false),
            declared(
                "schedule",
                "a crontab expression [default: 0 9 * * MON-FRI]",
                false
            ),
            declared("timezone", "an IANA zone [default: Europe/Paris]", false),
        ])
    );
    // A skill that keeps the SDK's default declares nothing either.
    let hello = runtime
        .load(SkillSource::new("hello", skill_wasm("hello")))
        .await
        .unwrap();
    assert_eq!(hello.manifest.settings, None);
    let mut calc = SkillSource::new("calc", skill_wasm("calc"));
    calc.settings.insert("anything".into(), 1.into());
    let loaded = runtime.load(calc).await.unwrap();
    assert_eq!(loaded.manifest.settings, None);
}

/// A C skill declares its settings as docs/skills/index.md says (world
/// `skill-with-settings`, `exports_skill_with_settings_settings`): the
/// same checks as for Rust, and it reads what the configuration gives.
#[test]
fn a_c_skill_declares_its_settings_too() {
    let bot = BotDir::new(&["greet"], "skills:\n  greet:\n    greting: Bonjour\n");
    let file = bot.config();
    let (status, _, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success());
    let (line, col) = place(&file, "greting:");
    assert!(
        err.contains(&format!(
            "{}:{line}:{col}: skills.greet.greting: greet has no setting `greting` (did you mean `greeting`?); it declares: greeting, punctuation",
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("greet needs setting `greeting` (what to say before the name, e.g. Bonjour), which is not given"),
        "{err}"
    );
    let fixed = std::fs::read_to_string(&file).unwrap().replace(
        "greting: Bonjour",
        "greeting: Bonjour\n    punctuation: '!'",
    );
    bot.write_config(&fixed);
    let (status, out, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(status.success(), "{out}{err}");
    let mut run = bot.start();
    assert_eq!(run.ask("greet"), "Bonjour, alice!");
}
