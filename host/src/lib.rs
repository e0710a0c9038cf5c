//! sandbot: a ChatOps bot whose skills are sandboxed WebAssembly components.
//!
//! An event's path, front to back: a connector (`connectors`) submits it
//! through the event sink (`bus`) to the dispatcher (`bot`), which routes it
//! (`matching`) and executes each hit in the `runtime`; a skill's answers go
//! out through the response sink to the connector's outbox, and every
//! execution's record goes to the observers (`observe`). `catalog` keeps
//! the current skill set and swaps it on reload; `memory` stores what
//! skills remember. A workflow is a target of matching like a skill: its
//! aliases, `crontab:` entries and `webhook:` are matchers in the same
//! index (`workflow::matchers`), and a hit on one starts a run
//! (`workflow`). Events no connector brings come from the `scheduler`
//! (every crontab matcher, a skill's or a workflow's) and `web::webhook`
//! (every webhook matcher).
//!
//! Layers, bottom up (a module imports only from its own layer or below):
//! 1. `event`, `bus`, `limits`, `manifest`, `text`, `skill_file`, `identity`,
//!    `permissions`, `work`, `stored` (bounds on what is kept), `names`, `targets`,
//!    `sqlite` (opening the bot's SQLite files), `folder` (reading a watched folder);
//! 2. `config`, `memory`, `history`, `outbound`, `grants`, `matching`;
//! 3. `runtime`, `connectors`;
//! 4. `catalog`;
//! 5. `observe`, `executor` (runs a skill for an event, the one place that
//!    makes its record), `commands` (the one registry of chat commands),
//!    then `bot`, `builtins`, `web`, `scheduler`, `workflow`, `nats`
//!    (several hosts: the bus's other implementation, leases, shared skills);
//! 6. `app`, `skilltest`, `authoring`, `logging`, and the binary.

pub mod app;
pub mod authoring;
pub mod bot;
pub mod builtins;
pub mod bus;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod event;
pub mod folder;
pub mod executor;
pub mod grants;
pub mod history;
pub mod identity;
pub mod limits;
pub mod logging;
pub mod manifest;
pub mod matching;
pub mod memory;
pub mod names;
pub mod nats;
pub mod observe;
pub mod outbound;
pub mod permissions;
pub mod runtime;
pub mod scheduler;
pub mod skill_file;
pub mod skilltest;
pub mod sqlite;
pub mod stored;
pub mod targets;
pub mod text;
pub mod web;
pub mod work;
pub mod workflow;
