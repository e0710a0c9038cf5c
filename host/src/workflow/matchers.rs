//! A workflow as a target of matching: its aliases, `crontab:` entries and
//! `webhook:` become matchers of a manifest (in that order), and its
//! `permissions` their policy, so the one index routes to it, ranks it
//! and names it in an ambiguity as it does a skill; the scheduler fires
//! its entries and the webhook gate finds it as it does a skill's.
//! [`Way`] reads a matcher's position back as what started the run.

use super::spec::{Alias, Cron, Workflow};
use crate::catalog::Flow;
use crate::manifest::{AliasSpec, Manifest, MatcherKind, MatcherSpec};
use crate::matching::Policy;
use crate::permissions::Access;
use std::sync::Arc;

/// The version a workflow's records and manifest carry.
pub const VERSION: &str = "workflow";

/// How a run of a workflow was asked for: by the matcher at a position.
pub enum Way<'a> {
    Alias(&'a Alias),
    /// Entry `.0` of `crontab:`.
    Cron(usize, &'a Cron),
    Webhook,
}

/// What matcher `matcher` of `w`'s manifest is.
pub fn way(w: &Workflow, matcher: usize) -> Option<Way<'_>> {
    if let Some(alias) = w.aliases.get(matcher) {
        return Some(Way::Alias(alias));
    }
    let entry = matcher - w.aliases.len();
    match w.crontab.get(entry) {
        Some(cron) => Some(Way::Cron(entry, cron)),
        None => (entry == w.crontab.len() && w.webhook.is_some()).then_some(Way::Webhook),
    }
}

/// `w` as a target of matching, or why its matchers break a bound of the
/// index (too many, too long).
pub fn flow(w: &Workflow) -> Result<Flow, String> {
    let mut matchers: Vec<MatcherSpec> = w
        .aliases
        .iter()
        .map(|a| MatcherSpec {
            // The index takes parameters out with the alias's format; the
            // workflow renders its own ack.
            id: a.text.clone(),
            kind: MatcherKind::ActionAlias(AliasSpec::new(&a.text)),
            help: a.help.clone(),
        })
        .collect();
    matchers.extend(w.crontab.iter().map(|c| MatcherSpec {
        // Kept by schedule, not position: an entry edited away is new.
        id: c.expression.clone(),
        kind: MatcherKind::Crontab {
            expression: c.expression.clone(),
            timezone: Some(c.schedule.zone().name().to_owned()),
        },
        help: String::new(),
    }));
    if w.webhook.is_some() {
        matchers.push(MatcherSpec {
            id: "webhook".into(),
            kind: MatcherKind::Webhook(w.name.clone()),
            help: String::new(),
        });
    }
    let manifest = Manifest {
        name: w.name.clone(),
        version: VERSION.into(),
        description: w.description.clone(),
        settings: None,
        matchers,
    };
    let compiled = crate::matching::compile(&manifest)?;
    let n = manifest.matchers.len();
    let access = if w.permissions.is_open() {
        Access::default()
    } else {
        Access {
            levels: vec![Arc::new(w.permissions.clone())],
        }
    };
    let policy = Policy {
        disabled: false,
        addressed: vec![false; n],
        access: vec![access; n],
        result: vec![None; n],
        ack: vec![None; n],
        alias: vec![None; n],
    };
    Ok(Flow {
        manifest,
        matchers: compiled,
        policy,
    })
}

/// Every workflow of a set as a target, in name order; one whose matchers
/// break a bound is left out, logged.
pub fn flows<'a>(set: impl IntoIterator<Item = &'a Arc<Workflow>>) -> Vec<Arc<Flow>> {
    set.into_iter()
        .filter_map(|w| match flow(w) {
            Ok(flow) => Some(Arc::new(flow)),
            Err(e) => {
                tracing::warn!(workflow = %w.name, "cannot be matched: {e}");
                None
            }
        })
        .collect()
}
