//! What every skill loaded from the same bytes shares: the compiled
//! component and its linked, type-checked `InstancePre`. A skill file
//! configured a thousand times under different names is compiled (or read
//! from the cache), registered with the unwinder and linked once, and its
//! instances reuse the same pool slots (and their warm memory images).

use super::cache::Compiled;
use super::instance::{Pre, World};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

pub struct Shared {
    pub(super) component: wasmtime::component::Component,
    pub(super) pre: Pre,
    pub(super) world: World,
}

/// The compiled forms of the skills loaded now, by the sha256 of their bytes.
/// Weak: a form goes when the last skill using it is unloaded.
#[derive(Default)]
pub struct SharedComponents {
    by_sha: Mutex<HashMap<String, Weak<Shared>>>,
}

impl SharedComponents {
    /// A live skill's compiled form for these bytes, if there is one.
    pub fn get(&self, sha256: &str) -> Option<(Arc<Shared>, Compiled)> {
        let start = std::time::Instant::now();
        let map = self.by_sha.lock().unwrap_or_else(|e| e.into_inner());
        let shared = map.get(sha256)?.upgrade()?;
        let compiled = Compiled {
            from_cache: true,
            took: start.elapsed(),
        };
        Some((shared, compiled))
    }

    pub fn offer(&self, sha256: &str, shared: &Arc<Shared>) {
        let mut map = self.by_sha.lock().unwrap_or_else(|e| e.into_inner());
        // Forget forms no longer used, now and then, so the map stays the
        // size of what is loaded.
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(sha256.to_owned(), Arc::downgrade(shared));
    }
}
