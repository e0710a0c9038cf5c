//! Loading a skill's new bytes to look at them, without serving them: what
//! the console shows an admin before a `.wasm` goes live (its manifest,
//! the grants its configuration gives it), checked exactly as a file
//! dropped into the skills folder would be (the same source, pin, limits,
//! settings and matchers), then put where the watcher loads it, written
//! aside and renamed over, so the swap is make-before-break as a drop is.

use super::{Catalog, Change, Skill, SkillSource, matchers};
use crate::runtime::LoadError;
use crate::skill_file::SkillFile;
use std::path::PathBuf;

impl Catalog {
    /// Where skill `name` is loaded from, and how: its configured source,
    /// or a file of that name in the skills folder.
    fn source_for(&self, name: &str) -> Result<SkillSource, String> {
        if let Some(Ok(source)) = self
            .sources()
            .into_iter()
            .find(|s| matches!(s, Ok(s) if s.name == name))
        {
            return Ok(source);
        }
        let config = self.config();
        let dir = config
            .skills_dir
            .clone()
            .ok_or("the configuration sets no `skills-dir:` to put it in")?;
        Ok(SkillSource {
            limits: config.runtime.default_limits,
            grants: config.grants(name),
            config_text: crate::runtime::ConfigText::of(&config),
            ..SkillSource::new(name.to_owned(), dir.join(format!("{name}.wasm")))
        })
    }

    /// Loads `bytes` as skill `name` would load, and serves nothing.
    pub async fn preview(&self, name: &str, bytes: Vec<u8>) -> Result<Skill, String> {
        crate::names::check(name).map_err(|why| format!("`{name}` is not a name: {why}"))?;
        let source = self.source_for(name)?;
        let loaded = self
            .runtime()
            .load_file(source, SkillFile::from_bytes(bytes))
            .await
            .map_err(|e: LoadError| e.to_string())?;
        matchers::compile(loaded).await.map_err(|e| e.to_string())
    }

    /// Puts `bytes` where skill `name` loads from (aside, then renamed
    /// over) and loads it now: the change, as `reload` reports it.
    pub async fn install(&self, name: &str, bytes: &[u8]) -> Result<Change, String> {
        let path: PathBuf = self.source_for(name)?.path;
        let dir = path.parent().ok_or("the skill's file has no folder")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let aside = dir.join(format!(".{name}.console-upload"));
        std::fs::write(&aside, bytes).map_err(|e| format!("writing {}: {e}", aside.display()))?;
        std::fs::rename(&aside, &path)
            .map_err(|e| format!("renaming onto {}: {e}", path.display()))?;
        self.reload_path(&path)
            .await
            .ok_or_else(|| format!("{} was written but not loaded", path.display()))
    }
}
