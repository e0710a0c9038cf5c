//! The build respects people's time: `make test` right after `make run`
//! compiles only what tests add (the test targets and the dev-only crates),
//! never a second copy of a dependency `make run` already built. A
//! dev-dependency or a build-dependency that turns on one more feature of a
//! shared crate (wasmparser's `serde`, syn's `fold`, …) forks the graph, and
//! the fork rebuilds wasmtime and everything above it: ~200 crates, minutes
//! on two cores. Checked by comparing cargo's unit graphs of the two builds,
//! which cargo computes without building anything.
//!
//! `--unit-graph` is unstable; cargo's own test-suite switch for its channel
//! lets a stable cargo print it. If a future cargo refuses, the test says so
//! rather than passing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// One compiled unit as cargo plans it: package, target, mode, features and
/// the profile settings that change the output.
type Unit = (String, String, String, Vec<String>, String);

fn unit_graph(args: &[&str]) -> BTreeSet<Unit> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&workspace)
        .args(args)
        .args([
            "-p",
            "sandbot",
            "--locked",
            "--unit-graph",
            "-Z",
            "unstable-options",
        ])
        .env("__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS", "nightly")
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {args:?} --unit-graph failed (a cargo that no longer prints unit graphs \
         needs this check rewritten):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a unit graph");
    graph["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| {
            let mut profile = u["profile"].clone();
            // The profile's name differs (dev / test) where its settings do not.
            profile.as_object_mut().unwrap().remove("name");
            let pkg = u["pkg_id"].as_str().unwrap();
            let pkg = pkg.rsplit('#').next().unwrap_or(pkg).to_owned();
            let features = u["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (
                pkg,
                u["target"]["name"].as_str().unwrap().to_owned(),
                u["mode"].as_str().unwrap().to_owned(),
                features,
                profile.to_string(),
            )
        })
        .collect()
}

#[test]
fn the_test_build_reuses_every_unit_of_the_bots_build() {
    let run = unit_graph(&["build"]);
    let test = unit_graph(&["test", "--no-run"]);
    let rebuilt: Vec<String> = run
        .difference(&test)
        .map(|(pkg, target, mode, features, _)| {
            let twin = test
                .iter()
                .find(|(p, t, m, ..)| (p, t, m) == (pkg, target, mode))
                .map_or_else(|| "nothing".to_owned(), |u| format!("{:?}", u.3));
            format!("{pkg} ({target}, {mode}) built with {features:?}; the test build wants {twin}")
        })
        .collect();
    assert!(
        rebuilt.is_empty(),
        "`make test` after `make run` would build these again (a dev- or build-dependency \
         asks for other features; give it exactly the features the bot's build has):\n{}",
        rebuilt.join("\n")
    );
}
