use crate::runtime::bindings::log::{self, Level};
use crate::runtime::state::State;

impl log::Host for State {
    async fn log(&mut self, level: Level, message: String) {
        let skill = self.skill.name.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "skill", skill, "{message}"),
            Level::Debug => tracing::debug!(target: "skill", skill, "{message}"),
            Level::Info => tracing::info!(target: "skill", skill, "{message}"),
            Level::Warn => tracing::warn!(target: "skill", skill, "{message}"),
            Level::Error => tracing::error!(target: "skill", skill, "{message}"),
        }
    }
}
