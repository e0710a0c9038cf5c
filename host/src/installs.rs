//! Installing a skill from a registry in chat (admins): `skill install
//! REF` pulls and checks it as `sandbot skill install` does (digests,
//! signature against `trust.keys`) and says what it asks for, installing
//! nothing; `yes N`, from the same admin within ten minutes, writes the
//! file, the configuration entry and `skills.lock`, then reloads, so the
//! skill answers at once with the grants approved. `skill update NAME`
//! follows the tag in `skills.lock` and says what changed (digest, grants
//! added and removed) before its `yes N` switches.

use crate::catalog::Catalog;
use crate::commands::{Asked, Entry, Handler, Reply, Who, word};
use crate::registry::{self, Fetched, Reference};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a `yes N` is waited for.
const WAIT: Duration = Duration::from_secs(600);
/// Installs waiting at once; the oldest goes when a new one would pass it.
const MAX_WAITING: usize = 16;

struct Waiting {
    connector: String,
    user_id: String,
    fetched: Fetched,
    /// An update of an installed skill, not a new one.
    update: bool,
    since: Instant,
}

struct Installs {
    catalog: Arc<Catalog>,
    waiting: Mutex<(u64, HashMap<u64, Waiting>)>,
}

#[derive(Clone, Copy)]
enum Kind {
    Install,
    Update,
    Yes,
}

struct Command {
    kind: Kind,
    installs: Arc<Installs>,
}

/// `skill install REF` and `yes N`, for the registry.
pub fn commands(catalog: Arc<Catalog>) -> Vec<Entry> {
    let installs = Arc::new(Installs {
        catalog,
        waiting: Mutex::default(),
    });
    let entry = |words, help, who, kind| Entry {
        words,
        help,
        who,
        handler: Arc::new(Command {
            kind,
            installs: installs.clone(),
        }),
    };
    vec![
        entry(
            &["skill"],
            "skill install HOST/NAME:TAG — install a skill from a registry, after showing what it asks for (admins only)",
            Who::Admins("install skills"),
            Kind::Install,
        ),
        entry(
            &["skill"],
            "skill update NAME — what changed since a registry skill was installed; `yes N` switches (admins only)",
            Who::Admins("update skills"),
            Kind::Update,
        ),
        entry(&["yes"], "", Who::Admins("confirm installs"), Kind::Yes),
    ]
}

impl Handler for Command {
    fn fits(&self, words: &[&str]) -> bool {
        match self.kind {
            Kind::Install => words.len() == 3 && word(words, 1).as_deref() == Some("install"),
            Kind::Update => words.len() == 3 && word(words, 1).as_deref() == Some("update"),
            Kind::Yes => words.len() == 2 && words[1].parse::<u64>().is_ok(),
        }
    }

    fn run<'a>(&'a self, asked: &'a Asked<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            Reply::Say(match self.kind {
                Kind::Install => self.installs.ask(asked).await,
                Kind::Update => self.installs.ask_update(asked).await,
                Kind::Yes => self.installs.confirm(asked).await,
            })
        })
    }
}

