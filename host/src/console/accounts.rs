//! The console's operator accounts: a name, a role, and an argon2id hash of
//! the password (a PHC string, its salt and parameters inside), in
//! `console.db` in the data folder; and API tokens for scripts, each an
//! account's with a role no higher than the account's, kept as the SHA-256
//! of their secret part, revocable. `sandbot admin` writes them; the bot
//! reads them at each request, so a role changed, an account removed or a
//! token revoked takes effect at once, sessions included.

use super::secrets::{hex, same_secret};
use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A password shorter than this is refused when an account is made.
pub const MIN_PASSWORD: usize = 10;

/// What an operator may do; each role may do all the one before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything the console shows.
    Viewer,
    /// Also enables, disables and reloads skills, approves and runs.
    Operator,
    /// Also installs skills, changes grants and manages accounts.
    Admin,
}

impl crate::schema::Schema for Role {
    fn schema() -> serde_json::Value {
        let roles = [Role::Viewer, Role::Operator, Role::Admin].map(Role::as_str);
        serde_json::json!({"type": "string", "enum": roles})
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
}

/// The accounts' database. Each call opens it: the console is not on the
/// message path, and another process (`sandbot admin`) writes it.
pub struct Accounts {
    path: PathBuf,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    identity TEXT PRIMARY KEY,
    account TEXT NOT NULL
) WITHOUT ROWID;";

/// What starts every API token: scanners for leaked secrets can find them.
pub const TOKEN_PREFIX: &str = "sbt_";

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub account: String,
    pub role: Role,
    pub note: String,
    pub created_at: u64,
    pub revoked: bool,
}

impl Accounts {
    /// Opens (creating if needed) the accounts at `path`.
    pub fn open(path: &Path) -> Result<Accounts> {
        crate::sqlite::open(path, "console accounts", SCHEMA)?;
        Ok(Accounts {
            path: path.to_owned(),
        })
    }

    pub(super) fn connection(&self) -> Result<rusqlite::Connection> {
        crate::sqlite::open(&self.path, "console accounts", SCHEMA)
    }

    /// Makes an account, or with `replace` changes one's role and password.
    pub fn add(&self, name: &str, role: Role, password: &str, replace: bool) -> Result<()> {
        crate::names::check(name)
            .map_err(|why| anyhow::anyhow!("`{name}` is not a name: {why}"))?;
        if password.chars().count() < MIN_PASSWORD {
            bail!("the password is too short: at least {MIN_PASSWORD} characters");
        }
        let hash = hash(password)?;
        let conn = self.connection()?;
        let verb = if replace {
            "INSERT OR REPLACE"
        } else {
            "INSERT"
        };
        let written = conn.execute(
            &format!("{verb} INTO accounts (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)"),
            rusqlite::params![name, role.as_str(), hash, crate::event::now_ms() as i64],
        );
        match written {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                bail!("there is already an account `{name}` (`--replace` changes it)")
            }
            other => other.with_context(|| format!("writing {}", self.path.display()))?,
        };
        Ok(())
    }

    /// Changes account `name`'s role, its password kept; false if there is
    /// no such account.
    pub fn set_role(&self, name: &str, role: Role) -> Result<bool> {
        let conn = self.connection()?;
        let changed = conn
            .execute(
                "UPDATE accounts SET role = ?1 WHERE name = ?2",
                [role.as_str(), name],
            )
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(changed > 0)
    }

    /// Removes an account (and its links); false if there was none.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let conn = self.connection()?;
        conn.execute("DELETE FROM links WHERE account = ?1", [name])?;
        Ok(conn.execute("DELETE FROM accounts WHERE name = ?1", [name])? > 0)
    }

    pub fn list(&self) -> Result<Vec<Account>> {
        let conn = self.connection()?;
        let mut statement = conn.prepare("SELECT name, role FROM accounts ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role) = row?;
            if let Some(role) = Role::parse(&role) {
                out.push(Account { name, role });
            }
        }
        Ok(out)
    }

    /// The account `name` as it is now, if it exists.
    pub fn get(&self, name: &str) -> Result<Option<Account>> {
        Ok(self.row(name)?.map(|(role, _)| Account {
            name: name.to_owned(),
            role,
        }))
    }

    fn row(&self, name: &str) -> Result<Option<(Role, String)>> {
        let conn = self.connection()?;
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT role, hash FROM accounts WHERE name = ?1",
                [name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(role, hash)| Some((Role::parse(&role)?, hash))))
    }

    /// The account, if `password` is its password. An unknown name costs
    /// the same hashing as a known one, so timing does not tell which
    /// names exist. Slow on purpose (argon2id): run it off the runtime.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<Account>> {
        let row = self.row(name)?;
        let stored = match &row {
            Some((_, hash)) => hash.clone(),
            None => unknown_hash().to_owned(),
        };
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("the stored hash of `{name}` is damaged: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(match row {
            Some((role, _)) if matches => Some(Account {
                name: name.to_owned(),
                role,
            }),
            _ => None,
        })
    }
}

