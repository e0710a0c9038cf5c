//! Keeps every execution record in the history (`crate::history`), which
//! queues it and writes it off the message path.

use super::Observer;
use crate::event::Execution;
use crate::history::History;
use std::sync::Arc;

pub struct HistoryObserver(pub Arc<History>);

impl Observer for HistoryObserver {
    fn executed(&self, execution: &Execution) {
        self.0.record(execution);
    }

    fn started(&self, execution: &Execution) {
        self.0.started(execution);
    }
}
