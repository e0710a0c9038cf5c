//! The operator's log of executions: a failure is a warning with the skill,
//! its version and matcher; a success is a debug line with its duration.
//! Both name the execution's id, as every line inside an execution does
//! through its span.

use super::Observer;
use crate::event::{Execution, Outcome};

pub struct LogObserver;

impl Observer for LogObserver {
    fn executed(&self, e: &Execution) {
        match (e.outcome, &e.error) {
            (Outcome::Ok, _) | (_, None) => tracing::debug!(
                skill = %e.skill,
                version = %e.version,
                matcher = %e.matcher,
                outcome = %e.outcome,
                micros = e.micros,
                execution = %e.id,
                "executed"
            ),
            (_, Some(error)) => tracing::warn!(
                skill = %e.skill,
                version = %e.version,
                matcher = %e.matcher,
                outcome = %e.outcome,
                execution = %e.id,
                "{error}"
            ),
        }
    }
}
