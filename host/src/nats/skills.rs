//! Skills everywhere at once: the skill files live in a JetStream object
//! store (`<prefix>_skills`) as well as in each host's skills folder. A
//! host that sees a `.wasm` change in its folder (a copy, a build, `sandbot
//! skill publish`) puts it in the store; every host watches the store and
//! writes a version it does not have into its folder (aside, then renamed
//! over), where its own watcher loads it make-before-break as for any
//! change. Each object carries its SHA-256 so a file that came from the
//! store is not published back.

use super::Cluster;
use anyhow::{Context as _, Result};
use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;

/// How often the folder is looked at for changed files.
const SCAN_EVERY: Duration = Duration::from_millis(500);

pub struct SharedSkills {
    store: ObjectStore,
    dir: PathBuf,
    /// Each file's SHA-256 as the store has it.
    stored: Mutex<HashMap<String, String>>,
}

/// Opens (creating if needed) the skills object store.
pub async fn store(cluster: &Cluster) -> Result<ObjectStore> {
    let bucket = format!("{}_skills", cluster.settings.prefix);
    if let Ok(store) = cluster.js.get_object_store(&bucket).await {
        return Ok(store);
    }
    cluster
        .js
        .create_object_store(object_store::Config {
            bucket: bucket.clone(),
            num_replicas: cluster.settings.replicas.max(1),
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating object store {bucket}"))
}

/// Puts the skill file at `path` in the store under its file name.
pub async fn publish(store: &ObjectStore, path: &Path) -> Result<String> {
    let name = skill_name(path)
        .with_context(|| format!("{} is not a .wasm skill file", path.display()))?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let sha = hex_sha256(&bytes);
    let meta = ObjectMetadata {
        name: name.clone(),
        description: Some(format!("sha256:{sha}")),
        ..Default::default()
    };
    store
        .put(meta, &mut bytes.as_slice())
        .await
        .with_context(|| format!("publishing {name}"))?;
    Ok(sha)
}

impl SharedSkills {
    /// Brings the folder up to the store (the store's version of a file
    /// wins at start), then keeps both in step until dropped.
    pub async fn start(cluster: &Cluster, dir: PathBuf) -> Result<Arc<SharedSkills>> {
        let store = store(cluster).await?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the skills folder {}", dir.display()))?;
        let shared = Arc::new(SharedSkills {
            store,
            dir,
            stored: Mutex::default(),
        });
        let mut list = shared.store.list().await?;
        while let Some(info) = list.next().await {
            let Ok(info) = info else { continue };
            shared.take(&info).await;
        }
        Ok(shared)
    }

    /// Runs the store's watch and the folder's scan.
    pub async fn run(self: Arc<Self>) {
        let watching = self.clone();
        let watch = async move {
            loop {
                match watching.store.watch().await {
                    Ok(mut updates) => {
                        while let Some(info) = updates.next().await {
                            if let Ok(info) = info {
                                watching.take(&info).await;
                            }
                        }
                    }
                    Err(e) => tracing::debug!("cannot watch the skills store: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::join!(watch, self.scan());
    }

    /// Writes the store's version of `info` into the folder when ours differs.
    async fn take(&self, info: &object_store::ObjectInfo) {
        if info.deleted || !info.name.ends_with(".wasm") || info.name.contains('/') {
            return;
        }
        let Some(sha) = info
            .description
            .as_deref()
            .and_then(|d| d.strip_prefix("sha256:"))
        else {
            return;
        };
        self.stored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.name.clone(), sha.to_owned());
        let path = self.dir.join(&info.name);
        if std::fs::read(&path).is_ok_and(|b| hex_sha256(&b) == sha) {
            return;
        }
        let mut object = match self.store.get(&info.name).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(skill = %info.name, "cannot fetch from the skills store: {e}");
                return;
            }
        };
        let mut bytes = Vec::new();
        if let Err(e) = object.read_to_end(&mut bytes).await {
            tracing::warn!(skill = %info.name, "cannot read from the skills store: {e}");
            return;
        }
        if hex_sha256(&bytes) != sha {
            tracing::warn!(skill = %info.name, "the skills store's copy does not match its SHA-256; not taken");
            return;
        }
        let aside = self.dir.join(format!(".{}.shared", info.name));
        let written = std::fs::write(&aside, &bytes).and_then(|()| std::fs::rename(&aside, &path));
        match written {
            Ok(()) => {
                tracing::info!(skill = %info.name, sha256 = %sha, "taken from the skills store")
            }
            Err(e) => tracing::warn!(skill = %info.name, "cannot write {}: {e}", path.display()),
        }
    }

    /// Publishes the folder's files that changed and differ from the store.
    async fn scan(&self) {
        let mut seen: HashMap<PathBuf, (SystemTime, u64)> = HashMap::new();
        let mut first = true;
        loop {
            if let Ok(entries) = std::fs::read_dir(&self.dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Some(name) = skill_name(&path) else {
                        continue;
                    };
                    let Ok(meta) = entry.metadata() else { continue };
                    let stamp = (
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        meta.len(),
                    );
                    if seen.insert(path.clone(), stamp) == Some(stamp) {
                        continue;
                    }
                    let Ok(bytes) = std::fs::read(&path) else {
                        continue;
                    };
                    let sha = hex_sha256(&bytes);
                    let known = self
                        .stored
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&name)
                        .cloned();
                    // At start only files the store lacks are published: for
                    // the others the store's version was just taken.
                    if known.as_deref() == Some(sha.as_str()) || (first && known.is_some()) {
                        continue;
                    }
                    match publish(&self.store, &path).await {
                        Ok(sha) => {
                            tracing::info!(skill = %name, sha256 = %sha, "published to the skills store");
                            self.stored
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(name, sha);
                        }
                        Err(e) => {
                            tracing::warn!("{e:#}");
                            seen.remove(&path);
                        }
                    }
                }
            }
            first = false;
            tokio::time::sleep(SCAN_EVERY).await;
        }
    }
}

/// `hello.wasm` for a skill file (not a hidden one being written).
fn skill_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    (name.ends_with(".wasm") && !name.starts_with('.')).then(|| name.to_owned())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
