//! Keeps every execution record in the history (`crate::history`), which
//! queues it and writes it off the message path.

use super::Observer;
use crate::event::{EventId, Execution};
use crate::history::History;
use std::sync::Arc;

pub struct HistoryObserver(pub Arc<History>);

/// The most executions one event is looked for under (`<event>-0`, ...).
const EXECUTIONS_PER_EVENT: usize = 16;

impl Observer for HistoryObserver {
    fn executed(&self, execution: &Execution) {
        self.0.record(execution);
    }

    fn executed_shared(&self, execution: &Arc<Execution>) {
        self.0.record_shared(execution);
    }

    /// Records again, with `undelivered`, the executions of `event` (their
    /// ids are `<event>-<n>`): read and written off the message path.
    fn undelivered(&self, event: EventId, why: &str) {
        let history = self.0.clone();
        let why = why.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut marked = 0;
            for n in 0..EXECUTIONS_PER_EVENT {
                match history.get(&format!("{event}-{n}")) {
                    Ok(Some(mut execution)) => {
                        execution.undelivered.get_or_insert_with(|| why.clone());
                        history.record(&execution);
                        marked += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(event = %event, "cannot mark an undelivered answer in the history: {e:#}");
                        return;
                    }
                }
            }
            if marked == 0 {
                tracing::warn!(event = %event, "an undelivered answer's execution is not in the history (yet)");
            }
        });
    }

    fn started(&self, execution: &Arc<Execution>) {
        self.0.started_shared(execution);
    }
}
