//! The work the bot has taken on and not finished: events being handled and
//! executions running in the background after an ack. Shutdown reads it to
//! stop taking events, wait for what runs (up to the grace period), and
//! stop what is left; a piped shell reads it to wait for answers still to
//! come before it ends. Entering and leaving is an atomic add: nothing here
//! locks on the message path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Work {
    running: AtomicUsize,
    /// Woken when `running` drops to zero.
    idle: Notify,
    closed: AtomicBool,
    stop: CancellationToken,
}

/// One piece of work; it is finished when this is dropped.
pub struct Entered(Arc<Work>);

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Work {
    /// Counts a piece of work in. Work of an event already taken is always
    /// counted, even while closing: closing refuses new events only.
    pub fn enter(self: &Arc<Self>) -> Entered {
        self.running.fetch_add(1, Ordering::AcqRel);
        Entered(self.clone())
    }

    /// Pieces of work not finished.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Takes no more events from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves when no work is running.
    pub async fn idle(&self) {
        loop {
            let woken = self.idle.notified();
            tokio::pin!(woken);
            // Registered before the check, so a drop to zero in between wakes it.
            woken.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            woken.await;
        }
    }

    /// Tells all running work to stop now.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Resolves once [`Work::stop`] is called.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_waits_for_every_piece_of_work() {
        let work = Arc::new(Work::default());
        work.idle().await;
        let a = work.enter();
        let b = work.enter();
        let waiting = tokio::spawn({
            let work = work.clone();
            async move { work.idle().await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one piece still runs");
        drop(b);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("idle once both are done")
            .unwrap();
    }
}
