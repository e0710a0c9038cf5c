//! Compiling a loaded skill's matchers: on a blocking thread and within a
//! time bound, since the patterns are the skill's, so untrusted. A skill
//! whose matchers break the bound does not load.

use super::Skill;
use crate::runtime::{LoadError, LoadedSkill};
use std::time::Duration;

/// The longest a skill's matchers may take to compile.
const MATCHERS_TIMEOUT: Duration = Duration::from_secs(5);

/// Compiles a loaded skill's matchers on a blocking thread, within a time
/// bound (the patterns are the skill's, so untrusted).
pub(super) async fn compile(loaded: LoadedSkill) -> Result<Skill, LoadError> {
    let manifest = loaded.manifest.clone();
    let compile = tokio::task::spawn_blocking(move || crate::matching::compile(&manifest));
    let matchers = tokio::time::timeout(MATCHERS_TIMEOUT, compile)
        .await
        .map_err(|_| {
            LoadError::Matchers(format!(
                "compiling them took longer than {MATCHERS_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| LoadError::Matchers(format!("compiling them failed: {e}")))?
        .map_err(LoadError::Matchers)?;
    Ok(Skill { loaded, matchers })
}
