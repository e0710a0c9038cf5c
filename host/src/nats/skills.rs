//! Skills everywhere at once: the skill files live in a JetStream object
//! store (`<prefix>_skills`) as well as in each host's skills folder. A
//! host that sees a `.wasm` change in its folder (a copy, a build, `sandbot
//! skill publish`) puts it in the store; every host watches the store and
//! writes a version it does not have into its folder (aside, then renamed
//! over), where its own watcher loads it make-before-break as for any
//! change. Each object carries its SHA-256 so a file that came from the
//! store is not published back.
//!
//! The folder's files are read as the catalog reads them
//! (`skill_file::SkillFile::read`: regular files only, bounded in size and
//! time), so a `/dev/zero` symlink or a FIFO is refused and reported, and
//! the other skills are published all the same; an object from the store is
//! taken only up to the same size.

use super::Cluster;
use crate::skill_file::{MAX_COMPONENT_BYTES, SkillFile, sha256_hex};
use anyhow::{Context as _, Result, bail};
use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use futures::StreamExt;
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

/// Puts the skill file at `path` in the store under its file name, read
/// as the catalog reads it; a file that is not a regular skill file (a
/// device, a FIFO, too big) is refused with the reason.
pub async fn publish(store: &ObjectStore, path: &Path) -> Result<String> {
    let name = skill_name(path)
        .with_context(|| format!("{} is not a .wasm skill file", path.display()))?;
    let file = SkillFile::read(path)
        .await
        .with_context(|| format!("not publishing {}", path.display()))?;
    put(store, &name, &file).await?;
    Ok(file.sha256)
}

/// Puts bytes already read in the store as `name`.
async fn put(store: &ObjectStore, name: &str, file: &SkillFile) -> Result<()> {
    let meta = ObjectMetadata {
        name: name.to_owned(),
        description: Some(format!("sha256:{}", file.sha256)),
        ..Default::default()
    };
    store
        .put(meta, &mut &file.bytes[..])
        .await
        .with_context(|| format!("publishing {name}"))?;
    Ok(())
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
        // What is there now is read as any skill file: a device or a FIFO
        // in its place is replaced by the store's file, never read.
        if SkillFile::read(&path).await.is_ok_and(|f| f.sha256 == sha) {
            return;
        }
        let bytes = match self.fetch(info).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(skill = %info.name, "not taken from the skills store: {e:#}");
                return;
            }
        };
        if sha256_hex(&bytes) != sha {
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

    /// The store's copy of `info`, at most as big as a skill may be.
    async fn fetch(&self, info: &object_store::ObjectInfo) -> Result<Vec<u8>> {
        if info.size as u64 > MAX_COMPONENT_BYTES {
            bail!(
                "it is {} bytes; skills may be at most {MAX_COMPONENT_BYTES}",
                info.size
            );
        }
        let object = self
            .store
            .get(&info.name)
            .await
            .context("cannot fetch it")?;
        let mut bytes = Vec::new();
        object
            .take(MAX_COMPONENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .context("cannot read it")?;
        if bytes.len() as u64 > MAX_COMPONENT_BYTES {
            bail!("it is over {MAX_COMPONENT_BYTES} bytes");
        }
        Ok(bytes)
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
                    let file = match SkillFile::read(&path).await {
                        Ok(file) => file,
                        Err(e) => {
                            // Reported once per change of the file; the
                            // rest of the folder is published all the same.
                            tracing::warn!(skill = %crate::text::for_log(&name), "not published to the skills store: {e}");
                            continue;
                        }
                    };
                    let known = self
                        .stored
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&name)
                        .cloned();
                    // At start only files the store lacks are published: for
                    // the others the store's version was just taken.
                    if known.as_deref() == Some(file.sha256.as_str()) || (first && known.is_some())
                    {
                        continue;
                    }
                    match put(&self.store, &name, &file).await {
                        Ok(()) => {
                            tracing::info!(skill = %name, sha256 = %file.sha256, "published to the skills store");
                            self.stored
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(name, file.sha256.clone());
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
