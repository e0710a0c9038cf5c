//! The work the bot has taken on and not finished: events being handled and
//! executions running in the background after an ack. Shutdown reads it to
//! stop taking events, wait for what runs (up to the grace period), and
//! stop what is left; a piped shell reads it to wait for answers still to
//! come before it ends. The pieces are counted by tokio-util's `TaskTracker`
//! (a token each): entering and leaving is an atomic add, nothing here
//! locks on the message path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};

pub struct Work {
    /// Each piece of work holds one of its tokens. It is closed from the
    /// start: closing a `TaskTracker` only lets `wait` resolve once it is
    /// empty, it refuses nothing; refusing new events is `closed`'s job.
    pieces: TaskTracker,
    closed: AtomicBool,
    stop: CancellationToken,
}

impl Default for Work {
    fn default() -> Work {
        let pieces = TaskTracker::new();
        pieces.close();
        Work {
            pieces,
            closed: AtomicBool::new(false),
            stop: CancellationToken::new(),
        }
    }
}

/// One piece of work; it is finished when this is dropped.
pub struct Entered {
    _token: TaskTrackerToken,
}

impl Work {
    /// Counts a piece of work in. Work of an event already taken is always
    /// counted, even while closing: closing refuses new events only.
    pub fn enter(self: &Arc<Self>) -> Entered {
        Entered {
            _token: self.pieces.token(),
        }
    }

    /// Pieces of work not finished.
    pub fn running(&self) -> usize {
        self.pieces.len()
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
        self.pieces.wait().await
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
