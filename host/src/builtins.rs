//! Commands the bot answers itself, before any skill is asked: `help` (what
//! the skills declared) and `reload` (admins only). Each returns its answer
//! as text; the dispatcher sends it.

use crate::catalog::Catalog;
use crate::config::Config;
use crate::event::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Reload,
    Help,
}

impl Builtin {
    pub fn parse(text: &str) -> Option<Builtin> {
        match text.trim().to_ascii_lowercase().as_str() {
            "reload" => Some(Builtin::Reload),
            "help" => Some(Builtin::Help),
            _ => None,
        }
    }

    /// Runs the command for the sender of `m` and returns the answer.
    pub async fn run(self, m: &Message, catalog: &Catalog, config: &Config) -> String {
        match self {
            Builtin::Reload if !config.is_admin(&m.connector, &m.user_id) => {
                format!("Sorry {}, only admins may reload skills.", m.user)
            }
            Builtin::Reload => {
                tracing::info!(user = %m.user, "reload asked for in chat");
                let report = catalog.reload_all().await;
                for change in &report.changes {
                    change.log();
                }
                report.summary()
            }
            Builtin::Help => help(catalog),
        }
    }
}

fn help(catalog: &Catalog) -> String {
    let set = catalog.current();
    let mut lines = vec!["I answer to:".to_string()];
    for skill in &set.skills {
        for m in skill
            .manifest
            .matchers
            .iter()
            .filter(|m| !m.help.is_empty())
        {
            lines.push(format!("  {} ({})", m.help, skill.name));
        }
    }
    lines.push("  help — this list".into());
    lines.push("  reload — reload every skill (admins only)".into());
    lines.join("\n")
}
