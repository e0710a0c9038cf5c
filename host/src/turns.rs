//! Turns: the chat commands of one conversation run one after another, in
//! the order they were received. Events are otherwise handled at once, each
//! in its own task, so `skill disable x` and then `skill enable x` sent
//! back to back could run in either order (the second answering "already
//! enabled" while the first then disabled it). A command takes its turn
//! when it is received (synchronously, so the order is the connector's),
//! and waits for the command before it in the same conversation to finish.
//!
//! Only commands wait, only for their own conversation's: no conversation
//! waits on another, and messages for skills never wait. Memory is bounded
//! by the commands under way: a conversation's entry goes with its last
//! command. The map's lock is held for an insert or a remove, and only for
//! messages that are commands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Each conversation's last command under way: its number, and what
/// resolves when it is finished (taken by the next command).
#[derive(Default)]
pub struct Turns {
    last: Mutex<HashMap<String, Tail>>,
    next: AtomicU64,
}

struct Tail {
    n: u64,
    finished: Option<oneshot::Receiver<()>>,
}

/// One command's turn: wait for it ([`Turn::wait`]), run, then drop it to
/// let the next command of the conversation go.
pub struct Turn {
    turns: Arc<Turns>,
    conversation: String,
    n: u64,
    before: Option<oneshot::Receiver<()>>,
    /// Dropped with the turn: the next command's `before` resolves.
    _finished: oneshot::Sender<()>,
}

impl Turns {
    /// Takes the next turn in `conversation`, after every turn taken there
    /// before it.
    pub fn take(self: &Arc<Self>, conversation: String) -> Turn {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (finished, tail) = oneshot::channel();
        let before = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let tail = Tail {
                n,
                finished: Some(tail),
            };
            last.insert(conversation.clone(), tail)
                .and_then(|mut t| t.finished.take())
        };
        Turn {
            turns: self.clone(),
            conversation,
            n,
            before,
            _finished: finished,
        }
    }

    /// Conversations with a command under way (for tests of the bound).
    pub fn conversations(&self) -> usize {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Turn {
    /// Resolves once the command before this one in its conversation has
    /// finished (at once if there is none).
    pub async fn wait(&mut self) {
        if let Some(before) = self.before.take() {
            // An error is the sender dropped: that turn is over too.
            let _ = before.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut last = self.turns.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.get(&self.conversation).is_some_and(|t| t.n == self.n) {
            last.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_conversations_turns_go_in_order_and_others_do_not_wait() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("a".into());
        let mut second = turns.take("a".into());
        let mut other = turns.take("b".into());
        // Another conversation does not wait for `a`.
        tokio::time::timeout(Duration::from_millis(100), other.wait())
            .await
            .expect("b waits for no one");
        let waiting = tokio::spawn(async move {
            second.wait().await;
            second
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "the second waits for the first");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the second goes once the first is over")
            .unwrap();
        assert_eq!(turns.conversations(), 2);
        drop(second);
        drop(other);
        assert_eq!(turns.conversations(), 0, "nothing kept once all are over");
    }
}
