//! Counts what skills ask of their memory, by operation and result, for
//! `/metrics`: a wrapper around whichever backend is configured, costing an
//! atomic add per call.

use super::{MemoryStore, Quota, Write, WriteError};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const OPS: [&str; 6] = [
    "get",
    "put",
    "delete",
    "increment",
    "compare_and_swap",
    "batch",
];
/// `refused`: a write over the skill's quota, or one that cannot be made as
/// asked (an increment of text); either wrote nothing.
const RESULTS: [&str; 3] = ["ok", "error", "refused"];

/// Calls so far, by operation and result.
#[derive(Default)]
pub struct MemoryCounts {
    cells: [[AtomicU64; 3]; 6],
}

impl MemoryCounts {
    fn add(&self, op: usize, result: usize) {
        self.cells[op][result].fetch_add(1, Ordering::Relaxed);
    }

    /// Every (operation, result, count) so far.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::with_capacity(OPS.len() * RESULTS.len());
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
    /// Not a skill's call: not counted.
    fn stored(&self, skill: &str) -> BoxFuture<'static, anyhow::Result<super::Stored>> {
        self.inner.stored(skill)
    }

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
        counted_write(1, asked, counts)
    }

    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<()>> {
        let (asked, counts) = (self.inner.delete(skill, key), self.counts.clone());
        Box::pin(async move {
            let deleted = asked.await;
            counts.add(2, usize::from(deleted.is_err()));
            deleted
        })
    }

    fn increment(
        &self,
        skill: &str,
        key: &str,
        by: i64,
        quota: Quota,
    ) -> BoxFuture<'static, Result<i64, WriteError>> {
        let asked = self.inner.increment(skill, key, by, quota);
        counted_write(3, asked, self.counts.clone())
    }

    fn compare_and_swap(
        &self,
        skill: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<bool, WriteError>> {
        let asked = self
            .inner
            .compare_and_swap(skill, key, expected, new, quota);
        counted_write(4, asked, self.counts.clone())
    }

    fn batch(
        &self,
        skill: &str,
        writes: Vec<Write>,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let asked = self.inner.batch(skill, writes, quota);
        counted_write(5, asked, self.counts.clone())
    }
}

/// Counts a write's result under operation `op`.
fn counted_write<T: Send + 'static>(
    op: usize,
    asked: BoxFuture<'static, Result<T, WriteError>>,
    counts: Arc<MemoryCounts>,
) -> BoxFuture<'static, Result<T, WriteError>> {
    Box::pin(async move {
        let written = asked.await;
        counts.add(
            op,
            match &written {
                Ok(_) => 0,
                Err(WriteError::Backend(_)) => 1,
                Err(WriteError::Quota(_) | WriteError::Invalid(_)) => 2,
            },
        );
        written
    })
}
