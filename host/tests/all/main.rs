//! Every integration test, as one binary (so wasmtime is linked once): one
//! module per area. The skills they load are built once by the
//! `sandbot-test-skills` build script; the real `sandbot` binary is driven
//! over pipes where a test is about what a user sees.

// matrix-sdk's futures are deep: proving one Send takes more than the default 128.
#![recursion_limit = "256"]

mod architecture;
mod atomic_memory;
mod authoring;
mod background;
mod bad_input;
mod browser;
mod build_graph;
mod cluster;
mod commands;
mod common;
mod compile_cache;
mod connectors;
mod console;
mod console_api;
mod console_cluster;
mod console_config;
mod console_users;
mod console_workflows;
mod coordination;
mod crontab;
mod docs;
mod executions;
mod grants;
mod history;
mod hostile;
mod hot_reload;
mod http_budget;
mod install;
mod irc;
mod languages;
mod matching;
mod matrix;
mod matrix_outages;
mod memory;
mod metrics;
mod names;
mod notifications;
mod properties;
mod registry;
mod registry_token;
mod sandbox;
mod settings;
mod shell;
mod slack;
mod stores;
mod untrusted;
mod web;
mod webdriver;
mod webhook;
mod workflows;
