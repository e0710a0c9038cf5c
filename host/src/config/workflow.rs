//! One entry under `workflows:`: what the configuration says of a workflow
//! whose file is in the workflows folder: its `notify` block, which fires
//! when a run ends exactly as a skill's does on its executions, and its
//! `webhook` settings (body cap, secret), as a skill's, for a file that
//! declares `webhook:` (secrets stay in the configuration, not in the
//! hot-reloaded folder).

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkflowEntry {
    /// Notices of its runs (`notify.rs`): the run's record is what the
    /// templates see (`skill` is the workflow's name).
    #[serde(default)]
    pub notify: Option<super::Notify>,
    /// `POST /workflow/<name>`: the largest body, and the secret a request
    /// must prove (`config::webhook`).
    #[serde(default)]
    pub webhook: super::WebhookSettings,
}
