//! The rate at which one skill may write to the bot's log: a token bucket
//! per skill, shared by all its events, so a chatty or hostile skill cannot
//! flood the operator's log.

use std::sync::Mutex;
use std::time::Instant;

/// Lines per second a skill may log on average...
pub const RATE: f64 = 20.0;
/// ...and in one burst.
const BURST: f64 = 100.0;

/// A token bucket per skill. The lock is the skill's own and held for a few
/// instructions, never across an await.
pub struct LogLimiter {
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter {
            bucket: Mutex::new(Bucket {
                tokens: BURST,
                at: Instant::now(),
                dropped: 0,
            }),
        }
    }
}

impl LogLimiter {
    /// `Some(lines dropped since the last line let through)` when this line
    /// may be logged, `None` when it is dropped.
    pub fn admit(&self) -> Option<u64> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * RATE).min(BURST);
        b.at = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return None;
        }
        b.tokens -= 1.0;
        Some(std::mem::take(&mut b.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_and_the_drop_counted() {
        let limiter = LogLimiter::default();
        let admitted = (0..1000).filter(|_| limiter.admit().is_some()).count();
        assert!((100..=130).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(120));
        let dropped = limiter.admit().expect("tokens refill");
        assert!(dropped >= 890, "{dropped}");
    }
}
