//! `config`: the skill's own section of configuration.yaml, plus the secrets
//! its entry lists under `allow.secrets`. Nothing else of the configuration
//! (connector tokens, other skills' settings) is reachable.

use crate::runtime::bindings::config;
use crate::runtime::state::State;

impl config::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        if let Some(value) = self.skill.settings.get(&key) {
            return Ok(Some(match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        if let Some(secret) = self.skill.secrets.get(&key) {
            return Ok(Some(secret.clone()));
        }
        if self.skill.withheld_secrets.contains(&key) {
            let name = &self.skill.name;
            tracing::warn!(skill = %name, "denied: read of secret `{key}`, which skills.{name}.allow.secrets does not list");
            return Err(format!(
                "secret `{key}` is not granted to this skill (skills.{name}.allow.secrets)"
            ));
        }
        Ok(None)
    }

    async fn all(&mut self) -> String {
        let mut all = self.skill.settings.clone();
        for (k, v) in &self.skill.secrets {
            all.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(all).to_string()
    }
}
