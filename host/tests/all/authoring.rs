//! For skill authors: `sandbot skill new`, `build` and `test`, each language
//! from an empty folder to a skill answering, and the conversation harness.

use crate::common::{BotDir, HttpServer, sandbot};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `sandbot ARGS` in `dir` with extra environment: (success, stdout + stderr).
fn sandbot_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Rust builds share a target folder across test runs, as a user's would
/// stay warm across builds.
fn rust_target() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/scaffold-test")
        .display()
        .to_string()
}

#[test]
fn a_rust_skill_goes_from_new_to_an_answer_in_chat() {
    let work = tempfile::tempdir().unwrap();
    let bot = BotDir::new(&[], "");
    let started = Instant::now();
    let (ok, out) = sandbot_in(
        work.path(),
        &["skill", "new", "--lang", "rust", "ping"],
        &[],
    );
    assert!(ok, "{out}");
    let project = work.path().join("ping");
    // It stands alone: the SDK and the WIT are in it, nothing points into
    // this checkout, and its lock holds the versions the bot was built with.
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        manifest.contains("sandbot-sdk = { path = \"sandbot-sdk\" }")
            && !manifest.contains(checkout.to_str().unwrap()),
        "{manifest}"
    );
    assert!(project.join("sandbot-sdk/src/lib.rs").is_file());
    assert!(project.join("wit/worlds.wit").is_file());
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    let ours = std::fs::read_to_string(checkout.join("Cargo.lock")).unwrap();
    let version_of = |lock: &str, name: &str| {
        let at = lock.find(&format!("name = \"{name}\"\n"))?;
        lock[at..].lines().nth(1).map(str::to_owned)
    };
    for name in ["wit-bindgen", "serde", "serde_json"] {
        assert_eq!(
            version_of(&lock, name),
            version_of(&ours, name),
            "{name}: the project's lock and the bot's differ"
        );
    }
    let skills = bot.path().join("skills");
    // Offline and locked: the first build resolves nothing.
    let (ok, out) = sandbot_in(
        &project,
        &["skill", "build", "--install", skills.to_str().unwrap()],
        &[
            ("CARGO_TARGET_DIR", &rust_target()),
            ("CARGO_NET_OFFLINE", "true"),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(project.join("Cargo.lock")).unwrap(),
        lock,
        "the build changed the lock"
    );
    let mut run = bot.start();
    assert_eq!(run.ask("ping"), "Hello from ping, alice");
    println!("skill new → answer in chat: {:?}", started.elapsed());

    let (ok, out) = sandbot_in(&project, &["skill", "test", "ping.wasm", "cases.yaml"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");
    let (_, status, _) = run.finish();
    assert!(status.success());

    // The project's own `cargo test` has the same conversation through
    // skills-sdk's harness.
    let out = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(&project)
        .env("SANDBOT", env!("CARGO_BIN_EXE_sandbot"))
        .env("CARGO_TARGET_DIR", rust_target())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned()
        + String::from_utf8_lossy(&out.stderr).as_ref();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn python_javascript_and_c_projects_build_and_pass_their_cases() {
    let work = tempfile::tempdir().unwrap();
    for lang in ["python", "js", "c"] {
        let name = format!("hi-{lang}");
        let (ok, out) = sandbot_in(work.path(), &["skill", "new", "--lang", lang, &name], &[]);
        assert!(ok, "{out}");
        let project = work.path().join(&name);
        let started = Instant::now();
        let (ok, out) = sandbot_in(&project, &["skill", "build"], &[]);
        assert!(ok, "{lang}: {out}");
        // The toolchains `make lang-toolchains` installed pass for installed.
        assert!(!out.contains("installing"), "{lang}: {out}");
        println!("{lang}: built in {:?}", started.elapsed());
        let wasm = format!("{name}.wasm");
        let (ok, out) = sandbot_in(&project, &["skill", "test", &wasm, "cases.yaml"], &[]);
        assert!(ok, "{lang}: {out}");
        assert!(out.contains("3 passed, 0 failed"), "{lang}: {out}");
    }
}

#[test]
fn a_folder_that_is_not_a_project_and_a_bad_name_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let (ok, out) = sandbot_in(work.path(), &["skill", "build"], &[]);
    assert!(!ok);
    assert!(out.contains("is not a skill project"), "{out}");
    let (ok, out) = sandbot_in(
        work.path(),
        &["skill", "new", "--lang", "c", "Bad_Name"],
        &[],
    );
    assert!(!ok);
    assert!(out.contains("`Bad_Name` is not a skill name"), "{out}");
}

/// The wheel of componentize-py that `make lang-toolchains` keeps, so that
/// pip installs it with no index: nothing goes to PyPI.
fn wheelhouse() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/wheels");
    assert!(
        dir.join(".componentize-py-0.25.1").is_file(),
        "{} has no componentize-py wheel: run `make lang-toolchains`",
        dir.display()
    );
    dir.display().to_string()
}

/// How many times OUT announces installing WHAT.
fn installs(out: &str, what: &str) -> usize {
    out.matches(&format!("installing {what} into ")).count()
}

/// `skill build` installs a missing Python toolchain on first use, once
/// however many start it at once (a build and `skill toolchain` here),
/// and not again; a failed install says
/// what failed and how to do it by hand, and leaves nothing that passes for
/// installed.
#[test]
fn a_python_build_installs_its_toolchain_on_first_use_once() {
    let work = tempfile::tempdir().unwrap();
    let toolchains = work.path().join("toolchains");
    let empty = work.path().join("no-wheels");
    std::fs::create_dir(&empty).unwrap();
    let (ok, out) = sandbot_in(
        work.path(),
        &["skill", "new", "--lang", "python", "py-one"],
        &[],
    );
    assert!(ok, "{out}");
    let offline = |wheels: &str| -> Vec<(String, String)> {
        vec![
            (
                "SANDBOT_TOOLCHAINS".into(),
                toolchains.display().to_string(),
            ),
            ("PIP_NO_INDEX".into(), "1".into()),
            ("PIP_FIND_LINKS".into(), wheels.into()),
        ]
    };
    let build = |name: &str, env: &[(String, String)]| {
        Command::new(env!("CARGO_BIN_EXE_sandbot"))
            .args(["skill", "build"])
            .current_dir(work.path().join(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).into_owned()
            + String::from_utf8_lossy(&o.stderr).as_ref()
    };

    // No wheel to install from: the error names the tool, the folder and
    // the command that installs it by hand, and no stamp is left.
    let venv = toolchains.join("python");
    let out = build("py-one", &offline(empty.to_str().unwrap()));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "installing componentize-py 0.25.1 into {} failed: `pip install` failed",
            venv.display()
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "to install it by hand: python3 -m venv {v} && {v}/bin/pip install componentize-py==0.25.1",
            v = venv.display()
        )),
        "{said}"
    );
    assert!(!venv.join(".componentize-py-0.25.1").exists());

    // With the wheel: a build and an install ahead of time (the same
    // install, without a second componentize) at once: one install, and
    // the build builds.
    let env = offline(&wheelhouse());
    let started = Instant::now();
    let (one, two) = std::thread::scope(|s| {
        let one = s.spawn(|| build("py-one", &env));
        let two = s.spawn(|| {
            Command::new(env!("CARGO_BIN_EXE_sandbot"))
                .args(["skill", "toolchain", "python"])
                .current_dir(work.path())
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .unwrap()
        });
        (one.join().unwrap(), two.join().unwrap())
    });
    println!(
        "a first build and an install at once: {:?}",
        started.elapsed()
    );
    assert!(two.status.success(), "{}", text(&two));
    let (one, two) = (text(&one), text(&two));
    assert!(one.contains("built "), "{one}\n---\n{two}");
    assert_eq!(
        installs(&one, "componentize-py 0.25.1") + installs(&two, "componentize-py 0.25.1"),
        1,
        "{one}\n---\n{two}"
    );
    // Announced, then pip's own output shown.
    let both = format!("{one}{two}");
    assert!(
        both.contains(&format!(
            "installing componentize-py 0.25.1 into {} (first use; pip",
            venv.display()
        )) && both.contains("Successfully installed componentize-py-0.25.1"),
        "{both}"
    );
    let (ok, out) = sandbot_in(
        &work.path().join("py-one"),
        &["skill", "test", "py-one.wasm", "cases.yaml"],
        &[],
    );
    assert!(ok && out.contains("3 passed, 0 failed"), "{out}");

    // Installed: the next build installs nothing.
    let out = build("py-one", &env);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("installing"), "{said}");
    // `skill toolchain` says where it is, and installs nothing either.
    let (ok, out) = sandbot_in(
        work.path(),
        &["skill", "toolchain", "python"],
        &[("SANDBOT_TOOLCHAINS", toolchains.to_str().unwrap())],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out,
        format!(
            "componentize-py 0.25.1: {}\n",
            venv.join("bin/componentize-py").display()
        )
    );
}

