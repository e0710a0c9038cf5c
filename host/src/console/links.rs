//! Chat identities linked to console accounts (`sandbot admin link carol
//! slack:U024BE7LH`): one list of people for chat and console. An identity
//! linked to an admin account is an admin in chat, as those `admins:`
//! names are; the bot re-reads the links every few seconds
//! ([`follow_links`]), so a link made or removed by `sandbot admin` (another
//! process) takes effect without a restart, and chat's check stays a
//! lookup in memory.

use super::accounts::{Accounts, Role};
use anyhow::{Result, bail};
use std::collections::HashSet;
use std::time::Duration;

/// How often the bot re-reads the links.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

impl Accounts {
    /// Links `identity` (`connector:user_id`, as a message carries them) to
    /// account `name`. An identity belongs to one account.
    pub fn link(&self, name: &str, identity: &str) -> Result<()> {
        let Some((connector, user)) = identity.split_once(':') else {
            bail!("`{identity}` is not an identity: write connector:user-id, as `slack:U024BE7LH`");
        };
        if connector.is_empty() || user.is_empty() || identity.contains('*') {
            bail!("`{identity}` is not one identity: write connector:user-id, with no `*`");
        }
        if self.get(name)?.is_none() {
            bail!("there is no account `{name}`");
        }
        let conn = self.connection()?;
        let owner: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT account FROM links WHERE identity = ?1",
            [identity],
            |row| row.get(0),
        ))?;
        match owner {
            Some(owner) if owner == name => return Ok(()),
            Some(owner) => {
                bail!(
                    "`{identity}` is linked to `{owner}` already (`sandbot admin unlink {identity}` first)"
                )
            }
            None => {}
        }
        conn.execute(
            "INSERT INTO links (identity, account) VALUES (?1, ?2)",
            [identity, name],
        )?;
        Ok(())
    }

    /// Unlinks `identity`; false if it was not linked.
    pub fn unlink(&self, identity: &str) -> Result<bool> {
        let conn = self.connection()?;
        Ok(conn.execute("DELETE FROM links WHERE identity = ?1", [identity])? > 0)
    }

    /// The identities linked to account `name`.
    pub fn links_of(&self, name: &str) -> Result<Vec<String>> {
        let conn = self.connection()?;
        let mut q =
            conn.prepare("SELECT identity FROM links WHERE account = ?1 ORDER BY identity")?;
        let rows = q.query_map([name], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The identities linked to an admin account.
    pub fn linked_admins(&self) -> Result<HashSet<String>> {
        let conn = self.connection()?;
        let mut q = conn.prepare(
            "SELECT links.identity FROM links JOIN accounts ON accounts.name = links.account \
             WHERE accounts.role = ?1",
        )?;
        let rows = q.query_map([Role::Admin.as_str()], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Keeps chat's list of linked admins as the accounts say, now and every
/// [`FOLLOW_EVERY`]; a read that fails keeps the last list (and says so).
pub fn follow_links(accounts: Accounts) -> tokio::task::JoinHandle<()> {
    let accounts = std::sync::Arc::new(accounts);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FOLLOW_EVERY);
        loop {
            every.tick().await;
            let reading = accounts.clone();
            match tokio::task::spawn_blocking(move || reading.linked_admins()).await {
                Ok(Ok(admins)) => crate::identity::set_linked_admins(admins),
                Ok(Err(e)) => tracing::warn!("cannot read the console's linked identities: {e:#}"),
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_linked_to_one_account_and_admins_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("console.db")).unwrap();
        accounts
            .add("carol", Role::Admin, "carol's long password", false)
            .unwrap();
        accounts
            .add("dave", Role::Operator, "dave's long password", false)
            .unwrap();
        accounts.link("carol", "slack:U1").unwrap();
        accounts.link("carol", "slack:U1").unwrap();
        accounts.link("dave", "shell:dave").unwrap();
        let taken = accounts.link("dave", "slack:U1").unwrap_err().to_string();
        assert!(taken.contains("linked to `carol` already"), "{taken}");
        assert!(accounts.link("nobody", "slack:U2").is_err());
        assert!(accounts.link("carol", "slack:*").is_err());
        assert!(accounts.link("carol", "U3").is_err());
        assert_eq!(
            accounts.linked_admins().unwrap(),
            HashSet::from(["slack:U1".to_owned()])
        );
        assert_eq!(accounts.links_of("carol").unwrap(), ["slack:U1"]);
        assert!(accounts.remove("carol").unwrap());
        assert!(accounts.linked_admins().unwrap().is_empty());
        assert!(accounts.unlink("shell:dave").unwrap());
        assert!(!accounts.unlink("shell:dave").unwrap());
    }
}
