//! Webhook deliveries already taken, so one delivered twice runs once:
//! senders retry (GitHub's "redeliver", a proxy's retry after a timeout)
//! with the same id in a header the operator names
//! (`webhook.delivery-header`). An id is remembered for
//! `webhook.delivery-window` after it was taken, and at most [`MAX_IDS`]
//! ids are kept over all hooks, the oldest forgotten first: memory is
//! bounded whatever arrives. Only requests that proved the secret are
//! remembered, so no one else can make a real delivery look like a
//! duplicate.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most ids kept, over every hook.
pub const MAX_IDS: usize = 10_000;

/// The longest id kept; a longer one is kept cut (ids are short: GitHub's
/// is a UUID).
const MAX_ID: usize = 200;

#[derive(Default)]
pub struct Deliveries {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Hook and id, to when it was taken.
    at: HashMap<String, Instant>,
    /// The same, oldest first, to forget them in order.
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn forget_old(&mut self, now: Instant, window: Duration) {
        while let Some((at, key)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) >= window;
            if !expired && self.order.len() <= MAX_IDS {
                break;
            }
            // An id taken again later (after it was forgotten) has a
            // newer entry: only the entry's own time removes it.
            if self.at.get(key) == Some(at) {
                self.at.remove(key);
            }
            self.order.pop_front();
        }
    }
}

fn key(hook: &str, id: &str) -> String {
    let mut id = id.trim();
    if id.len() > MAX_ID {
        let mut end = MAX_ID;
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        id = &id[..end];
    }
    format!("{hook}\0{id}")
}

impl Deliveries {
    /// Takes delivery `id` of `hook` (remembered for `window`): false when
    /// it was taken within the window before (a duplicate).
    pub fn take(&self, hook: &str, id: &str, window: Duration) -> bool {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.forget_old(now, window);
        let key = key(hook, id);
        if let Some(at) = seen.at.get(&key)
            && now.saturating_duration_since(*at) < window
        {
            return false;
        }
        seen.at.insert(key.clone(), now);
        seen.order.push_back((now, key));
        seen.forget_old(now, window);
        true
    }

    /// Forgets delivery `id` of `hook`: it was not run after all (the skill
    /// was busy, the bot stopping), so the sender's retry should run.
    pub fn forget(&self, hook: &str, id: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.at.remove(&key(hook, id));
    }

    /// Ids remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_runs_once_within_its_window_and_memory_is_bounded() {
        let d = Deliveries::default();
        let hour = Duration::from_secs(3600);
        assert!(d.take("a", "1", hour));
        assert!(!d.take("a", "1", hour), "the same delivery again");
        assert!(d.take("b", "1", hour), "another hook's id is its own");
        d.forget("a", "1");
        assert!(d.take("a", "1", hour), "forgotten: runs again");
        // A short window: remembered, then not.
        assert!(d.take("a", "2", Duration::from_millis(30)));
        assert!(!d.take("a", "2", Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(d.take("a", "2", Duration::from_millis(30)));
        // A flood of ids keeps at most MAX_IDS.
        for n in 0..MAX_IDS + 500 {
            d.take("flood", &n.to_string(), hour);
        }
        assert!(d.len() <= MAX_IDS, "{}", d.len());
        assert!(d.take("flood", "0", hour), "the oldest was forgotten");
        assert!(!d.take("flood", &(MAX_IDS + 499).to_string(), hour));
    }
}
