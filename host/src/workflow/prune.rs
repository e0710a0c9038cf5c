//! Forgetting ended workflow runs: they go by the history's retention
//! (`history.max-age`, `history.max-count`), pruned from the runs' store at
//! start and then every hour.

use super::store::Store;
use crate::config::Config;

/// Ended runs go by the history's retention: at start, then every hour,
/// on a blocking thread (a delete of many rows is not for a tokio worker).
pub(super) fn now_and_hourly(store: Store, config: &Config) {
    let (max_age, max_count) = (config.history.max_age.0, config.history.max_count);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.prune(max_age, max_count)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(
                    runs = n,
                    "forgot ended workflow runs past the history's retention"
                ),
                Ok(Err(e)) => tracing::warn!("could not prune the workflow runs: {e:#}"),
                Err(_) => return,
            }
        }
    });
}
