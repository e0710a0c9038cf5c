use crate::runtime::bindings::config;
use crate::runtime::state::State;

impl config::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        Ok(self.skill.settings.get(&key).map(|value| match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))
    }

    async fn all(&mut self) -> String {
        serde_json::Value::Object(self.skill.settings.clone()).to_string()
    }
}