impl Accounts {
    /// A new API token for `account`, acting with `role` (or the account's,
    /// if lower): `(id, token)`. The token is shown this once.
    pub fn issue_token(&self, account: &str, role: Role, note: &str) -> Result<(String, String)> {
        if self.get(account)?.is_none() {
            bail!("there is no account `{account}`");
        }
        let id = hex(&rand::random::<[u8; 4]>());
        let secret = hex(&rand::random::<[u8; 16]>());
        let conn = self.connection()?;
        conn.execute(
            "INSERT INTO tokens (id, account, role, hash, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![id, account, role.as_str(), secret_digest(&secret), note, crate::event::now_ms() as i64],
        )
        .with_context(|| format!("writing {}", self.path.display()))?;
        Ok((id.clone(), format!("{TOKEN_PREFIX}{id}_{secret}")))
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let conn = self.connection()?;
        let mut statement = conn.prepare(
            "SELECT id, account, role, note, created_at, revoked FROM tokens ORDER BY created_at, id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, bool>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, account, role, note, created_at, revoked) = row?;
            if let Some(role) = Role::parse(&role) {
                out.push(TokenInfo {
                    id,
                    account,
                    role,
                    note,
                    created_at: created_at as u64,
                    revoked,
                });
            }
        }
        Ok(out)
    }

    /// Revokes token `id`; false if there is none.
    pub fn revoke_token(&self, id: &str) -> Result<bool> {
        let conn = self.connection()?;
        Ok(conn.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])? > 0)
    }

    /// Who `token` acts as, with the lower of its role and its account's,
    /// and the token's id; `None` for a token that is not one, is revoked,
    /// or whose account is gone.
    pub fn check_token(&self, token: &str) -> Result<Option<(Account, String)>> {
        let Some((id, secret)) = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| t.split_once('_'))
        else {
            return Ok(None);
        };
        let conn = self.connection()?;
        let row: Option<(String, String, String, bool)> = conn
            .query_row(
                "SELECT account, role, hash, revoked FROM tokens WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((account, role, hash, revoked)) = row else {
            return Ok(None);
        };
        if revoked || !same_secret(&secret_digest(secret), &hash) {
            return Ok(None);
        }
        let (Some(role), Some(owner)) = (Role::parse(&role), self.get(&account)?) else {
            return Ok(None);
        };
        Ok(Some((
            Account {
                name: owner.name,
                role: role.min(owner.role),
            },
            id.to_owned(),
        )))
    }
}

/// A token's secret part as kept: 128 random bits need no slow hash.
fn secret_digest(secret: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// An argon2id hash of `password` with a fresh salt and argon2's
/// recommended parameters (19 MiB, two passes).
fn hash(password: &str) -> Result<String> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
        .to_string())
}

/// A hash no password is checked against successfully in practice, for
/// names that do not exist (made once per process).
fn unknown_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random: [u8; 32] = rand::random();
        hash(&hex(&random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_checked_by_its_password_and_its_role_kept() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("console.db")).unwrap();
        accounts
            .add("alice", Role::Operator, "correct horse battery", false)
            .unwrap();
        let alice = accounts.verify("alice", "correct horse battery").unwrap();
        assert_eq!(alice.map(|a| a.role), Some(Role::Operator));
        assert_eq!(
            accounts.verify("alice", "wrong horse battery").unwrap(),
            None
        );
        assert_eq!(
            accounts.verify("nobody", "correct horse battery").unwrap(),
            None
        );
        let again = accounts.add("alice", Role::Admin, "another long password", false);
        assert!(
            again
                .unwrap_err()
                .to_string()
                .contains("already an account")
        );
        accounts
            .add("alice", Role::Admin, "another long password", true)
            .unwrap();
        assert_eq!(
            accounts.get("alice").unwrap().map(|a| a.role),
            Some(Role::Admin)
        );
        assert!(accounts.add("bob", Role::Viewer, "short", false).is_err());
        assert!(
            accounts
                .add("Bob Smith", Role::Viewer, "long enough here", false)
                .is_err()
        );
        // At rest: a PHC string, never the password.
        let conn = rusqlite::Connection::open(dir.path().join("console.db")).unwrap();
        let stored: String = conn
            .query_row("SELECT hash FROM accounts WHERE name = 'alice'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("another long password"));
        assert!(accounts.remove("alice").unwrap());
        assert_eq!(accounts.get("alice").unwrap(), None);
    }

    #[test]
    fn a_token_acts_with_the_lower_role_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("console.db")).unwrap();
        assert!(accounts.issue_token("ghost", Role::Viewer, "").is_err());
        accounts
            .add("carol", Role::Operator, "carol's long password", false)
            .unwrap();
        let (id, token) = accounts
            .issue_token("carol", Role::Admin, "deploys")
            .unwrap();
        let (who, by) = accounts.check_token(&token).unwrap().unwrap();
        assert_eq!(
            (who.name.as_str(), who.role, by.as_str()),
            ("carol", Role::Operator, id.as_str())
        );
        let forged = format!("{}0", &token[..token.len() - 1]);
        assert_eq!(accounts.check_token(&forged).unwrap(), None);
        assert_eq!(accounts.check_token("sbt_nothing").unwrap(), None);
        let listed = accounts.tokens().unwrap();
        assert_eq!(
            (listed[0].note.as_str(), listed[0].revoked),
            ("deploys", false)
        );
        assert!(accounts.revoke_token(&id).unwrap());
        assert_eq!(accounts.check_token(&token).unwrap(), None);
        let (_, viewer) = accounts.issue_token("carol", Role::Viewer, "").unwrap();
        assert_eq!(
            accounts.check_token(&viewer).unwrap().unwrap().0.role,
            Role::Viewer
        );
        accounts.remove("carol").unwrap();
        assert_eq!(accounts.check_token(&viewer).unwrap(), None);
    }
}
