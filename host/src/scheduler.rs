//! The scheduler: fires every loaded skill's crontab matchers and every
//! loaded workflow's `crontab:` entries. One task follows the skill set and
//! the workflow set (it replans whenever either is swapped: hot reload, the
//! `reload` command), sleeps until the earliest is due, and runs each due
//! matcher through [`Bot::trigger`] with `Event::Schedule { fired_at }`, so
//! every tick has an execution record, and each due workflow entry through
//! [`Workflows::tick`] (a run, with its record). On several hosts this one
//! task runs on the holder of the `cron` lease, so a tick fires once.
//!
//! Two rules, documented in docs/matching.md ("Crontab"):
//! - a tick still running when the next is due: the next is skipped and
//!   logged (warn, naming the skill and matcher, or the workflow and its
//!   schedule), never queued; a workflow's tick runs until its run ends;
//! - ticks missed while the bot was down (or while this task was late) are
//!   not replayed: next times are computed from now.

use crate::bot::Bot;
use crate::catalog::{Catalog, SkillSet};
use crate::event::Event;
use crate::matching::crontab::CronSchedule;
use crate::workflow::Workflows;
use crate::workflow::defs::Set as WorkflowSet;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Starts the scheduler; it runs until the task is aborted.
pub fn start(bot: Arc<Bot>, catalog: Arc<Catalog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(bot, catalog))
}

/// One crontab matcher or workflow entry of the current sets, with when it
/// fires next.
struct Planned {
    what: Source,
    schedule: Arc<CronSchedule>,
    next: Option<DateTime<Utc>>,
    busy: Busy,
}

enum Source {
    Skill {
        skill: usize,
        matcher: usize,
    },
    /// Entry `entry` of the workflow's `crontab:`.
    Workflow {
        name: String,
        entry: usize,
    },
}

/// Whether a matcher's last tick is still running. Kept by (skill name,
/// matcher id) across replans, so a reload does not let a second tick of a
/// slow matcher start beside the first.
#[derive(Clone, Default)]
pub struct Busy(Arc<AtomicBool>);

impl Busy {
    /// Marks a tick as running, unless one already is: the guard clears the
    /// mark when dropped (the tick ended, or panicked).
    pub fn try_start(&self) -> Option<BusyGuard> {
        (!self.0.swap(true, Ordering::AcqRel)).then(|| BusyGuard(self.0.clone()))
    }
}

pub struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

async fn run(bot: Arc<Bot>, catalog: Arc<Catalog>) {
    let mut changes = catalog.subscribe();
    let workflows = bot.workflows().cloned();
    let mut flows = workflows.as_ref().map(|w| w.subscribe());
    let mut busy: HashMap<(String, String), Busy> = HashMap::new();
    loop {
        changes.mark_unchanged();
        if let Some(f) = flows.as_mut() {
            f.mark_unchanged();
        }
        let set = catalog.current();
        let flow_set = workflows.as_ref().map(|w| w.definitions());
        let mut plan = plan(&set, flow_set.as_deref(), &mut busy, Utc::now());
        if !plan.is_empty() {
            tracing::debug!(matchers = plan.len(), "crontab matchers scheduled");
        }
        loop {
            let due = plan.iter().filter_map(|p| p.next).min();
            let wait = due.map(|due| (due - Utc::now()).to_std().unwrap_or_default());
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                changed = flows_changed(flows.as_mut()) => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                _ = sleep(wait) => {}
            }
            let now = Utc::now();
            for p in plan.iter_mut() {
                let Some(at) = p.next.filter(|at| *at <= now) else {
                    continue;
                };
                match &p.what {
                    Source::Skill { .. } => fire(&bot, &set, p, at),
                    Source::Workflow { name, entry } => {
                        if let (Some(w), Some(defs)) = (&workflows, &flow_set) {
                            fire_workflow(w, defs, p, name, *entry, at);
                        }
                    }
                }
                // From now, not from `at`: a late wake-up does not replay.
                p.next = p.schedule.next_after(at.max(now));
            }
        }
    }
}

/// The workflow set changed (forever pending without workflows).
async fn flows_changed(
    flows: Option<&mut tokio::sync::watch::Receiver<()>>,
) -> Result<(), tokio::sync::watch::error::RecvError> {
    match flows {
        Some(f) => f.changed().await,
        None => std::future::pending().await,
    }
}

