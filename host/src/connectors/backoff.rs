//! Reconnecting politely: exponential backoff with jitter, for every
//! connector that dials out. A server that restarts is found again within a
//! second or two; one that stays down is asked at most once a minute, and
//! many bots that lost it together do not come back in step.

use rand::Rng;
use std::time::Duration;

pub struct Backoff {
    attempt: u32,
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(60))
    }
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            attempt: 0,
            first,
            max,
        }
    }

    /// The failed attempts since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A connection worked: the next failure starts from the first delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// After a failed attempt: logs it once, shows it in the connector's
    /// status, and waits before the next try.
    pub async fn wait_after(
        &mut self,
        connector: &str,
        status: &super::Status,
        what: &str,
        error: &str,
    ) {
        let wait = self.fail();
        let attempt = self.attempt;
        tracing::warn!(
            connector,
            attempt,
            "{what}: {error}; retrying in {:.1} s",
            wait.as_secs_f64()
        );
        status.set(format!("reconnecting (attempt {attempt}): {error}"));
        tokio::time::sleep(wait).await;
    }

    /// Counts a failure and returns how long to wait before the next try:
    /// `first · 2^n` capped at `max`, then a random point in its upper half.
    pub fn fail(&mut self) -> Duration {
        let exp = self.attempt.min(16);
        self.attempt += 1;
        let full = self.first.saturating_mul(1 << exp).min(self.max);
        let half = full / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_and_stop_at_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| b.fail()).collect();
        for (n, d) in delays.iter().enumerate() {
            let full = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(1));
            assert!(
                *d >= full / 2 && *d <= full,
                "attempt {n}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        assert_eq!(b.attempt(), 8);
        b.reset();
        assert!(b.fail() <= Duration::from_millis(100));
    }
}