/// The same for JavaScript, with npm offline against its cache (which
/// `make lang-toolchains` filled): a failed install (an empty cache) leaves
/// nothing that passes for installed; the retry installs and builds, and
/// the next build installs nothing.
#[test]
fn a_javascript_build_installs_its_toolchain_on_first_use() {
    let work = tempfile::tempdir().unwrap();
    let toolchains = work.path().join("toolchains");
    let (ok, out) = sandbot_in(work.path(), &["skill", "new", "--lang", "js", "hi-js"], &[]);
    assert!(ok, "{out}");
    let project = work.path().join("hi-js");
    let toolchains_env = toolchains.display().to_string();
    let empty_cache = work.path().join("empty-npm-cache").display().to_string();
    let js = toolchains.join("js");

    let (ok, out) = sandbot_in(
        &project,
        &["skill", "build"],
        &[
            ("SANDBOT_TOOLCHAINS", &toolchains_env),
            ("npm_config_offline", "true"),
            ("npm_config_cache", &empty_cache),
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "installing componentize-js 0.23.0, jco 1.35.0, preview2-shim 0.25.0 into {} failed: `npm install` failed",
            js.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "to install it by hand: cd {} && npm install",
            js.display()
        )),
        "{out}"
    );
    assert!(!js.join(".installed").exists());

    let offline = [
        ("SANDBOT_TOOLCHAINS", toolchains_env.as_str()),
        ("npm_config_offline", "true"),
    ];
    let started = Instant::now();
    let (ok, out) = sandbot_in(&project, &["skill", "build"], &offline);
    assert!(ok, "{out}");
    println!("first build, with the install: {:?}", started.elapsed());
    assert_eq!(
        installs(
            &out,
            "componentize-js 0.23.0, jco 1.35.0, preview2-shim 0.25.0"
        ),
        1,
        "{out}"
    );
    let (ok, out) = sandbot_in(
        &project,
        &["skill", "test", "hi-js.wasm", "cases.yaml"],
        &[],
    );
    assert!(ok && out.contains("3 passed, 0 failed"), "{out}");

    let (ok, out) = sandbot_in(&project, &["skill", "build"], &offline);
    assert!(ok, "{out}");
    assert!(!out.contains("installing"), "{out}");
}

