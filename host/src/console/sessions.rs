//! Logged-in operators: a random token in an HttpOnly, SameSite=Strict
//! cookie names a session, which holds who logged in and a CSRF token that
//! every state change must carry back in `X-CSRF-Token`. Sessions live in
//! memory (a restart logs everyone out), found by the token's SHA-256 so
//! the tokens themselves are not kept, and end after `console.session-ttl`
//! or at logout.

use super::secrets::hex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "sandbot-session";
/// Sessions kept at once; past it the oldest ends (a flood of logins
/// cannot grow memory without bound).
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    /// The account's name (its role is read afresh at each request).
    pub name: String,
    pub csrf: String,
    started: Instant,
}

pub struct Sessions {
    ttl: Duration,
    by_token: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            by_token: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for `name`: its cookie token and the session.
    pub fn start(&self, name: &str) -> (String, Session) {
        let token = hex(&rand::random::<[u8; 32]>());
        let session = Session {
            name: name.to_owned(),
            csrf: hex(&rand::random::<[u8; 16]>()),
            started: Instant::now(),
        };
        let mut all = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.ttl;
        all.retain(|_, s| s.started.elapsed() < ttl);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k)
        {
            all.remove(&oldest);
        }
        all.insert(digest(&token), session.clone());
        (token, session)
    }

    /// The session `token` names, if it has not ended.
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut all = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let key = digest(token);
        match all.get(&key) {
            Some(s) if s.started.elapsed() < self.ttl => Some(s.clone()),
            Some(_) => {
                all.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, token: &str) {
        let mut all = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&digest(token));
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_at_logout_and_after_its_time() {
        let sessions = Sessions::new(Duration::from_millis(200));
        let (token, session) = sessions.start("alice");
        assert_eq!(sessions.get(&token).unwrap().name, "alice");
        assert_eq!(sessions.get(&token).unwrap().csrf, session.csrf);
        assert!(sessions.get("not-a-token").is_none());
        sessions.end(&token);
        assert!(sessions.get(&token).is_none());
        let (token, _) = sessions.start("alice");
        std::thread::sleep(Duration::from_millis(250));
        assert!(sessions.get(&token).is_none());
    }
}
