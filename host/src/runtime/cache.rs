//! Compiled skills kept on disk, keyed by the `.wasm`'s sha256 and the
//! engine's compatibility hash, so a restart or a reload of an unchanged file
//! skips Cranelift. Only files this process wrote are ever deserialized.
//! The cache is bounded: after every change of the skill set, entries no
//! loaded skill uses are removed, all but the few most recently used (so
//! switching back to the previous build is still quick), and those only
//! within a size cap; other engines' folders and stray temporary files go.

use anyhow::{Context, Result};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct CompileCache {
    /// `None`: caching is off for every skill.
    dir: Option<PathBuf>,
}

/// Entries no loaded skill uses that are kept, newest first.
pub const KEEP_UNUSED: usize = 4;
/// The most the entries no loaded skill uses may take together.
pub const UNUSED_BYTES: u64 = 256 << 20;
/// A temporary file older than this was left by a crash.
const STALE_TMP: Duration = Duration::from_secs(600);

/// How a component was obtained, for logs and `make bench`.
#[derive(Debug, Clone, Copy)]
pub struct Compiled {
    pub from_cache: bool,
    pub took: Duration,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<&Path>) -> Self {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let dir = dir.map(|d| d.join(format!("{:016x}", h.finish())));
        CompileCache { dir }
    }

    /// The file a compile of `sha256` is kept in, when caching is on.
    fn file(&self, sha256: &str, use_cache: bool) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .filter(|_| use_cache)
            .map(|d| d.join(format!("{sha256}.cwasm")))
    }

    /// What an earlier compile of the same bytes left in the cache, if
    /// anything (reading it needs no compile lock).
    pub fn cached(
        &self,
        engine: &Engine,
        sha256: &str,
        use_cache: bool,
    ) -> Option<(Component, Compiled)> {
        let start = Instant::now();
        let file = self.file(sha256, use_cache).filter(|f| f.is_file())?;
        // SAFETY: the cache folder holds only artifacts serialized below by
        // this engine configuration (the folder name is its compatibility hash).
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(component) => {
                // Recently used entries are the ones pruning keeps.
                touch(&file);
                let compiled = Compiled {
                    from_cache: true,
                    took: start.elapsed(),
                };
                Some((component, compiled))
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "ignoring an unreadable cache entry");
                None
            }
        }
    }

    /// Compiles `wasm` and keeps the result in the cache (unless
    /// `use_cache` is false).
    pub fn compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
        use_cache: bool,
    ) -> Result<(Component, Compiled)> {
        let start = Instant::now();
        let component = Component::new(engine, wasm).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let took = start.elapsed();
        if let Some(file) = self.file(sha256, use_cache)
            && let Err(e) = store(&component, &file)
        {
            tracing::warn!(file = %file.display(), error = %format!("{e:#}"), "could not write the compilation cache");
        }
        Ok((
            component,
            Compiled {
                from_cache: false,
                took,
            },
        ))
    }
}

impl CompileCache {
    /// Removes what no loaded skill needs (see the module comment). `in_use`
    /// holds the sha256 of every loaded skill. Runs on a blocking thread.
    pub fn prune(&self, in_use: &std::collections::HashSet<String>) {
        let Some(dir) = &self.dir else { return };
        if let Some(parent) = dir.parent() {
            // Folders of other engine builds (an older sandbot) are useless.
            for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                let path = entry.path();
                if path != *dir
                    && entry.file_type().is_ok_and(|t| t.is_dir())
                    && is_engine_dir(&path)
                {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        let mut unused = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if let Some(sha) = name.strip_suffix(".cwasm") {
                if !in_use.contains(sha) {
                    unused.push((modified, meta.len(), path));
                }
            } else if name.contains(".tmp") && modified.elapsed().unwrap_or_default() > STALE_TMP {
                let _ = std::fs::remove_file(&path);
            }
        }
        unused.sort_by_key(|u| std::cmp::Reverse(u.0));
        let mut kept_bytes = 0;
        for (i, (_, len, path)) in unused.into_iter().enumerate() {
            kept_bytes += len;
            if i >= KEEP_UNUSED || kept_bytes > UNUSED_BYTES {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::debug!(file = %path.display(), "removed an unused compile-cache entry")
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "could not remove a compile-cache entry")
                    }
                }
            }
        }
    }

    /// The `.cwasm` files in the cache now (for tests and the operator).
    pub fn entries(&self) -> usize {
        let Some(dir) = &self.dir else { return 0 };
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
            .count()
    }
}

/// A cache folder is named by a 16-digit hex engine hash and holds nothing
/// but compiled skills (and their temporary files): anything else in the
/// parent folder is left alone.
fn is_engine_dir(path: &Path) -> bool {
    let named = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .is_some_and(|n| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()));
    named
        && std::fs::read_dir(path).is_ok_and(|entries| {
            entries.flatten().all(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                e.file_type().is_ok_and(|t| t.is_file())
                    && (n.ends_with(".cwasm") || n.contains(".tmp"))
            })
        })
}

fn touch(file: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(file) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn store(component: &Component, file: &Path) -> Result<()> {
    let dir = file.parent().expect("cache files live in a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    // Write then rename, so a crash never leaves half a file under the real name.
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("renaming to {}", file.display()))
}
