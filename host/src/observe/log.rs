//! The operator's log of executions: a failure is a warning with the skill,
//! its version and matcher; a success is a debug line with its duration.
//! Both name the execution's id, as every line inside an execution does
//! through its span.

use super::Observer;
use crate::event::{Execution, Outcome};
use crate::text::for_log;

pub struct LogObserver;

impl Observer for LogObserver {
    fn executed(&self, e: &Execution) {
        match (e.outcome, &e.error) {
            (Outcome::Ok, _) | (_, None) => tracing::debug!(
                skill = %for_log(&e.skill),
                version = %for_log(&e.version),
                matcher = %for_log(&e.matcher),
                outcome = %e.outcome,
                micros = e.micros,
                execution = %e.id,
                "executed"
            ),
            // The error is a skill's (or a user's) text: escaped, on one line.
            (_, Some(error)) => tracing::warn!(
                skill = %for_log(&e.skill),
                version = %for_log(&e.version),
                matcher = %for_log(&e.matcher),
                outcome = %e.outcome,
                execution = %for_log(&e.id),
                "{}",
                for_log(error)
            ),
        }
    }
}
