//! Answers in the order their questions were asked, while the questions are
//! handled at once. A connector notes each event it submits for a
//! conversation; an answer to the oldest unfinished event goes out at once,
//! an answer to a later one waits until the events before it are finished.
//! So a slow skill delays no other conversation, and one conversation's
//! transcript never interleaves out of order.

use crate::event::EventId;
use std::collections::{HashMap, VecDeque};

/// The events of one conversation, oldest first, with the answers held back.
pub struct InOrder<T> {
    pending: VecDeque<Pending<T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            pending: VecDeque::new(),
        }
    }
}

struct Pending<T> {
    id: EventId,
    held: Vec<T>,
    finished: bool,
}

impl<T> InOrder<T> {
    /// Notes an event about to be submitted.
    pub fn expect(&mut self, id: EventId) {
        self.pending.push_back(Pending {
            id,
            held: Vec::new(),
            finished: false,
        });
    }

    /// An answer: returned to send now, or held until its turn.
    pub fn answer(&mut self, id: Option<EventId>, item: T) -> Option<T> {
        let Some(id) = id else { return Some(item) };
        match self.pending.iter_mut().position(|p| p.id == id) {
            Some(0) | None => Some(item),
            Some(at) => {
                self.pending[at].held.push(item);
                None
            }
        }
    }

    /// An event is finished: returns what may go out now, in order.
    pub fn finished(&mut self, id: EventId) -> Vec<T> {
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            p.finished = true;
        }
        let mut out = Vec::new();
        while let Some(front) = self.pending.front_mut() {
            out.append(&mut front.held);
            if !front.finished {
                break;
            }
            self.pending.pop_front();
        }
        out
    }

    /// Answers held back now.
    pub fn held(&self) -> usize {
        self.pending.iter().map(|p| p.held.len()).sum()
    }
}

/// Which conversation each event belongs to, for the connectors that track
/// several at once.
pub struct Conversations<K, T> {
    by_key: HashMap<K, InOrder<T>>,
    owner: HashMap<EventId, K>,
}

impl<K: std::hash::Hash + Eq + Clone, T> Default for Conversations<K, T> {
    fn default() -> Self {
        Conversations {
            by_key: HashMap::new(),
            owner: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, T> Conversations<K, T> {
    pub fn expect(&mut self, key: &K, id: EventId) {
        self.by_key.entry(key.clone()).or_default().expect(id);
        self.owner.insert(id, key.clone());
    }

    pub fn answer(&mut self, key: &K, id: Option<EventId>, item: T) -> Option<T> {
        match self.by_key.get_mut(key) {
            Some(c) => c.answer(id, item),
            None => Some(item),
        }
    }

    /// Returns the conversation and what may go out now.
    pub fn finished(&mut self, id: EventId) -> Option<(K, Vec<T>)> {
        let key = self.owner.remove(&id)?;
        let items = self.by_key.get_mut(&key)?.finished(id);
        Some((key, items))
    }

    pub fn held(&self, key: &K) -> usize {
        self.by_key.get(key).map_or(0, InOrder::held)
    }

    /// Forgets a conversation that ended.
    pub fn remove(&mut self, key: &K) {
        if let Some(c) = self.by_key.remove(key) {
            for p in c.pending {
                self.owner.remove(&p.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_answers_wait_for_earlier_events() {
        let (a, b, c) = (EventId(1), EventId(2), EventId(3));
        let mut o = InOrder::default();
        o.expect(a);
        o.expect(b);
        o.expect(c);
        // b is quick: its answer waits for a.
        assert_eq!(o.answer(Some(b), "b1"), None);
        assert_eq!(o.finished(b), Vec::<&str>::new());
        // a answers and finishes: a's answer at once, then b's.
        assert_eq!(o.answer(Some(a), "a1"), Some("a1"));
        assert_eq!(o.answer(Some(c), "c1"), None);
        assert_eq!(o.finished(a), vec!["b1", "c1"]);
        // c is now first: its answers go at once.
        assert_eq!(o.answer(Some(c), "c2"), Some("c2"));
        assert_eq!(o.answer(None, "notice"), Some("notice"));
        assert_eq!(o.finished(c), Vec::<&str>::new());
        assert_eq!(o.held(), 0);
    }
}
