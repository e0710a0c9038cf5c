//! What one loaded skill's host calls can reach, shared by all its events:
//! its name, grants, limits and settings, and the services outside the store
//! (memory, the response sink). Built once per load.

use super::log_limit::LogLimiter;
use crate::bus::ResponseSink;
use crate::grants::Grants;
use crate::limits::Limits;
use crate::memory::MemoryStore;
use std::sync::Arc;

/// What host calls reach outside the store.
#[derive(Clone)]
pub struct Services {
    pub memory: Arc<dyn MemoryStore>,
    pub responses: Arc<dyn ResponseSink>,
}

pub struct SkillHost {
    pub name: String,
    pub grants: Grants,
    pub limits: Limits,
    /// The skill's own section of configuration.yaml.
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub memory: Arc<dyn MemoryStore>,
    pub responses: Arc<dyn ResponseSink>,
    /// Shared by the skill's events: the rate is per skill, not per event.
    pub(super) log_limiter: LogLimiter,
}

impl SkillHost {
    pub fn new(
        name: String,
        grants: Grants,
        limits: Limits,
        settings: serde_json::Map<String, serde_json::Value>,
        services: &Services,
    ) -> Self {
        SkillHost {
            name,
            grants,
            limits,
            settings,
            memory: services.memory.clone(),
            responses: services.responses.clone(),
            log_limiter: LogLimiter::default(),
        }
    }
}
