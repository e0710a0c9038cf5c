//! `config`: the skill's own section of configuration.yaml, plus the secrets
//! its entry lists under `allow.secrets`. Nothing else of the configuration
//! (connector tokens, other skills' settings) is reachable.

use crate::runtime::bindings::config;
use crate::runtime::store::State;
use crate::text::for_log;

impl config::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        if let Some(value) = self.skill.settings.get(&key) {
            return Ok(Some(match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if let Some(secret) = self.skill.grants.secrets.get(&key) {
            return Ok(Some(secret.clone()));
        }
        if self.skill.grants.withheld_secrets.contains(&key) {
            let name = &self.skill.name;
            tracing::warn!(skill = %name, "denied: read of secret `{}`, which skills.{name}.allow.secrets does not list", for_log(&key));
            let why = format!(
                "secret `{key}` is not granted to this skill (skills.{name}.allow.secrets)"
            );
            return Err(self.deny(why));
        }
        Ok(None)
    }

    async fn all(&mut self) -> String {
        let mut all = self.skill.settings.clone();
        for (k, v) in &self.skill.grants.secrets {
            all.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(all).to_string()
    }
}