/// Sleeps `wait`, or forever when nothing is planned.
async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Every crontab matcher in `set` and entry in `flows`, with its next time
/// after `now`.
fn plan(
    set: &SkillSet,
    flows: Option<&WorkflowSet>,
    busy: &mut HashMap<(String, String), Busy>,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut kept = HashMap::new();
    for (skill, s) in set.skills.iter().enumerate() {
        // An admin's `skill disable` stops its schedule too.
        if set.policies[skill].disabled {
            continue;
        }
        for (matcher, schedule) in s.matchers.crontabs() {
            let key = (s.name.clone(), s.manifest.matchers[*matcher].id.clone());
            let flag = busy.remove(&key).unwrap_or_default();
            kept.insert(key, flag.clone());
            plan.push(Planned {
                what: Source::Skill {
                    skill,
                    matcher: *matcher,
                },
                schedule: schedule.clone(),
                next: schedule.next_after(now),
                busy: flag,
            });
        }
    }
    for w in flows.iter().flat_map(|f| f.by_name.values()) {
        for (entry, cron) in w.crontab.iter().enumerate() {
            // Kept by schedule, not position: an entry edited away is new.
            let key = (format!("workflow {}", w.name), cron.expression.clone());
            let flag = busy.remove(&key).unwrap_or_default();
            kept.insert(key, flag.clone());
            plan.push(Planned {
                what: Source::Workflow {
                    name: w.name.clone(),
                    entry,
                },
                schedule: cron.schedule.clone(),
                next: cron.schedule.next_after(now),
                busy: flag,
            });
        }
    }
    *busy = kept;
    plan
}

/// Runs one tick in the background, or skips it if the last one runs still.
fn fire(bot: &Arc<Bot>, set: &Arc<SkillSet>, p: &Planned, at: DateTime<Utc>) {
    let Source::Skill { skill, matcher } = p.what else {
        return;
    };
    let hit = set.index.fired(skill, matcher);
    let skill = &set.skills[skill].name;
    let Some(guard) = p.busy.try_start() else {
        tracing::warn!(skill = %skill, matcher = %hit.matcher_id, at = %at, "crontab tick skipped: the previous tick is still running");
        return;
    };
    tracing::debug!(skill = %skill, matcher = %hit.matcher_id, at = %at, zone = %p.schedule.zone(), "crontab tick");
    let (bot, set) = (bot.clone(), set.clone());
    let event = Event::Schedule {
        fired_at: at.timestamp_millis().max(0) as u64,
    };
    tokio::spawn(async move {
        let _guard = guard;
        bot.trigger(&set, &hit, event).await;
    });
}

/// Starts a workflow's run for its entry in the background, or skips the
/// tick if the entry's last run is still going.
fn fire_workflow(
    workflows: &Arc<Workflows>,
    defs: &WorkflowSet,
    p: &Planned,
    name: &str,
    entry: usize,
    at: DateTime<Utc>,
) {
    let Some(def) = defs.by_name.get(name).cloned() else {
        return;
    };
    let expression = def
        .crontab
        .get(entry)
        .map(|c| c.expression.clone())
        .unwrap_or_default();
    let Some(guard) = p.busy.try_start() else {
        tracing::warn!(workflow = %name, schedule = %expression, at = %at, "crontab tick skipped: the previous tick's run is still going");
        return;
    };
    tracing::debug!(workflow = %name, schedule = %expression, at = %at, zone = %p.schedule.zone(), "crontab tick");
    let workflows = workflows.clone();
    let fired_at = at.timestamp_millis().max(0) as u64;
    tokio::spawn(async move {
        let _guard = guard;
        workflows.tick(def, entry, fired_at).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_tick_keeps_the_next_out_until_it_ends() {
        let busy = Busy::default();
        let first = busy.try_start().expect("nothing runs yet");
        assert!(busy.try_start().is_none(), "the first tick still runs");
        assert!(busy.clone().try_start().is_none(), "clones share the mark");
        drop(first);
        assert!(busy.try_start().is_some(), "the first tick ended");
    }
}
