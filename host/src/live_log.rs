//! The bot's own log, kept for the operator's console: the last
//! [`RECENT`] lines (JSON, one event each, with the fields of the spans it
//! happened in, so an execution's id and its skill's name are on every line
//! it causes), and every new line to whoever listens. `logging` writes
//! here; the console reads. Bounded both ways: the recent lines are a ring,
//! and a listener too slow for [`LIVE`] lines loses the oldest, told how
//! many.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;

/// Lines kept for a console that opens the log.
pub const RECENT: usize = 500;
/// Lines a listener may fall behind by.
const LIVE: usize = 1024;

struct Hub {
    recent: Mutex<VecDeque<Arc<str>>>,
    live: broadcast::Sender<Arc<str>>,
}

fn hub() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| Hub {
        recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        live: broadcast::channel(LIVE).0,
    })
}

/// Keeps one line (its line break taken off) and hands it to listeners.
pub fn push(line: &str) {
    let line: Arc<str> = line.trim_end_matches('\n').into();
    let hub = hub();
    {
        let mut recent = hub.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(line.clone());
    }
    let _ = hub.live.send(line);
}

/// The lines kept, oldest first.
pub fn recent() -> Vec<Arc<str>> {
    let recent = hub().recent.lock().unwrap_or_else(|e| e.into_inner());
    recent.iter().cloned().collect()
}

/// Every line from now on.
pub fn subscribe() -> broadcast::Receiver<Arc<str>> {
    hub().live.subscribe()
}

/// A writer that keeps what it is given as log lines (`logging` wraps it
/// in its one-line guard).
#[derive(Clone, Copy, Default)]
pub struct Writer;

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in String::from_utf8_lossy(buf).lines() {
            if !line.is_empty() {
                push(line);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_lines_are_a_ring_and_listeners_hear_new_ones() {
        let mut listening = subscribe();
        for i in 0..RECENT + 10 {
            push(&format!("line {i}\n"));
        }
        let kept = recent();
        assert_eq!(kept.len(), RECENT);
        assert_eq!(&*kept[RECENT - 1], format!("line {}", RECENT + 9));
        assert_eq!(&*listening.try_recv().unwrap(), "line 0");
    }
}
