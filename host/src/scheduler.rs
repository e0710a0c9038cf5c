//! The scheduler: fires every crontab matcher of the current set, a
//! skill's or a workflow's (`crontab:` entries are a workflow's crontab
//! matchers). One task follows the set (it replans whenever it is
//! swapped: hot reload, the `reload` command, the workflows folder read
//! again), sleeps until the earliest is due, and fires each due matcher
//! through [`Bot::fire`] with `Event::Schedule { fired_at }`: a skill runs
//! with an execution record, a workflow starts a run (with its record).
//! On several hosts this one task runs on the holder of the `cron` lease,
//! so a tick fires once.
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
use crate::matching::Target;
use crate::matching::crontab::CronSchedule;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Starts the scheduler; it runs until the task is aborted.
pub fn start(bot: Arc<Bot>, catalog: Arc<Catalog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(bot, catalog))
}

/// One crontab matcher of the current set, with when it fires next.
struct Planned {
    target: Target,
    matcher: usize,
    schedule: Arc<CronSchedule>,
    next: Option<DateTime<Utc>>,
    busy: Busy,
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
    let mut busy: HashMap<(String, String), Busy> = HashMap::new();
    loop {
        changes.mark_unchanged();
        let set = catalog.current();
        let mut plan = plan(&set, &mut busy, Utc::now());
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
                _ = sleep(wait) => {}
            }
            let now = Utc::now();
            for p in plan.iter_mut() {
                let Some(at) = p.next.filter(|at| *at <= now) else {
                    continue;
                };
                fire(&bot, &set, p, at);
                // From now, not from `at`: a late wake-up does not replay.
                p.next = p.schedule.next_after(at.max(now));
            }
        }
    }
}

/// Sleeps `wait`, or forever when nothing is planned.
async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Every crontab matcher in `set`, skills' and workflows', with its next
/// time after `now`.
fn plan(
    set: &SkillSet,
    busy: &mut HashMap<(String, String), Busy>,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut kept = HashMap::new();
    for (target, manifest, matchers, policy) in set.targets() {
        // An admin's `skill disable` stops its schedule too.
        if policy.disabled {
            continue;
        }
        for (matcher, schedule) in matchers.crontabs() {
            let key = (
                manifest.name.clone(),
                manifest.matchers[*matcher].id.clone(),
            );
            let flag = busy.remove(&key).unwrap_or_default();
            kept.insert(key, flag.clone());
            plan.push(Planned {
                target,
                matcher: *matcher,
                schedule: schedule.clone(),
                next: schedule.next_after(now),
                busy: flag,
            });
        }
    }
    *busy = kept;
    plan
}

/// Fires one tick in the background, or skips it if the last one runs
/// still.
fn fire(bot: &Arc<Bot>, set: &Arc<SkillSet>, p: &Planned, at: DateTime<Utc>) {
    let Some(hit) = set.index.fired(p.target, p.matcher) else {
        return;
    };
    let name = set.name(p.target);
    let zone = p.schedule.zone();
    let Some(guard) = p.busy.try_start() else {
        match p.target {
            Target::Skill(_) => {
                tracing::warn!(skill = %name, matcher = %hit.matcher_id, at = %at, "crontab tick skipped: the previous tick is still running")
            }
            Target::Workflow(_) => {
                tracing::warn!(workflow = %name, schedule = %hit.matcher_id, at = %at, "crontab tick skipped: the previous tick's run is still going")
            }
        }
        return;
    };
    match p.target {
        Target::Skill(_) => {
            tracing::debug!(skill = %name, matcher = %hit.matcher_id, at = %at, zone = %zone, "crontab tick")
        }
        Target::Workflow(_) => {
            tracing::debug!(workflow = %name, schedule = %hit.matcher_id, at = %at, zone = %zone, "crontab tick")
        }
    }
    let (bot, set) = (bot.clone(), set.clone());
    let event = Event::Schedule {
        fired_at: at.timestamp_millis().max(0) as u64,
    };
    tokio::spawn(async move {
        let _guard = guard;
        bot.fire(&set, &hit, event).await;
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