/// `--install` with a folder that does not exist is refused before the
/// build, and the folder is not made (a bot watches the one it names).
#[test]
fn install_into_a_folder_that_does_not_exist_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (ok, _) = sandbot_in(work.path(), &["skill", "new", "--lang", "c", "tiny"], &[]);
    assert!(ok);
    let typo = work.path().join("typo/skills");
    let (ok, out) = sandbot_in(
        &work.path().join("tiny"),
        &["skill", "build", "--install", typo.to_str().unwrap()],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("--install {}: no such folder", typo.display())),
        "{out}"
    );
    assert!(!out.contains("installed"), "{out}");
    assert!(!work.path().join("typo").exists(), "the folder was made");
}

/// `sandbot skill test WASM CASES`: (exit status, stdout, stderr).
fn skill_test(wasm: &Path, cases: &Path) -> (std::process::ExitStatus, String, String) {
    sandbot(&[
        "skill",
        "test",
        wasm.to_str().unwrap(),
        cases.to_str().unwrap(),
    ])
}

#[test]
fn a_failing_case_is_reported_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n  - say: hello\n    expect: Hello alice\n  - say: hi\n    user: bob\n    expect: Hi alice\n  - say: nothing here\n    expect: []\n",
    )
    .unwrap();
    let wasm = crate::common::skill_wasm("hello");
    let (status, out, err) = skill_test(&wasm, &cases);
    assert!(!status.success());
    assert!(out.contains("  ok    1 hello"), "{out}");
    assert!(
        out.contains(r#"  FAIL  2 hi: expected ["Hi alice"], got ["Hi bob"]"#),
        "{out}"
    );
    assert!(out.contains("2 passed, 1 failed"), "{out}");
    assert!(err.contains("cases.yaml failed"), "{err}");

    std::fs::write(&cases, "cases:\n  - say: hello\n    expct: Hello\n").unwrap();
    let (status, _, err) = skill_test(&wasm, &cases);
    assert!(!status.success());
    assert!(
        err.contains("cases.yaml:3:5: cases[0]: unknown field `expct`"),
        "{err}"
    );
}

#[test]
fn cases_preset_memory_settings_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    // The Python `remember` skill, with a fact already in its memory.
    std::fs::write(
        &cases,
        "memory:\n  \"fact:the wifi password\": hunter2\ncases:\n  - say: what is the wifi password?\n    expect: the wifi password is hunter2\n  - say: forget the wifi password\n    expect-match: ^OK, I forgot\n  - say: what is the wifi password?\n    expect: I don't know what the wifi password is\n",
    )
    .unwrap();
    let wasm = crate::common::skill_wasm("remember");
    let (status, out, err) = skill_test(&wasm, &cases);
    assert!(status.success(), "{out}{err}");

    // `alerts`, with its `url` setting and an HTTP grant for a loopback API.
    let api = HttpServer::start(
        200,
        "application/json",
        br#"{"data":{"alerts":[{"labels":{"alertname":"Down"},"state":"firing"}]}}"#.to_vec(),
    );
    std::fs::write(
        &cases,
        format!(
            "settings:\n  url: http://127.0.0.1:{p}\nallow:\n  http: [\"http://127.0.0.1:{p}\"]\ncases:\n  - say: alerts\n    expect: [\"1 alert firing:\\n• Down\"]\n",
            p = api.port
        ),
    )
    .unwrap();
    let wasm = crate::common::skill_wasm("alerts");
    let (status, out, err) = skill_test(&wasm, &cases);
    assert!(status.success(), "{out}{err}");
    assert_eq!(api.requests().len(), 1);
}
