//! One entry under `workflows:`: what the configuration says of a workflow
//! whose file is in the workflows folder. For now its `notify` block, which
//! fires when a run ends exactly as a skill's does on its executions.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkflowEntry {
    /// Notices of its runs (`notify.rs`): the run's record is what the
    /// templates see (`skill` is the workflow's name).
    #[serde(default)]
    pub notify: Option<super::Notify>,
}
