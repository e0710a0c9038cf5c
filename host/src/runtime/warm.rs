//! Instances kept for reuse, for skills whose entry opts in with
//! `instance-reuse: N` (runtimes that are slow to start, such as Python's).
//! An instance is never reused after a trap or a timeout, and idle ones are
//! bounded per skill and across the bot, because each holds a slot of the
//! shared instance pool.

use super::instance::Instance;
use super::store::State;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::Store;

/// An instance with its store, and how many events it has served.
pub struct Warm {
    pub store: Store<State>,
    pub instance: Instance,
    pub uses: u32,
}

/// Idle instances kept per skill; more concurrent events make fresh ones.
const MAX_IDLE: usize = 4;
/// Idle instances kept across all skills (each holds pool slots).
pub const MAX_IDLE_TOTAL: usize = 64;

static IDLE_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// The warm instances of one skill. Its lock is the skill's own and is held
/// only to push or pop.
#[derive(Default)]
pub struct WarmPool {
    idle: Mutex<Vec<Warm>>,
}

impl WarmPool {
    pub fn take(&self) -> Option<Warm> {
        let warm = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if warm.is_some() {
            IDLE_TOTAL.fetch_sub(1, Ordering::Relaxed);
        }
        warm
    }

    /// Keeps `warm` for a later event if there is room; drops it otherwise.
    pub fn give_back(&self, warm: Warm) {
        if IDLE_TOTAL.fetch_add(1, Ordering::Relaxed) >= MAX_IDLE_TOTAL {
            IDLE_TOTAL.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(warm);
        } else {
            IDLE_TOTAL.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let n = self.idle.get_mut().map(|v| v.len()).unwrap_or(0);
        IDLE_TOTAL.fetch_sub(n, Ordering::Relaxed);
    }
}
