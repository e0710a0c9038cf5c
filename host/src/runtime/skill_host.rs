//! What one loaded skill's host calls can reach, shared by all its events:
//! each interface's grant, made once per load from the skill's
//! configuration, grants and limits, and the services outside the store
//! (memory, the response sink). The skill's grants are split here, so each
//! interface holds only its own part (`config` the secrets, `chat` the
//! `allow.send` rooms, HTTP the hosts), and a component's imports are
//! checked against them once, at load.

use super::host_api::chat::ChatGrant;
use super::host_api::config::ConfigGrant;
use super::host_api::log::LogGrant;
use super::host_api::memory::MemoryGrant;
use super::log_limit::LogLimiter;
use super::outbound_http::HttpGrant;
use crate::bus::ResponseSink;
use crate::grants::Grants;
use crate::limits::Limits;
use crate::memory::{MemoryStore, Quota};
use std::sync::Arc;

/// What host calls reach outside the store.
#[derive(Clone)]
pub struct Services {
    pub memory: Arc<dyn MemoryStore>,
    pub responses: Arc<dyn ResponseSink>,
}

pub struct SkillHost {
    pub name: String,
    pub limits: Limits,
    pub(super) chat: Arc<ChatGrant>,
    pub(super) memory: Arc<MemoryGrant>,
    pub(super) config: Arc<ConfigGrant>,
    pub(super) log: Arc<LogGrant>,
    pub(super) http: Arc<HttpGrant>,
}

impl SkillHost {
    pub fn new(
        name: String,
        grants: Grants,
        limits: Limits,
        settings: serde_json::Map<String, serde_json::Value>,
        services: &Services,
    ) -> Self {
        let Grants {
            http,
            secrets,
            withheld_secrets,
            send,
            connector_kinds,
        } = grants;
        // Shared by the skill's events: the rate is per skill, not per event.
        let log_budget = Arc::new(LogLimiter::default());
        let send = Grants {
            send,
            connector_kinds,
            ..Grants::default()
        };
        let quota = Quota {
            keys: limits.stored_keys,
            bytes: limits.stored_bytes.0,
        };
        SkillHost {
            chat: Arc::new(ChatGrant::new(
                &name,
                send,
                limits.responses,
                limits.response_size,
                services.responses.clone(),
            )),
            memory: Arc::new(MemoryGrant::new(
                &name,
                services.memory.clone(),
                quota,
                log_budget.clone(),
            )),
            config: Arc::new(ConfigGrant::new(&name, settings, secrets, withheld_secrets)),
            log: Arc::new(LogGrant {
                skill: name.clone(),
                limiter: log_budget,
            }),
            http: Arc::new(HttpGrant {
                name: name.clone(),
                hosts: http,
                budget: limits.time.0,
                response_size: limits.http_response_size.0,
            }),
            name,
            limits,
        }
    }

    /// The first import of `component` that its grants refuse, if any.
    /// WASI's filesystem, environment and sockets are linked for every
    /// skill (Rust's std imports them) but give nothing: no preopened
    /// folders, no variables, no addresses.
    pub fn refused_import(
        &self,
        engine: &wasmtime::Engine,
        component: &wasmtime::component::Component,
    ) -> Option<String> {
        component
            .component_type()
            .imports(engine)
            .find_map(|(import, _)| self.http.refuses_import(import).map(str::to_owned))
    }
}
