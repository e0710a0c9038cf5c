//! Answers in the order their questions were asked, while the questions are
//! handled at once. A connector notes each event it submits for a
//! conversation; an answer to the oldest unfinished event goes out at once,
//! an answer to a later one waits until the events before it are finished.
//! So a slow skill delays no other conversation, and one conversation's
//! transcript never interleaves out of order.
//!
//! Order has a deadline: an event unfinished for longer than the wait the
//! connector gives (a skill with a long budget, or one stuck on a dead
//! worker until its redelivery) stops holding the answers behind it. The
//! conversation is told it is still running, its later answers go out as
//! they come, and the answers behind it go out at once.

use crate::event::EventId;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

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
    /// What was asked, for the notice that it is still running.
    asked: String,
    since: Instant,
    held: Vec<T>,
    finished: bool,
}

/// How much of what was asked a "still running" notice repeats.
const ASKED_SHOWN: usize = 60;

/// The notice for an event that stopped holding the answers behind it.
pub fn still_running(asked: &str) -> String {
    let mut shown: String = asked.chars().take(ASKED_SHOWN).collect();
    if shown.len() < asked.len() {
        shown.push('…');
    }
    format!("⌛ `{shown}` is still running; answers continue")
}

impl<T> InOrder<T> {
    /// Notes an event about to be submitted, with what was asked.
    pub fn expect(&mut self, id: EventId, asked: &str, now: Instant) {
        self.pending.push_back(Pending {
            id,
            asked: asked.lines().next().unwrap_or_default().to_owned(),
            since: now,
            held: Vec::new(),
            finished: false,
        });
    }

    /// Lets go of the oldest events unfinished for `wait` or longer while
    /// answers wait behind them: returns, in order, for each a notice
    /// (made by `notice` from what was asked) and then what may go out.
    /// A released event's later answers go out as they come.
    pub fn overdue(&mut self, now: Instant, wait: Duration, notice: impl Fn(&str) -> T) -> Vec<T> {
        let mut out = Vec::new();
        loop {
            let waiting_behind = self
                .pending
                .iter()
                .skip(1)
                .any(|p| !p.held.is_empty() || p.finished);
            match self.pending.front_mut() {
                Some(front)
                    if !front.finished
                        && waiting_behind
                        && now.saturating_duration_since(front.since) >= wait =>
                {
                    let front = self.pending.pop_front().expect("a front");
                    out.push(notice(&front.asked));
                    out.extend(front.held);
                    // What finished behind it goes now; the next unfinished
                    // event is the front, with its own deadline.
                    while let Some(next) = self.pending.front_mut() {
                        out.append(&mut next.held);
                        if !next.finished {
                            break;
                        }
                        self.pending.pop_front();
                    }
                }
                _ => return out,
            }
        }
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
    pub fn expect(&mut self, key: &K, id: EventId, asked: &str, now: Instant) {
        self.by_key
            .entry(key.clone())
            .or_default()
            .expect(id, asked, now);
        self.owner.insert(id, key.clone());
    }

    /// Every conversation's overdue events let go of (see
    /// [`InOrder::overdue`]): the conversations and what may go out now.
    pub fn overdue(
        &mut self,
        now: Instant,
        wait: Duration,
        notice: impl Fn(&str) -> T,
    ) -> Vec<(K, Vec<T>)> {
        let mut out = Vec::new();
        for (key, c) in &mut self.by_key {
            let before: Vec<EventId> = c.pending.iter().map(|p| p.id).collect();
            let items = c.overdue(now, wait, &notice);
            if items.is_empty() {
                continue;
            }
            // A released event is no longer this conversation's to order.
            for id in before {
                if !c.pending.iter().any(|p| p.id == id) {
                    self.owner.remove(&id);
                }
            }
            out.push((key.clone(), items));
        }
        out
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
        let now = Instant::now();
        let mut o = InOrder::default();
        o.expect(a, "a", now);
        o.expect(b, "b", now);
        o.expect(c, "c", now);
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

    #[test]
    fn an_overdue_event_stops_holding_the_answers_behind_it() {
        let (a, b, c) = (EventId(1), EventId(2), EventId(3));
        let t0 = Instant::now();
        let wait = Duration::from_secs(10);
        let notice = |asked: &str| format!("still: {asked}");
        let mut o = InOrder::default();
        o.expect(a, "work 3000\nmore lines", t0);
        o.expect(b, "hello", t0);
        o.expect(c, "hi", t0);
        assert_eq!(o.answer(Some(b), "b1".to_string()), None);
        assert!(o.finished(b).is_empty());
        // Not yet due, or nothing behind it: nothing moves.
        assert!(
            o.overdue(t0 + Duration::from_secs(9), wait, notice)
                .is_empty()
        );
        // Due: the notice, then b's answer; c, unfinished, is now first.
        assert_eq!(
            o.overdue(t0 + wait, wait, notice),
            vec!["still: work 3000".to_string(), "b1".to_string()]
        );
        assert_eq!(o.answer(Some(c), "c1".to_string()), Some("c1".to_string()));
        // a's late answer goes out as it comes.
        assert_eq!(o.answer(Some(a), "a1".to_string()), Some("a1".to_string()));
        assert!(o.finished(a).is_empty());
        assert!(o.finished(c).is_empty());
        assert_eq!(o.held(), 0);
    }

    #[test]
    fn an_event_alone_is_never_overdue() {
        let t0 = Instant::now();
        let mut o: InOrder<String> = InOrder::default();
        o.expect(EventId(1), "deploy", t0);
        assert!(
            o.overdue(
                t0 + Duration::from_secs(3600),
                Duration::from_secs(1),
                |a| a.to_string()
            )
            .is_empty()
        );
        assert_eq!(
            o.answer(Some(EventId(1)), "done".into()),
            Some("done".into())
        );
    }

    #[test]
    fn the_notice_names_what_was_asked_briefly() {
        assert_eq!(
            still_running("work 3000"),
            "⌛ `work 3000` is still running; answers continue"
        );
        assert_eq!(
            still_running(&"x".repeat(100))
                .chars()
                .filter(|c| *c == 'x')
                .count(),
            ASKED_SHOWN
        );
    }
}