impl Installs {
    async fn ask(&self, asked: &Asked<'_>) -> String {
        let m = asked.message;
        let reference = match Reference::parse(asked.words[2]) {
            Ok(r) => r,
            Err(e) => return format!("⚠ {e}"),
        };
        let config = self.catalog.config();
        let fetched = match registry::fetch(&config, &reference).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(user = %m.user, reference = %reference, "skill install refused: {e:#}");
                return format!("⚠ not installed: {e:#}");
            }
        };
        if config.skills.contains_key(&fetched.name) {
            return format!(
                "⚠ skills.{} is already in the configuration: `sandbot skill update {}` updates it",
                fetched.name, fetched.name
            );
        }
        let signed = match &fetched.signed_by {
            Some(_) => "signed",
            None => "UNSIGNED, allowed for this registry",
        };
        let text = format!(
            "{} {} ({}@{}, {signed}) asks for: {}.",
            fetched.name,
            fetched.version_shown(),
            reference.repository_path(),
            &fetched.digest[..19],
            fetched.requests
        );
        let n = self.wait(m, fetched, false);
        tracing::info!(user = %m.user, reference = %reference, n, "skill install asked for in chat");
        format!("{text} Say `yes {n}` to install.")
    }

    /// Keeps `fetched` for a `yes N` from `m`'s sender; its N.
    fn wait(&self, m: &crate::event::Message, fetched: Fetched, update: bool) -> u64 {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let (next, map) = &mut *waiting;
        map.retain(|_, w| w.since.elapsed() < WAIT);
        if map.len() >= MAX_WAITING
            && let Some(oldest) = map.keys().min().copied()
        {
            map.remove(&oldest);
        }
        *next += 1;
        map.insert(
            *next,
            Waiting {
                connector: m.connector.clone(),
                user_id: m.user_id.clone(),
                fetched,
                update,
                since: Instant::now(),
            },
        );
        *next
    }

    /// `skill update NAME`: what its tag names now, and what changed.
    async fn ask_update(&self, asked: &Asked<'_>) -> String {
        let m = asked.message;
        let name = asked.words[2];
        let config = self.catalog.config();
        let lock_path = registry::lock_path(&config);
        let read =
            tokio::task::spawn_blocking(move || registry::lock::Lock::read(&lock_path)).await;
        let lock = match read {
            Ok(Ok(lock)) => lock,
            Ok(Err(e)) => return format!("⚠ {e:#}"),
            Err(e) => return format!("⚠ {e}"),
        };
        let Some(locked) = lock.skills.get(name) else {
            return format!(
                "⚠ {} was not installed from a registry (it is not in skills.lock)",
                crate::names::shown(name)
            );
        };
        let reference = match Reference::parse(&locked.reference) {
            Ok(r) if r.tag.is_some() => r,
            Ok(r) => {
                return format!(
                    "⚠ {name} was installed by digest ({r}): there is no tag to follow"
                );
            }
            Err(e) => return format!("⚠ skills.lock: {e}"),
        };
        let fetched = match registry::fetch(&config, &reference).await {
            Ok(f) => f,
            Err(e) => return format!("⚠ not updated: {e:#}"),
        };
        if fetched.digest == locked.digest {
            return format!("{name} is up to date ({reference}).");
        }
        if fetched.name != name {
            return format!(
                "⚠ {reference} is now a skill named {}, not {name}",
                fetched.name
            );
        }
        let changes = locked.requests.changes_to(&fetched.requests);
        let grants = if changes.is_empty() {
            "grants unchanged".to_owned()
        } else {
            format!("grants: {}", changes.join("; "))
        };
        let text = format!(
            "{name}: {}; {} -> {}; {grants}.",
            registry::version_change(locked.version.as_deref(), fetched.version.as_deref()),
            &locked.digest[..19],
            &fetched.digest[..19]
        );
        let n = self.wait(m, fetched, true);
        format!("{text} Say `yes {n}` to update.")
    }

    async fn confirm(&self, asked: &Asked<'_>) -> String {
        let m = asked.message;
        let n: u64 = asked.words[1].parse().unwrap_or(0);
        let taken = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let map = &mut waiting.1;
            match map.get(&n) {
                Some(w) if w.connector == m.connector && w.user_id == m.user_id => map.remove(&n),
                _ => None,
            }
        };
        let Some(w) = taken.filter(|w| w.since.elapsed() < WAIT) else {
            return format!("⚠ no install of yours waits for `yes {n}`");
        };
        let Some(path) = self.catalog.config().source.clone() else {
            return "⚠ this bot runs without a configuration file to write to".into();
        };
        let (fetched, update) = (w.fetched, w.update);
        let name = fetched.name.clone();
        let sha = fetched.sha256();
        let written = tokio::task::spawn_blocking(move || {
            if update {
                registry::install::update(&path, &fetched)
            } else {
                registry::install::apply(&path, &fetched)
            }
        })
        .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return format!("⚠ not installed: {e:#}"),
            Err(e) => return format!("⚠ not installed: {e}"),
        }
        tracing::info!(user = %m.user, skill = %name, sha256 = %sha, "skill installed in chat");
        let report = crate::builtins::reload(&self.catalog, m).await;
        let done = if update { "updated" } else { "installed" };
        format!("{done} {name} (sha256 {}…); {report}", &sha[..12])
    }
}
