//! What the catalog is doing with a skill besides serving it: a new version
//! compiling (the old one serves meanwhile), or a new file that failed to
//! load (the old one, if any, still serving). Read by `skills` and `GET /`,
//! so a change that did not take is never shown as if it had.

use super::Change;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub struct Progress {
    inner: Mutex<Inner>,
}

#[derive(Default, Clone)]
pub struct Inner {
    /// Skills whose new file is compiling now.
    pub compiling: BTreeSet<String>,
    /// Skills whose newest file failed to load, and why.
    pub failed: BTreeMap<String, String>,
}

/// Marks a skill as compiling until dropped.
pub struct Compiling {
    progress: Arc<Progress>,
    name: String,
}

impl Drop for Compiling {
    fn drop(&mut self) {
        self.progress.lock().compiling.remove(&self.name);
    }
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn compiling(self: &Arc<Self>, name: &str) -> Compiling {
        self.lock().compiling.insert(name.to_owned());
        Compiling {
            progress: self.clone(),
            name: name.to_owned(),
        }
    }

    /// What a load ended in: a failure is kept until the skill loads,
    /// is unchanged (its file put back) or is removed.
    pub fn settle(&self, change: &Change) {
        let mut inner = self.lock();
        match change {
            Change::Failed { name, error, .. } => {
                inner.failed.insert(name.clone(), error.to_string());
            }
            other => {
                inner.failed.remove(other.name());
            }
        }
    }

    pub fn now(&self) -> Inner {
        self.lock().clone()
    }
}
