//! Conversations with your skill from `cargo test`, the way
//! `sandbot skill test` runs them: the skill is built for wasm32-wasip2 and
//! loaded by the real bot (found as `$SANDBOT` or `sandbot` on PATH).
//!
//! ```ignore
//! #[test]
//! fn greets() {
//!     sandbot_sdk::conversation!()
//!         .say("hello")
//!         .expect("Hello alice")
//!         .say("hello there")
//!         .expect_nothing()
//!         .run();
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// A conversation for this crate's skill: `sandbot_sdk::conversation!()`.
#[macro_export]
macro_rules! conversation {
    () => {
        $crate::testing::Conversation::of_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
    };
}

enum Skill {
    /// Build this crate first.
    Crate {
        dir: PathBuf,
        package: String,
    },
    Wasm(PathBuf),
}

struct Case {
    say: String,
    user: Option<String>,
    expect: Vec<String>,
    expect_match: Vec<String>,
}

pub struct Conversation {
    skill: Skill,
    user: String,
    settings: Vec<(String, String)>,
    memory: Vec<(String, String)>,
    cases: Vec<Case>,
}

impl Conversation {
    pub fn of_crate(manifest_dir: &str, package: &str) -> Self {
        Self::new(Skill::Crate {
            dir: PathBuf::from(manifest_dir),
            package: package.to_owned(),
        })
    }

    /// A conversation with an already built component.
    pub fn of_wasm(path: impl Into<PathBuf>) -> Self {
        Self::new(Skill::Wasm(path.into()))
    }

    fn new(skill: Skill) -> Self {
        Conversation {
            skill,
            user: "alice".into(),
            settings: Vec::new(),
            memory: Vec::new(),
            cases: Vec::new(),
        }
    }

    /// Who speaks [default: alice].
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    /// One of the skill's own settings, as configuration.yaml would give it.
    pub fn setting(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// A value in the skill's memory before the conversation starts.
    pub fn memory(mut self, key: &str, value: &str) -> Self {
        self.memory.push((key.into(), value.into()));
        self
    }

    /// A message to the bot; the `expect`s after it are its answers.
    pub fn say(mut self, text: &str) -> Self {
        self.cases.push(Case {
            say: text.into(),
            user: None,
            expect: Vec::new(),
            expect_match: Vec::new(),
        });
        self
    }

    /// Said by someone else than [`Conversation::user`].
    pub fn as_user(mut self, user: &str) -> Self {
        self.last().user = Some(user.into());
        self
    }

    /// The next answer, exactly.
    pub fn expect(mut self, text: &str) -> Self {
        self.last().expect.push(text.into());
        self
    }

    /// The next answer matches this regex.
    pub fn expect_match(mut self, regex: &str) -> Self {
        self.last().expect_match.push(regex.into());
        self
    }

    /// No answer at all.
    pub fn expect_nothing(mut self) -> Self {
        let case = self.last();
        case.expect.clear();
        case.expect_match.clear();
        self
    }

    fn last(&mut self) -> &mut Case {
        self.cases
            .last_mut()
            .expect("`say` something before what you expect")
    }

    /// Runs it; panics with the bot's report if an answer differs.
    pub fn run(self) {
        let wasm = match &self.skill {
            Skill::Wasm(p) => p.clone(),
            Skill::Crate { dir, package } => build(dir, package),
        };
        let dir = std::env::temp_dir().join(format!(
            "sandbot-conversation-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let cases = dir.join("cases.yaml");
        std::fs::write(&cases, self.script()).expect("writing the cases");
        let sandbot = std::env::var_os("SANDBOT").unwrap_or_else(|| "sandbot".into());
        let out = Command::new(&sandbot)
            .args(["skill", "test"])
            .arg(&wasm)
            .arg(&cases)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{}` ({e}): put sandbot on PATH or set SANDBOT=/path/to/sandbot",
                    sandbot.to_string_lossy()
                )
            });
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the conversation failed:\n{stdout}\n{stderr}"
        );
    }

    /// The script as JSON, which YAML reads as it is.
    fn script(&self) -> String {
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(k, v)| format!("{}: {}", json(k), json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let list = |v: &[String]| v.iter().map(|s| json(s)).collect::<Vec<_>>().join(", ");
        let cases: Vec<String> = self
            .cases
            .iter()
            .map(|c| {
                let who = c.user.as_ref().map(|u| format!(", \"user\": {}", json(u)));
                let expectation = if c.expect_match.is_empty() {
                    format!("\"expect\": [{}]", list(&c.expect))
                } else {
                    format!("\"expect-match\": [{}]", list(&c.expect_match))
                };
                format!(
                    "{{\"say\": {}{}, {expectation}}}",
                    json(&c.say),
                    who.unwrap_or_default()
                )
            })
            .collect();
        format!(
            "{{\"user\": {}, \"settings\": {{{}}}, \"memory\": {{{}}}, \"cases\": [{}]}}\n",
            json(&self.user),
            pairs(&self.settings),
            pairs(&self.memory),
            cases.join(",\n ")
        )
    }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds the crate for wasm32-wasip2 in a target folder of its own, so the
/// `cargo test` that runs this keeps its lock on the usual one.
fn build(dir: &Path, package: &str) -> PathBuf {
    let target = dir.join("target/sandbot-test");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(dir)
        .status()
        .expect("running cargo");
    assert!(
        status.success(),
        "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
