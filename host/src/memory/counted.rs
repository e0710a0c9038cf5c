//! Counts what skills ask of their memory, by operation and result, for
//! `/metrics`: a wrapper around whichever backend is configured, costing an
//! atomic add per call.

use super::{MemoryStore, Quota, WriteError};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const OPS: [&str; 3] = ["get", "put", "delete"];
/// `refused`: a put over the skill's quota, which wrote nothing.
const RESULTS: [&str; 3] = ["ok", "error", "refused"];

/// Calls so far, by operation and result.
#[derive(Default)]
pub struct MemoryCounts {
    cells: [[AtomicU64; 3]; 3],
}

impl MemoryCounts {
    fn add(&self, op: usize, result: usize) {
        self.cells[op][result].fetch_add(1, Ordering::Relaxed);
    }

    /// Every (operation, result, count) so far.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::with_capacity(9);
        for (op, row) in OPS.iter().zip(&self.cells) {
            for (result, cell) in RESULTS.iter().zip(row) {
                out.push((*op, *result, cell.load(Ordering::Relaxed)));
            }
        }
        out
    }
}

pub struct Counted {
    inner: Arc<dyn MemoryStore>,
    counts: Arc<MemoryCounts>,
}

impl Counted {
    pub fn new(inner: Arc<dyn MemoryStore>) -> Counted {
        Counted {
            inner,
            counts: Arc::default(),
        }
    }

    pub fn counts(&self) -> Arc<MemoryCounts> {
        self.counts.clone()
    }
}

impl MemoryStore for Counted {
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<Option<String>>> {
        let (asked, counts) = (self.inner.get(skill, key), self.counts.clone());
        Box::pin(async move {
            let got = asked.await;
            counts.add(0, usize::from(got.is_err()));
            got
        })
    }

    fn put(
        &self,
        skill: &str,
        key: &str,
        value: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let (asked, counts) = (
            self.inner.put(skill, key, value, quota),
            self.counts.clone(),
        );
        Box::pin(async move {
            let put = asked.await;
            counts.add(
                1,
                match &put {
                    Ok(()) => 0,
                    Err(WriteError::Backend(_)) => 1,
                    Err(WriteError::Quota(_)) => 2,
                },
            );
            put
        })
    }

    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<()>> {
        let (asked, counts) = (self.inner.delete(skill, key), self.counts.clone());
        Box::pin(async move {
            let deleted = asked.await;
            counts.add(2, usize::from(deleted.is_err()));
            deleted
        })
    }
}
