//! Installing a skill from a registry in chat (admins): `skill install
//! REF` pulls and checks it as `sandbot skill install` does (digests,
//! signature against `trust.keys`) and says what it asks for, installing
//! nothing; `yes N`, from the same admin within ten minutes, writes the
//! file, the configuration entry and `skills.lock`, then reloads, so the
//! skill answers at once with the grants approved. `skill update NAME`
//! follows the tag in `skills.lock` and says what changed (digest, grants
//! added and removed) before its `yes N` switches. The console's install
//! routes stage and approve through the same [`Installs`].

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

/// The installs waiting for their `yes N`, and the bot they go into. One
/// for the bot: chat's commands and the console's install routes share it,
/// so an install the console stages is the same as one asked for in chat.
pub struct Installs {
    catalog: Arc<Catalog>,
    waiting: Mutex<(u64, HashMap<u64, Waiting>)>,
}

/// Who asks (and whose approval alone counts): a connector's user.
pub struct Asker<'a> {
    pub connector: &'a str,
    pub user_id: &'a str,
    /// How the log names them.
    pub user: &'a str,
}

impl<'a> Asker<'a> {
    fn of(m: &'a crate::event::Message) -> Asker<'a> {
        Asker {
            connector: &m.connector,
            user_id: &m.user_id,
            user: &m.user,
        }
    }
}

/// A skill pulled and checked, waiting for its approval under `id`.
pub struct Pending {
    pub id: u64,
    pub name: String,
    pub version: Option<String>,
    /// `host/repo` and the manifest digest it resolved to.
    pub repository: String,
    pub digest: String,
    /// The trusted key file that verified it; `None`: unsigned, allowed.
    pub signed_by: Option<String>,
    pub requests: registry::Requests,
}

/// What an approval did.
pub struct Approved {
    pub name: String,
    pub sha256: String,
    pub update: bool,
    /// The reload's report.
    pub reload: String,
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

impl Installs {
    pub fn new(catalog: Arc<Catalog>) -> Arc<Installs> {
        Arc::new(Installs {
            catalog,
            waiting: Mutex::default(),
        })
    }

    /// `skill install REF`, `skill update NAME` and `yes N`.
    pub fn commands(self: &Arc<Self>) -> Vec<Entry> {
        let entry = |words, help, who, kind| Entry {
            words,
            help,
            who,
            handler: Arc::new(Command {
                kind,
                installs: self.clone(),
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
    /// `skill install REF` in chat: [`Installs::stage`], said in a line.
    async fn ask(&self, asked: &Asked<'_>) -> String {
        let pending = match self.stage(asked.words[2], &Asker::of(asked.message)).await {
            Ok(p) => p,
            Err(e) => return format!("⚠ {e}"),
        };
        let signed = match &pending.signed_by {
            Some(_) => "signed",
            None => "UNSIGNED, allowed for this registry",
        };
        format!(
            "{} {} ({}@{}, {signed}) asks for: {}. Say `yes {}` to install.",
            pending.name,
            registry::shown_version(pending.version.as_deref()),
            pending.repository,
            &pending.digest[..19],
            pending.requests,
            pending.id
        )
    }

    /// Pulls and checks `reference` (digests, signature against
    /// `trust.keys`) and keeps it for the asker's approval, installing
    /// nothing: what it is and asks for, and the id its approval names.
    pub async fn stage(&self, reference: &str, asker: &Asker<'_>) -> Result<Pending, String> {
        let reference = Reference::parse(reference)?;
        let config = self.catalog.config();
        let fetched = match registry::fetch(&config, &reference).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(user = %asker.user, reference = %reference, "skill install refused: {e:#}");
                return Err(format!("not installed: {e:#}"));
            }
        };
        if config.skills.contains_key(&fetched.name) {
            return Err(format!(
                "skills.{} is already in the configuration: `sandbot skill update {}` updates it",
                fetched.name, fetched.name
            ));
        }
        let pending = Pending {
            id: 0,
            name: fetched.name.clone(),
            version: fetched.version.clone(),
            repository: reference.repository_path(),
            digest: fetched.digest.clone(),
            signed_by: fetched.signed_by.clone(),
            requests: fetched.requests.clone(),
        };
        let id = self.wait(asker, fetched, false);
        tracing::info!(user = %asker.user, reference = %reference, n = id, "skill install asked for");
        Ok(Pending { id, ..pending })
    }

    /// Keeps `fetched` for an approval from `asker`; its N.
    fn wait(&self, asker: &Asker<'_>, fetched: Fetched, update: bool) -> u64 {
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
                connector: asker.connector.to_owned(),
                user_id: asker.user_id.to_owned(),
                fetched,
                update,
                since: Instant::now(),
            },
        );
        *next
    }

    /// Takes install `n` if `asker` asked for it within the wait.
    fn take(&self, n: u64, asker: &Asker<'_>) -> Option<Waiting> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let map = &mut waiting.1;
        let taken = match map.get(&n) {
            Some(w) if w.connector == asker.connector && w.user_id == asker.user_id => {
                map.remove(&n)
            }
            _ => None,
        };
        taken.filter(|w| w.since.elapsed() < WAIT)
    }

    /// Drops install `n` unapproved; its skill's name, if `asker` had it
    /// waiting.
    pub fn reject(&self, n: u64, asker: &Asker<'_>) -> Option<String> {
        self.take(n, asker).map(|w| w.fetched.name)
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
        let n = self.wait(&Asker::of(m), fetched, true);
        format!("{text} Say `yes {n}` to update.")
    }

    /// `yes N` in chat: [`Installs::approve`], said in a line.
    async fn confirm(&self, asked: &Asked<'_>) -> String {
        let n: u64 = asked.words[1].parse().unwrap_or(0);
        match self.approve(n, &Asker::of(asked.message)).await {
            Ok(done) => format!(
                "{} {} (sha256 {}…); {}",
                if done.update { "updated" } else { "installed" },
                done.name,
                &done.sha256[..12],
                done.reload
            ),
            Err(e) => format!("⚠ {e}"),
        }
    }

    /// Install (or update) `n`, approved by `asker`, who asked for it:
    /// writes what the command line writes (the file, the configuration
    /// entry, `skills.lock`), then reloads, so the skill answers at once
    /// with the grants approved.
    pub async fn approve(&self, n: u64, asker: &Asker<'_>) -> Result<Approved, String> {
        let Some(w) = self.take(n, asker) else {
            return Err(format!("no install of yours waits for `yes {n}`"));
        };
        let Some(path) = self.catalog.config().source.clone() else {
            return Err("this bot runs without a configuration file to write to".into());
        };
        let (fetched, update) = (w.fetched, w.update);
        let name = fetched.name.clone();
        let sha256 = fetched.sha256();
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
            Ok(Err(e)) => return Err(format!("not installed: {e:#}")),
            Err(e) => return Err(format!("not installed: {e}")),
        }
        tracing::info!(user = %asker.user, skill = %name, sha256 = %sha256, update, "skill installed");
        let report = self.catalog.reload_all().await;
        for change in &report.changes {
            change.log();
        }
        Ok(Approved {
            name,
            sha256,
            update,
            reload: report.summary(),
        })
    }
}
