//! `config`: the skill's own section of configuration.yaml, plus the secrets
//! its entry lists under `allow.secrets`. Nothing else of the configuration
//! (connector tokens, other skills' settings) is reachable.
//!
//! [`ConfigGrant`] is resolved once per load: the settings, the granted
//! secrets, the names withheld, and `all()`'s answer already as JSON. Each
//! store's [`ConfigState`] only looks things up, and records a refused
//! secret for the execution.

use crate::runtime::bindings::config;
use crate::text::for_log;
use indexmap::IndexMap;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// What one skill may read.
pub struct ConfigGrant {
    skill: String,
    settings: serde_json::Map<String, serde_json::Value>,
    /// `allow.secrets`: granted secrets, by name, with their values.
    secrets: IndexMap<String, String>,
    /// Secrets that exist but are not granted: asking for one is an error
    /// the operator hears about, not a quiet "no such key".
    withheld: Vec<String>,
    /// `all()`'s answer: the settings, then the secrets over them.
    all: String,
}

impl ConfigGrant {
    pub fn new(
        skill: &str,
        settings: serde_json::Map<String, serde_json::Value>,
        secrets: IndexMap<String, String>,
        withheld: Vec<String>,
    ) -> Self {
        let mut all = settings.clone();
        for (k, v) in &secrets {
            all.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        ConfigGrant {
            skill: skill.to_owned(),
            settings,
            secrets,
            withheld,
            all: serde_json::Value::Object(all).to_string(),
        }
    }
}

/// One store's `config`.
pub struct ConfigState {
    grant: Arc<ConfigGrant>,
    /// Secrets refused during this event, for its execution record.
    denials: Vec<String>,
}

impl ConfigState {
    pub fn new(grant: Arc<ConfigGrant>) -> Self {
        ConfigState {
            grant,
            denials: Vec::new(),
        }
    }

    pub fn take_denials(&mut self) -> Vec<String> {
        std::mem::take(&mut self.denials)
    }
}

/// Links `config`, reaching each store's [`ConfigState`] through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ConfigState,
) -> wasmtime::Result<()> {
    config::add_to_linker::<T, HasSelf<ConfigState>>(linker, get)
}

impl config::Host for ConfigState {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        let grant = &self.grant;
        if let Some(value) = grant.settings.get(&key) {
            return Ok(Some(match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if let Some(secret) = grant.secrets.get(&key) {
            return Ok(Some(secret.clone()));
        }
        if grant.withheld.contains(&key) {
            let name = &grant.skill;
            tracing::warn!(skill = %name, "denied: read of secret `{}`, which skills.{name}.allow.secrets does not list", for_log(&key));
            let why = format!(
                "secret `{key}` is not granted to this skill (skills.{name}.allow.secrets)"
            );
            self.denials.push(why.clone());
            return Err(why);
        }
        Ok(None)
    }

    async fn all(&mut self) -> String {
        self.grant.all.clone()
    }
}
