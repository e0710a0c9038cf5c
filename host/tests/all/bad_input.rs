//! Broken configuration and broken skills: a clear error naming the file
//! (and line), the bot refusing to start on bad config and staying up for
//! bad skills.

use crate::common::{BotDir, sandbot};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn malformed_yaml_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "configuration.yaml",
        "connectors:\n  shell: {}\nadmins: [alice\nskills: {}\n",
    );
    let (status, _, err) = sandbot(&["config", "validate", "-c", &file]);
    assert!(!status.success());
    assert!(err.contains(&format!("{file}:4:7: did not find expected ',' or ']', while parsing a flow sequence at line 3 column 9")), "{err}");

    let (status, out, err) = sandbot(&["start", "-c", &file]);
    assert!(
        !status.success(),
        "the bot must not start on a broken configuration"
    );
    assert!(out.is_empty());
    assert!(err.contains(&format!("{file}:4:7")), "{err}");
}

#[test]
fn unknown_keys_and_wrong_types_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "c.yaml",
        "connectors:\n  shell: {}\n  shel: {}\n",
    );
    let (status, _, err) = sandbot(&["config", "validate", "-c", &file]);
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{file}:3:9: connectors.shel: there is no connector type `shel`: give connector `shel` a `type:`, one of shell, tcp"
        )),
        "{err}"
    );

    let file = write(
        dir.path(),
        "d.yaml",
        "skills:\n  hello:\n    limits:\n      memory: lots\n",
    );
    let (status, _, err) = sandbot(&["start", "-c", &file]);
    assert!(!status.success());
    assert!(err.contains(&format!("{file}:4:15: skills.hello.limits.memory: invalid value: string \"lots\", expected a size such as 64MiB")), "{err}");

    let file = write(
        dir.path(),
        "e.yaml",
        "skills:\n  hello:\n    no_cache: true\n",
    );
    let (status, _, err) = sandbot(&["config", "validate", "-c", &file]);
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{file}:3:5: skills.hello: unknown setting `no_cache`: did you mean `no-cache`?"
        )),
        "{err}"
    );
}

#[test]
fn an_unset_environment_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.yaml", "admins: [${SANDBOT_TEST_NOT_SET}]\n");
    let (status, _, err) = sandbot(&["config", "validate", "-c", &file]);
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{file}:1:10: environment variable `SANDBOT_TEST_NOT_SET` is not set"
        )),
        "{err}"
    );
}

#[test]
fn a_good_configuration_validates() {
    let bot = BotDir::new(&["hello"], "skills:\n  hello: {}\n  missing: {}\n");
    let (status, out, err) = sandbot(&["config", "validate", "-c", bot.config().to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert!(
        out.contains("valid (1 connector, 2 configured skills, 0 workflows)"),
        "{out}"
    );
    assert!(
        out.contains("skill `missing`:") && out.contains("does not exist yet"),
        "{out}"
    );
}

#[test]
fn the_repositorys_default_configuration_validates() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../configuration.yaml");
    let (status, out, err) = sandbot(&["config", "validate", "-c", file]);
    assert!(status.success(), "{err}");
    assert!(
        out.contains("valid (2 connectors, 9 configured skills, "),
        "{out}"
    );
}

#[test]
fn bad_skills_are_reported_and_the_bot_stays_up() {
    let bot = BotDir::new(&["hello", "wrong-world", "unknown-import"], "");
    let skills = bot.path().join("skills");
    std::fs::write(
        skills.join("garbage.wasm"),
        b"this is not webassembly at all",
    )
    .unwrap();
    std::fs::write(skills.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let hello = std::fs::read(crate::common::skill_wasm("hello")).unwrap();
    std::fs::write(skills.join("truncated.wasm"), &hello[..hello.len() / 3]).unwrap();

    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let expect = |file: &str, why: &str| {
        let needle = format!("{}: {why}", skills.join(file).display());
        assert!(
            log.contains(&needle),
            "expected `{needle}` in the log:\n{log}"
        );
    };
    expect("garbage.wasm", "it is not a WebAssembly file");
    expect(
        "core.wasm",
        "it is a core WebAssembly module, not a component",
    );
    expect("truncated.wasm", "it does not compile");
    expect("wrong-world.wasm", "it is not a sandbot skill");
    expect(
        "unknown-import.wasm",
        "it needs something the bot does not provide",
    );
    assert!(
        log.contains("`acme:tools/deploy`"),
        "the import is named:\n{log}"
    );
    assert!(
        log.contains("this one exports `wasi:cli/run@0.2.0`"),
        "{log}"
    );
    assert_eq!(
        log.matches("garbage failed to load").count(),
        1,
        "reported once, not in a loop:\n{log}"
    );
}

/// `config validate` finds what start-up would, all at once: an alias
/// naming a matcher the skill lacks and an unknown time zone (which once
/// passed as "valid" and then dropped their skills at start), each at its
/// skill's line; start-up says the same of each; a misspelt key is
/// answered with the key it is nearest.
#[test]
fn config_validate_finds_every_mistake_start_up_would() {
    let bot = BotDir::new(
        &["hello", "deploy", "reminder"],
        "skills:\n  hello: {}\n  deploy:\n    aliases:\n      - format: \"roll {{app}}\"\n        matcher: nosuch\n  reminder:\n    room: shell:shell\n    text: hi\n    schedule: 55 8 * * MON-FRI\n    timezone: Europe/Pariss\n",
    );
    let file = bot.config();
    let (status, _, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success());
    let alias = "skill `deploy`: cannot load";
    let zone = "unknown time zone `Europe/Pariss`";
    assert!(
        err.contains(&format!("{}:8:3: {alias}", file.display()))
            && err.contains("names matcher `nosuch`, which the skill does not declare"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:12:3: skill `reminder`", file.display())) && err.contains(zone),
        "{err}"
    );
    assert!(err.contains("2 mistakes"), "{err}");
    // Start-up says the same of each, and hello still serves.
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    let log = run.log();
    assert!(
        log.contains("names matcher `nosuch`, which the skill does not declare"),
        "{log}"
    );
    assert!(log.contains(zone), "{log}");

    bot.write_config("conectors:\n  shell: {}\n");
    let (status, _, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains(":1:1: unknown field `conectors` (did you mean `connectors`?)"),
        "{err}"
    );
}
