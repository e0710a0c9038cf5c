//! Admission per skill: at most `limits.concurrency` events of one skill run
//! at once and at most `limits.queue` wait for a place; past that an event is
//! refused as busy at once. One skill's flood then holds a bounded share of
//! the instance pool and of the bot's attention, and never makes another
//! skill's events fail.

use super::failure::Failure;
use crate::limits::Limits;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

pub struct Gate {
    running: Semaphore,
    concurrency: u32,
    queue: u32,
    waiting: AtomicU32,
}

/// A place to run; the event holds it until it ends.
pub struct Admitted<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Gate {
    pub fn new(limits: &Limits) -> Gate {
        let concurrency = limits.concurrency.max(1);
        Gate {
            running: Semaphore::new(concurrency as usize),
            concurrency,
            queue: limits.queue,
            waiting: AtomicU32::new(0),
        }
    }

    pub async fn admit(&self) -> Result<Admitted<'_>, Failure> {
        if let Ok(permit) = self.running.try_acquire() {
            return Ok(Admitted { _permit: permit });
        }
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if waiting >= self.queue {
            return Err(Failure::Busy {
                running: self.concurrency,
                waiting,
            });
        }
        let permit = self
            .running
            .acquire()
            .await
            .expect("a skill's gate is never closed");
        Ok(Admitted { _permit: permit })
    }
}

/// Counts a waiter out however the wait ends (admitted, refused, cancelled).
struct Leave<'a>(&'a AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_an_event_is_busy_at_once() {
        let gate = Gate::new(&Limits {
            concurrency: 2,
            queue: 1,
            ..Limits::default()
        });
        let a = gate.admit().await.unwrap();
        let _b = gate.admit().await.unwrap();
        let waiter = gate.admit();
        tokio::pin!(waiter);
        // The third waits (the queue has room for one)...
        assert!(futures::poll!(waiter.as_mut()).is_pending());
        // ...and the fourth is refused at once.
        assert_eq!(
            gate.admit().await.err(),
            Some(Failure::Busy {
                running: 2,
                waiting: 1
            })
        );
        drop(a);
        assert!(waiter.await.is_ok(), "a freed place goes to the waiter");
    }
}
