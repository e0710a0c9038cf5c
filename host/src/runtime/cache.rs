//! Compiled skills kept on disk, keyed by the `.wasm`'s sha256 and the
//! engine's compatibility hash, so a restart or a reload of an unchanged file
//! skips Cranelift. Only files this process wrote are ever deserialized.

use anyhow::{Context, Result};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct CompileCache {
    /// `None`: caching is off for every skill.
    dir: Option<PathBuf>,
}

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

    /// Compiles `wasm`, or loads what an earlier compile of the same bytes
    /// left in the cache. `use_cache: false` compiles afresh and stores nothing.
    pub fn component(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
        use_cache: bool,
    ) -> Result<(Component, Compiled)> {
        let start = Instant::now();
        let file = self
            .dir
            .as_ref()
            .filter(|_| use_cache)
            .map(|d| d.join(format!("{sha256}.cwasm")));
        if let Some(file) = file.as_ref().filter(|f| f.is_file()) {
            // SAFETY: the cache folder holds only artifacts serialized below by
            // this engine configuration (the folder name is its compatibility hash).
            match unsafe { Component::deserialize_file(engine, file) } {
                Ok(component) => {
                    let took = start.elapsed();
                    return Ok((
                        component,
                        Compiled {
                            from_cache: true,
                            took,
                        },
                    ));
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "ignoring an unreadable cache entry")
                }
            }
        }
        let component = Component::new(engine, wasm).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let took = start.elapsed();
        if let Some(file) = file
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
