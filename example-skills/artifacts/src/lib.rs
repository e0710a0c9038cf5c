//! Paths of the skills the bot's tests and benchmarks load, built by this
//! crate's build script: every Rust skill under `example-skills/` (compiled
//! once for wasm32-wasip2 into `target/skills/`), the hostile components
//! composed from them, and the Python, JavaScript and C skills, which
//! `lang_skill` builds on first use with the toolchains `make` installs.
//!
//! `foreach_hostile!` names every skill in `example-skills/hostile/` (and the
//! composed ones): the test suite expands it so that a hostile skill without
//! a test of its own does not compile.

include!(concat!(env!("OUT_DIR"), "/skills.rs"));

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The folder every built skill is in.
pub fn dir() -> &'static Path {
    Path::new(SKILLS_DIR)
}

/// A skill built by the build script, by its name (`hello`, `infinite-loop`).
pub fn path(name: &str) -> PathBuf {
    let path = dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is not built: the build script of sandbot-test-skills builds every Rust skill, and `lang_skill` the others",
        path.display()
    );
    path
}

/// A skill in Python (`remember`), JavaScript (`table`) or C (`calc`):
/// built with `example-skills/lang-skills.sh` the first time it is asked
/// for (which installs the toolchain into `target/toolchains/` if needed),
/// and again when its sources are newer than the built file.
pub fn lang_skill(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let (lang, _) = LANG_SKILLS
        .iter()
        .find(|(_, n)| *n == name)
        .unwrap_or_else(|| panic!("`{name}` is not a Python, JavaScript or C example skill"));
    let out = dir().join(format!("{name}.wasm"));
    let sources = Path::new(WORKSPACE)
        .join("example-skills")
        .join(lang)
        .join(name);
    if !out.is_file() || newer_than(&sources, &out) {
        let status =
            std::process::Command::new(Path::new(WORKSPACE).join("example-skills/lang-skills.sh"))
                .args(["build", lang, name])
                .current_dir(WORKSPACE)
                .status()
                .expect("running example-skills/lang-skills.sh");
        assert!(status.success(), "building {lang} skill `{name}` failed");
    }
    out
}

fn newer_than(sources: &Path, built: &Path) -> bool {
    let built = std::fs::metadata(built).and_then(|m| m.modified()).ok();
    std::fs::read_dir(sources)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok())
        .any(|t| built.is_none_or(|b| t > b))
}
