//! sandbot: a ChatOps bot whose skills are sandboxed WebAssembly components.
//!
//! Start-up, in layer order (`app`): the bus and the response sink, the
//! `runtime`, the `catalog` (skills loaded), the observers, the workflows
//! (their matchers handed to the catalog), on NATS the hosts, the command
//! registry (`commands`), then the dispatcher (`bot`), built with all it
//! needs: nothing is set into it afterwards.
//!
//! An event's path, front to back: a connector (`connectors`) submits it
//! through the event sink (`bus`) to the dispatcher (`bot`), which asks
//! the command registry once (`commands`: `builtins`, the workflows', the
//! cluster's `reload`), else routes it (`matching`) to its targets, skills
//! and workflows alike: a workflow's hit starts a run (`workflow`), a
//! skill's runs through the `executor` in the `runtime`; a skill's answers
//! go out through the response sink to the connector's outbox, and every
//! execution's record goes to the observers (`observe`). `catalog` keeps
//! the current set (skills, and the workflows' matchers) and swaps it on
//! reload; `memory` stores what skills remember. A workflow's aliases,
//! `crontab:` entries and `webhook:` are matchers in the same index
//! (`workflow::matchers`). Events no connector brings come from the
//! `scheduler` (every crontab matcher, a skill's or a workflow's) and
//! `web::webhook` (every webhook matcher); a workflow's tasks run through
//! the same executor, quietly.
//!
//! Layers, bottom up (a module imports only from its own layer or below):
//! 1. `event`, `bus`, `limits`, `manifest`, `text`, `skill_file`, `identity`,
//!    `permissions`, `work`, `turns` (a conversation's commands in order),
//!    `stored` (bounds on what is kept), `names`, `targets`,
//!    `sqlite` (opening the bot's SQLite files), `folder` (reading a watched folder),
//!    `similar` (how close two words are, for "did you mean"), `live_log`
//!    (the bot's recent log lines, for the console), `schema` (the JSON
//!    Schemas of an API's types, made from the types);
//! 2. `config`, `memory`, `history`, `outbound`, `grants`, `matching`,
//!    `coordination` (how several hosts agree: presence, leases, asking
//!    another host; its Redis backend here, its NATS one in `nats`),
//!    `registry` (skills from OCI registries: push, signatures, install);
//! 3. `runtime`, `connectors`;
//! 4. `catalog`;
//! 5. `observe`, `executor` (runs a skill for an event, the one place that
//!    makes its record), `commands` (the one registry of chat commands),
//!    then `bot`, `builtins`, `installs` (`skill install` in chat), `recent` (the `history` command's answer),
//!    `web`, `scheduler`, `workflow`, `nats`
//!    (several hosts: the bus's other implementation, the NATS backend of
//!    `coordination`, shared skills);
//! 6. `app`, `console` (the operator's console and its API: it checks a
//!    configuration as `validate` does), `banner` (what a terminal is told at start), `skilltest`,
//!    `validate` (`config validate`), `authoring`, `logging`, and the binary.

pub mod app;
pub mod authoring;
pub mod banner;
pub mod bot;
pub mod builtins;
pub mod bus;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod console;
pub mod coordination;
pub mod event;
pub mod executor;
pub mod folder;
pub mod grants;
pub mod history;
pub mod identity;
pub mod installs;
pub mod limits;
pub mod live_log;
pub mod logging;
pub mod manifest;
pub mod matching;
pub mod memory;
pub mod names;
pub mod nats;
pub mod observe;
pub mod outbound;
pub mod permissions;
pub mod recent;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod schema;
pub mod similar;
pub mod skill_file;
pub mod skilltest;
pub mod sqlite;
pub mod stored;
pub mod targets;
pub mod text;
pub mod turns;
pub mod validate;
pub mod web;
pub mod work;
pub mod workflow;
