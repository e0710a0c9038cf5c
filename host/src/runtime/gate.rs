//! Admission per skill: at most `limits.concurrency` events of one skill run
//! at once and at most `limits.queue` wait for a place; past that an event is
//! refused as busy at once. One skill's flood then holds a bounded share of
//! the instance pool and of the bot's attention, and never makes another
//! skill's events fail.
//!
//! Admission has two steps so a caller can learn at once whether an event
//! will be refused, before it has told anyone it is accepted: [`Gate::reserve`]
//! (no waiting: running, queued, or busy) and [`Reserved::admitted`] (waits
//! for a queued event's turn). A reservation owns its place, so it can move
//! into a background task.

use super::failure::Failure;
use crate::limits::Limits;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Gate {
    running: Arc<Semaphore>,
    concurrency: u32,
    queue: u32,
    waiting: Arc<AtomicU32>,
}

/// A place to run; the event holds it until it ends.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

/// An event the gate took: it runs now, or waits its turn in the queue.
pub enum Reserved {
    Running(Admitted),
    Queued {
        running: Arc<Semaphore>,
        _place: Leave,
    },
}

impl Gate {
    pub fn new(limits: &Limits) -> Gate {
        let concurrency = limits.concurrency.max(1);
        Gate {
            running: Arc::new(Semaphore::new(concurrency as usize)),
            concurrency,
            queue: limits.queue,
            waiting: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Takes the event, or refuses it as busy, without waiting.
    pub fn reserve(&self) -> Result<Reserved, Failure> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(Reserved::Running(Admitted { _permit: permit }));
        }
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let place = Leave(self.waiting.clone());
        if waiting >= self.queue {
            return Err(Failure::Busy {
                running: self.concurrency,
                waiting,
            });
        }
        Ok(Reserved::Queued {
            running: self.running.clone(),
            _place: place,
        })
    }
}

impl Reserved {
    /// Waits for the event's turn (at once when it is running already).
    pub async fn admitted(self) -> Admitted {
        match self {
            Reserved::Running(admitted) => admitted,
            Reserved::Queued { running, _place } => Admitted {
                _permit: running
                    .acquire_owned()
                    .await
                    .expect("a skill's gate is never closed"),
            },
        }
    }
}

/// Counts a waiter out however the wait ends (admitted, refused, cancelled).
pub struct Leave(Arc<AtomicU32>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Gate {
        async fn admit(&self) -> Result<Admitted, Failure> {
            Ok(self.reserve()?.admitted().await)
        }
    }

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

    #[tokio::test]
    async fn a_reservation_holds_its_queue_place_until_it_runs() {
        let gate = Gate::new(&Limits {
            concurrency: 1,
            queue: 1,
            ..Limits::default()
        });
        let running = gate.reserve().unwrap();
        let queued = gate.reserve().unwrap();
        assert!(matches!(queued, Reserved::Queued { .. }));
        assert!(gate.reserve().is_err(), "the queue's one place is taken");
        drop(running);
        let admitted = queued.admitted().await;
        // Running now, so the queue is free again but no place to run is.
        assert!(matches!(gate.reserve().unwrap(), Reserved::Queued { .. }));
        drop(admitted);
        assert!(matches!(gate.reserve().unwrap(), Reserved::Running(_)));
    }
}
