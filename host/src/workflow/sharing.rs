//! What workflows ask of each other when their runs are in a store several
//! hosts share (Redis, `store/redis.rs`): `approve`, `deny` and `workflow
//! cancel` said to any host reach the host that drives the run, asked on
//! the topic `workflows` through the hosts' one [`Coordination`] (over
//! NATS on a NATS bus, else over Redis). Presence, and claiming the runs
//! of a host that is no longer alive, are the coordination's too
//! (`resume.rs`): nothing here beats or keeps keys of its own.

use super::engine::Engine;
use crate::coordination::{Answerer, AskError, Coordination};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long an asker waits for the driving host's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The topic workflow requests are asked on.
const TOPIC: &str = "workflows";

/// What one host asks of the host driving a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// `approve N [task]` / `deny N [task]` by `connector:user_id`.
    Decide {
        run: u64,
        task: Option<String>,
        connector: String,
        user_id: String,
        approve: bool,
    },
    /// `workflow cancel N`, already allowed by the asking host.
    Cancel { run: u64, who: String },
}

/// Asks `owner` to carry out `request`; returns its answer for the chat.
pub async fn ask(
    coordination: &dyn Coordination,
    owner: &str,
    request: &Request,
) -> Result<String, AskError> {
    let body = serde_json::to_vec(request).map_err(|e| AskError::Unreachable(e.into()))?;
    let answer = coordination.ask(owner, TOPIC, body, ANSWER_WITHIN).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Hears requests for the runs driven here and carries each out, until
/// dropped.
pub async fn serve(coordination: Arc<dyn Coordination>, engine: Arc<Engine>) {
    let answer: Answerer = Arc::new(move |body| {
        let text = match serde_json::from_slice::<Request>(&body) {
            Ok(request) => super::carry_out(&engine, request),
            Err(e) => {
                tracing::warn!("a workflow request from another host that is not one: {e}");
                format!("⚠ not a workflow request: {e}")
            }
        };
        Box::pin(async move { text.into_bytes() })
    });
    coordination.serve(TOPIC, answer).await
}
