//! The version a built skill declares for itself: its `describe`, called in
//! a scratch runtime (no compile cache, its memory in a temporary folder),
//! with the HTTP hosts its `requests.yaml` asks for granted, so a skill
//! that imports outbound HTTP loads. `skill push` records it in the
//! artifact, so an install and an update can say which version they bring.

use crate::bus::Outboxes;
use crate::grants::Grants;
use crate::memory::SqliteMemory;
use crate::outbound::{HostPattern, OutboundPolicy};
use crate::registry::Requests;
use crate::runtime::{Options, Runtime, Services, SkillSource};
use crate::skill_file::SkillFile;
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

/// The version `wasm`'s `describe` declares.
pub async fn declared_version(wasm: &Path, requests: &Requests) -> Result<String> {
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let services = Services {
        memory: Arc::new(SqliteMemory::open(&scratch.path().join("memory.db"))?),
        responses: Arc::new(Outboxes::default()),
    };
    let options = Options {
        cache_dir: None,
        max_in_flight: 1,
    };
    let runtime = Runtime::new(options, services)?;
    let http = requests
        .http
        .iter()
        .map(|h| HostPattern::parse(h).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let name = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "skill".into());
    let source = SkillSource {
        no_cache: true,
        grants: Grants {
            http: OutboundPolicy::new(http),
            ..Grants::default()
        },
        ..SkillSource::new(name, wasm)
    };
    let file = SkillFile::read_now(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let manifest = runtime
        .manifest_of(source, file)
        .await
        .with_context(|| format!("{}: its `describe` (for its version)", wasm.display()))?;
    Ok(manifest.version)
}
