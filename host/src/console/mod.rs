//! The operator's console: operator accounts and their roles
//! (`accounts`), sessions in cookies with a CSRF token (`sessions`), login
//! lockout (`lockout`), random tokens compared in constant time
//! (`secrets`), and the versioned JSON API under `/api/v1` that
//! the console's page (`page`, at `/console`) and scripts drive (`api`);
//! uploads wait for an admin's approval (`staged`);
//! an operator's chat commands go through the dispatcher as the
//! `console` connector's (`commands`). Off unless `console:`
//! is configured; see docs/console.md.

mod accounts;
mod api;
mod commands;
mod lockout;
mod page;
mod secrets;
mod sessions;
mod staged;

pub use accounts::{Account, Accounts, MIN_PASSWORD, Role};
pub use api::{Console, routes};
pub use commands::{CONNECTOR, Conversations};
pub use lockout::Lockout;
pub use sessions::{COOKIE, Sessions};
pub use staged::Staged;
