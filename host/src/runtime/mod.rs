//! Running skills: the engine, loading and checking components, and one
//! fresh store and instance per event. Files, bottom up: `failure`,
//! `phase`, `outbound_http`, `host_api/*` (one file per WIT interface:
//! its grant, its per-store state, its linking), `skill_host` (the grants
//! of one loaded skill), `store` (one event's state: each interface's),
//! `host_api` (the linker of them all), `instance` (the two skill worlds),
//! `warm`, `gate`, `shape`, `cache`, `engine` (the `Runtime`), `settings`
//! (a skill's section against the settings it declares), `load`,
//! `invoke`.

pub mod bindings;
mod cache;
mod convert;
mod engine;
mod failure;
mod gate;
mod host_api;
mod instance;
mod invoke;
mod load;
mod log_limit;
mod outbound_http;
mod phase;
mod settings;
pub mod shape;
mod shared;
mod skill_host;
mod store;
mod warm;

pub use cache::Compiled;
pub use engine::{EPOCH_TICK, Options, Runtime};
pub use failure::Failure;
pub use instance::World;
pub use invoke::{Call, Handled, Reserved, Reword};
pub use load::{LoadError, LoadedSkill, SkillSource};
pub use settings::ConfigText;
pub use skill_host::{Services, SkillHost};
