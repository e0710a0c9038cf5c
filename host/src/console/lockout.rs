//! Login rate limiting: after [`MAX_FAILURES`] failed logins within
//! [`WINDOW`] for one account name, or from one client address, further
//! logins for it are refused for [`LOCKED_FOR`] without checking the
//! password (so guessing costs the guesser, not the bot's CPU). A success
//! clears the name's count. Bounded: past [`MAX_KEYS`] entries the
//! stale ones go, then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCKED_FOR: Duration = Duration::from_secs(15 * 60);
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

#[derive(Default)]
pub struct Lockout {
    failures: Mutex<HashMap<String, Failures>>,
}

fn keys(name: &str, client: IpAddr) -> [String; 2] {
    [format!("name:{name}"), format!("ip:{client}")]
}

impl Lockout {
    /// `Err(wait)` while logins for `name` or from `client` are locked.
    pub fn check(&self, name: &str, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys(name, client)
            .iter()
            .filter_map(|k| all.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed login; true if it locked the name or the address.
    pub fn failed(&self, name: &str, client: IpAddr) -> bool {
        let now = Instant::now();
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX_KEYS {
            // Stale counts first, then counts that locked nothing, then
            // all: each purge frees much, so a flood costs little.
            all.retain(|_, f| {
                now.duration_since(f.first) < WINDOW || f.locked_until.is_some_and(|u| u > now)
            });
            if all.len() >= MAX_KEYS {
                all.retain(|_, f| f.locked_until.is_some_and(|u| u > now));
            }
            if all.len() >= MAX_KEYS {
                all.clear();
            }
        }
        let mut locked = false;
        for key in keys(name, client) {
            let entry = all.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                locked_until: None,
            });
            if now.duration_since(entry.first) >= WINDOW
                && entry.locked_until.is_none_or(|u| u <= now)
            {
                *entry = Failures {
                    count: 0,
                    first: now,
                    locked_until: None,
                };
            }
            entry.count += 1;
            if entry.count >= MAX_FAILURES {
                entry.locked_until = Some(now + LOCKED_FOR);
                locked = true;
            }
        }
        locked
    }

    /// A login succeeded: the name's failures are forgotten.
    pub fn succeeded(&self, name: &str) {
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(&format!("name:{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_name_and_the_address() {
        let lockout = Lockout::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            assert!(!lockout.failed("alice", here));
        }
        assert!(lockout.check("alice", here).is_ok());
        assert!(lockout.failed("alice", here));
        assert!(lockout.check("alice", here).is_err());
        // The name is locked from anywhere, the address for any name.
        assert!(lockout.check("alice", there).is_err());
        assert!(lockout.check("bob", here).is_err());
        assert!(lockout.check("bob", there).is_ok());
    }

    #[test]
    fn a_flood_of_names_stays_bounded() {
        let lockout = Lockout::default();
        for i in 0..(MAX_KEYS as u32 + 500) {
            let ip = IpAddr::from([127, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            lockout.failed(&format!("n{i}"), ip);
        }
        assert!(lockout.failures.lock().unwrap().len() <= MAX_KEYS + 1);
    }
}
