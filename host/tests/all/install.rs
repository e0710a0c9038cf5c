//! The install recipes in docs/install/ hold: the systemd unit passes
//! `systemd-analyze verify` (when the machine has it) with the real binary
//! in its `ExecStart`, the container file's instructions are well formed and
//! copy only what the checkout and its build stage have, and the
//! configurations both run the bot on are valid (`sandbot config validate`).
//! No container runtime runs here, so the image itself is not built.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The tokens both configurations take from the environment.
const TOKENS: [&str; 2] = ["SANDBOT_WEB_TOKEN", "SANDBOT_ADMIN_TOKEN"];

/// `sandbot config validate -c <file>` with the tokens set (or not).
fn validate(config: &str, with_tokens: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbot"));
    command
        .args(["config", "validate", "-c"])
        .arg(repo().join(config));
    for (n, var) in TOKENS.iter().enumerate() {
        command.env_remove(var);
        if with_tokens {
            command.env(var, format!("token-{n}-0123456789abcdef"));
        }
    }
    command.output().expect("sandbot runs")
}

fn assert_valid(config: &str) {
    let out = validate(config, true);
    assert!(
        out.status.success(),
        "{config} is not valid:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without its secrets it refuses to start, naming the variable.
    let out = validate(config, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{config} is valid without its tokens"
    );
    assert!(
        stderr.contains("SANDBOT_WEB_TOKEN") || stderr.contains("SANDBOT_ADMIN_TOKEN"),
        "{config} without its tokens: {stderr}"
    );
}

/// What `systemd-analyze verify` says of a unit file (its status and every
/// line naming the file), or None when the machine has no systemd-analyze.
fn verify(unit: &str, dir: &Path) -> Option<(bool, Vec<String>)> {
    let path = dir.join("sandbot.service");
    std::fs::write(&path, unit).unwrap();
    let out = match Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("systemd-analyze: {e}"),
    };
    let said = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| l.contains("sandbot.service"))
        .map(str::to_owned)
        .collect();
    Some((out.status.success(), said))
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = read("docs/install/sandbot.service");
    let exec = "ExecStart=/usr/local/bin/sandbot start -c /etc/sandbot/configuration.yaml";
    assert!(unit.contains(exec), "the unit's ExecStart is not `{exec}`");
    assert!(
        read("docs/install.md").contains("/etc/sandbot/configuration.yaml"),
        "docs/install.md does not say where the unit's configuration goes"
    );
    // verify checks that the command exists: point it at this build's.
    let unit = unit.replace("/usr/local/bin/sandbot", env!("CARGO_BIN_EXE_sandbot"));
    let scratch = tempfile::tempdir().unwrap();
    let Some((ok, said)) = verify(&unit, scratch.path()) else {
        eprintln!("skipped: this machine has no systemd-analyze");
        return;
    };
    assert!(
        ok && said.is_empty(),
        "systemd-analyze verify: {}",
        said.join("\n")
    );
    // And it would tell: a mistake in the unit is reported.
    let broken = unit.replace("Type=exec", "Type=exce");
    let (_, said) = verify(&broken, scratch.path()).unwrap();
    assert!(
        said.iter().any(|l| l.contains("exce")),
        "a misspelt Type= went unnoticed: {said:?}"
    );
}

#[test]
fn the_service_configuration_is_valid() {
    assert_valid("docs/install/service.yaml");
}

/// One instruction of a container file: its keyword, its arguments, and
/// its line (continuations joined).
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        let continued = line.ends_with('\\');
        joined.push_str(line.trim_end_matches('\\').trim());
        joined.push(' ');
        if continued {
            pending = Some((start, joined));
            continue;
        }
        let joined = joined.trim();
        let (keyword, args) = joined.split_once(' ').unwrap_or((joined, ""));
        out.push(Instruction {
            line: start,
            keyword: keyword.to_owned(),
            args: args.trim().to_owned(),
        });
    }
    assert!(pending.is_none(), "the file ends inside a continued line");
    out
}

/// `--from=x --chown=a:b src dst` → (from, [src..], dst).
fn copy_args(args: &str) -> (Option<String>, Vec<String>, String) {
    let mut from = None;
    let mut paths = Vec::new();
    for word in args.split_whitespace() {
        if let Some(stage) = word.strip_prefix("--from=") {
            from = Some(stage.to_owned());
        } else if !word.starts_with("--") {
            paths.push(word.to_owned());
        }
    }
    let dst = paths.pop().expect("COPY has a destination");
    (from, paths, dst)
}

#[test]
fn the_container_file_copies_only_what_the_checkout_and_its_build_have() {
    const KNOWN: [&str; 18] = [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
    ];
    let file = instructions(&read("docs/install/Containerfile"));
    let at = |i: &Instruction| format!("docs/install/Containerfile:{}", i.line);
    assert_eq!(
        file.first().map(|i| i.keyword.as_str()),
        Some("FROM"),
        "a container file starts FROM an image"
    );
    let mut stages: Vec<String> = Vec::new();
    let mut copied_to: Vec<(String, String)> = Vec::new();
    let (mut entrypoint, mut cmd) = (Vec::new(), Vec::new());
    let mut build_runs = String::new();
    for i in &file {
        assert!(
            KNOWN.contains(&i.keyword.as_str()),
            "{}: unknown instruction `{}`",
            at(i),
            i.keyword
        );
        match i.keyword.as_str() {
            "FROM" => {
                let words: Vec<&str> = i.args.split_whitespace().collect();
                let image = words[0];
                assert!(
                    image.contains(':') && !image.ends_with(":latest"),
                    "{}: pin the image's tag ({image})",
                    at(i)
                );
                match words[1..] {
                    [] => stages.push(String::new()),
                    [as_, name] if as_.eq_ignore_ascii_case("as") => stages.push(name.to_owned()),
                    _ => panic!("{}: FROM image [AS name]", at(i)),
                }
            }
            "RUN" if stages.len() == 1 => build_runs.push_str(&i.args),
            "COPY" => {
                let (from, sources, dst) = copy_args(&i.args);
                match from {
                    Some(stage) => {
                        assert!(
                            stages[..stages.len() - 1].contains(&stage),
                            "{}: no earlier stage `{stage}`",
                            at(i)
                        );
                        for src in &sources {
                            // The build stage copies the checkout to /src and
                            // leaves there what its `make` targets make.
                            let inside = src.strip_prefix("/src/").unwrap_or_else(|| {
                                panic!("{}: {src} is not under the build's /src", at(i))
                            });
                            let made_by = match inside.trim_end_matches('/') {
                                "target/dist/sandbot" => "release",
                                "skills" => "install-skills",
                                other => panic!("{}: nothing in the build makes {other}", at(i)),
                            };
                            let makes = build_runs.split("&&").any(|step| {
                                let words: Vec<&str> = step.split_whitespace().collect();
                                words.first() == Some(&"make") && words.contains(&made_by)
                            });
                            assert!(
                                makes,
                                "{}: {src} needs `make {made_by}` in the build stage",
                                at(i)
                            );
                            assert!(
                                read("Makefile").contains(&format!("\n{made_by}:")),
                                "the Makefile has no `{made_by}` target"
                            );
                            copied_to.push((src.clone(), dst.clone()));
                        }
                    }
                    None => {
                        for src in &sources {
                            assert!(
                                src == "." || repo().join(src).exists(),
                                "{}: the checkout has no {src}",
                                at(i)
                            );
                            copied_to.push((src.clone(), dst.clone()));
                        }
                    }
                }
            }
            "ENTRYPOINT" => entrypoint = serde_json::from_str(&i.args).expect("exec form"),
            "CMD" => cmd = serde_json::from_str(&i.args).expect("exec form"),
            _ => {}
        }
    }
    assert_eq!(stages.len(), 2, "a build stage and what runs");
    let command: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    assert_eq!(
        command,
        [
            "/usr/local/bin/sandbot",
            "start",
            "-c",
            "/etc/sandbot/configuration.yaml"
        ],
        "what the image runs"
    );
    let source_of = |dst: &str| {
        copied_to
            .iter()
            .find(|(_, d)| d == dst)
            .map(|(s, _)| s.clone())
            .unwrap_or_else(|| panic!("nothing is copied to {dst}"))
    };
    assert_eq!(
        source_of("/usr/local/bin/sandbot"),
        "/src/target/dist/sandbot"
    );
    assert_eq!(
        source_of("/etc/sandbot/configuration.yaml"),
        "docs/install/container.yaml"
    );
    assert_valid("docs/install/container.yaml");
}
