//! The dispatcher: the event sink connectors submit to. Per event it takes
//! the current skill set (one atomic load), routes the event (which skills
//! run, `matching`), executes each hit in the runtime, and gives every
//! execution record to the observers; answers, and the mark that an event is
//! finished, go out through the response sink. No lock, no disk, no
//! compiling on this path.
//!
//! The path of one message: its facts are read once (`Event::facts`: who,
//! where, what started it); the command registry (`commands`) first, once;
//! then the one index routes it to skills and workflows alike; permissions
//! and the ambiguity rule screen the hits, and each skill's hit is made
//! ready here (its record, its ack); then the event is handed down: a
//! workflow's hit starts its run, a skill's runs through the executor
//! (`run.rs`, `executor`), in the background after an ack if it has one.

use crate::bus::ResponseSink;
use crate::catalog::{Catalog, SkillSet};
use crate::commands::{Commands, Reply};
use crate::config::Config;
use crate::event::{Event, EventId, Execution, Facts, Message, Outcome, Target, now_ms};
use crate::executor::{Executor, INTERRUPTED};
use crate::manifest::MatcherKind;
use crate::matching::{Hit, Target as Aim, Why};
use crate::observe::Observer;
use crate::permissions::{Asker, Refusal};
use crate::runtime::Reserved;
use crate::runtime::Runtime;
use crate::work::Work;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use tokio::sync::Semaphore;
use tracing::Instrument;

mod dispatch;
mod run;

pub use dispatch::{Dispatch, STOPPING};
use run::Run;

pub struct Bot {
    catalog: Arc<Catalog>,
    runtime: Arc<Runtime>,
    responses: Arc<dyn ResponseSink>,
    observers: Vec<Arc<dyn Observer>>,
    metrics: Arc<crate::observe::Metrics>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// Events and background runs not finished: what shutdown waits for.
    work: Arc<Work>,
    /// The bot itself, for the background runs it spawns.
    me: Weak<Bot>,
    /// Workflows: the runs their matchers start.
    workflows: Arc<crate::workflow::Workflows>,
    /// Every chat command, asked once per event before matching.
    commands: Arc<Commands>,
    /// Each conversation's commands, in the order received.
    turns: Arc<crate::turns::Turns>,
}

/// What the dispatcher works with, built before it (`app`).
pub struct Parts {
    pub catalog: Arc<Catalog>,
    pub runtime: Arc<Runtime>,
    pub responses: Arc<dyn ResponseSink>,
    pub observers: Vec<Arc<dyn Observer>>,
    pub metrics: Arc<crate::observe::Metrics>,
    pub work: Arc<Work>,
    pub workflows: Arc<crate::workflow::Workflows>,
    pub commands: Arc<Commands>,
    /// The events that may be handled at once ([`in_flight_limit`]).
    pub in_flight: Arc<Semaphore>,
}

/// The `runtime.max-in-flight` events of `config` that may be handled at
/// once, as permits: the dispatcher takes one per event, and the cluster's
/// heartbeat reports how many are taken.
pub fn in_flight_limit(config: &Config) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(config.runtime.max_in_flight.max(1)))
}

impl Bot {
    pub fn new(parts: Parts) -> Arc<Self> {
        let Parts {
            catalog,
            runtime,
            responses,
            observers,
            metrics,
            work,
            workflows,
            commands,
            in_flight,
        } = parts;
        let max_in_flight = in_flight.available_permits();
        Arc::new_cyclic(|me| Bot {
            catalog,
            runtime,
            responses,
            observers,
            metrics,
            in_flight,
            max_in_flight,
            work,
            me: me.clone(),
            workflows,
            commands,
            turns: Arc::default(),
        })
    }

    /// The workflows (the web server starts them on their webhooks; the
    /// app stops their runs).
    pub fn workflows(&self) -> &Arc<crate::workflow::Workflows> {
        &self.workflows
    }

    /// The metrics (the web server counts refused webhooks in them).
    pub fn metrics(&self) -> &crate::observe::Metrics {
        &self.metrics
    }

    /// Gives a record of something that did not run (a refused webhook
    /// request) to the observers.
    pub fn record(&self, execution: &Execution) {
        self.observe(execution);
    }

    /// What the bot has taken on and not finished (`crate::work`).
    pub fn work(&self) -> &Arc<Work> {
        &self.work
    }

    /// Events being handled now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.in_flight.available_permits())
    }

    /// The `max-in-flight` permits: a bus worker takes one per event it
    /// pulls, before it pulls it.
    pub fn in_flight_permits(&self) -> Arc<Semaphore> {
        self.in_flight.clone()
    }

    /// A place (running or queued) in the gate of every skill `event` goes
    /// to, or `None` when one of them is at its bound: a bus worker then
    /// leaves the event in the stream for later rather than answer "busy".
    pub fn reserve_skill_slots(&self, event: &Event) -> Option<Reservation> {
        let set = self.catalog.current();
        let hits = self.route(&set, event);
        let mut reserved = Vec::with_capacity(hits.len());
        // A workflow's run is not in a skill's gate.
        for skill in hits.iter().filter_map(Hit::skill) {
            reserved.push((skill, self.runtime.reserve(&set.skills[skill]).ok()?));
        }
        Some(Reservation {
            in_flight: None,
            set,
            reserved,
            hits,
        })
    }

    /// Handles an event the caller has taken a place for (a bus worker,
    /// with a permit from [`Bot::in_flight_permits`], and its skills' slots
    /// from [`Bot::reserve_skill_slots`]) under the id it came with.
    pub async fn handle_reserved(
        &self,
        id: EventId,
        event: Event,
        reservation: Reservation,
    ) -> Vec<Execution> {
        owned(self.handle(id, event, Some(reservation)).await)
    }

    /// Handles one event to completion: every skill it started has finished
    /// (or failed) and every answer is delivered when this returns.
    pub async fn dispatch(&self, event: Event) -> Vec<Execution> {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Vec::new();
        };
        let _entered = self.work.enter();
        owned(self.handle(EventId::next(), event, None).await)
    }

    async fn handle(
        &self,
        id: EventId,
        event: Event,
        reservation: Option<Reservation>,
    ) -> Vec<Arc<Execution>> {
        // Shared, not copied, with the runs it sends to the background.
        let event = Arc::new(event);
        // Read once: from here on the dispatcher reads these fields, and
        // the event itself goes only to those it is handed down to.
        let facts = event.facts();
        self.metrics.event(&event);
        let span = tracing::info_span!(
            "event",
            id = %id,
            connector = facts.connector.unwrap_or(""),
            user_id = facts.user_id.unwrap_or(""),
        );
        async {
            let mut in_flight_place = None;
            let executions = if self.command(id, &event, &facts).await {
                Vec::new()
            } else {
                // Routed once: on the set the slots were reserved in, by
                // the same routing.
                let (set, reserved, hits) = match reservation {
                    Some(Reservation {
                        set,
                        reserved,
                        hits,
                        in_flight,
                    }) => {
                        in_flight_place = in_flight;
                        (set, reserved, hits)
                    }
                    None => {
                        let set = self.catalog.current();
                        let hits = self.route(&set, &event);
                        (set, Vec::new(), hits)
                    }
                };
                self.run_hits(&set, id, &event, &facts, reserved, hits)
                    .await
            };
            // Shared with the history, not copied into it: a connector's
            // event (most) drops its own at once.
            let executions: Vec<Arc<Execution>> = executions.into_iter().map(Arc::new).collect();
            for execution in &executions {
                self.executor().observe_shared(execution);
            }
            drop(in_flight_place);
            if let Some(connector) = facts.connector {
                self.responses.finished(connector, id).await;
            }
            executions
        }
        .instrument(span)
        .await
    }

    /// Answers `event` if it is a chat command (the registry's); true if
    /// it was.
    async fn command(&self, id: EventId, event: &Event, facts: &Facts<'_>) -> bool {
        match self.commands.answer(id, event).await {
            None => false,
            Some(Reply::Done) => true,
            Some(Reply::Say(text)) => {
                if let Some(room) = room_of(facts).filter(|_| facts.message) {
                    self.say(room, id, text).await;
                }
                true
            }
        }
    }

    /// Runs what `hits` (routed in `set`) chose for `event`: skills (in
    /// the slots reserved for them, if any) and workflows' runs, alike
    /// screened by permissions and by the ambiguity rule. Returns the
    /// skills' records.
    ///
    /// The dispatcher does its own work first (screening, refusals, each
    /// skill's run made ready), then hands the event down: to the
    /// workflows, then to the executor (`run.rs`).
    async fn run_hits(
        &self,
        set: &Arc<SkillSet>,
        id: EventId,
        event: &Arc<Event>,
        facts: &Facts<'_>,
        mut reserved: Vec<(usize, Reserved)>,
        mut hits: Vec<Hit>,
    ) -> Vec<Execution> {
        if hits.is_empty() {
            tracing::trace!("nothing matched");
            if facts.message {
                self.metrics.matched(None);
            }
        }
        for hit in &hits {
            self.metrics.matched(Some(hit.why));
        }
        let routed = hits.len();
        let mut refused = self.screen(set, id, facts, &mut hits).await;
        if let Some(m) = event.message()
            && m.addressed
            && refused.is_empty()
            && hits.iter().all(|h| h.why == Why::Always)
            && let Some(answer) = crate::builtins::unmatched(
                set,
                m,
                self.commands.lines(),
                self.catalog.config().unmatched,
            )
        {
            self.say(reply_target(m), id, answer).await;
        }
        // Several aliases fit: say which, rather than guess.
        if let Some(at) = hits.iter().position(|h| !h.rivals.is_empty()) {
            let hit = hits.remove(at);
            if let Some(room) = room_of(facts) {
                self.say(room, id, ambiguity(set, &hit)).await;
            }
        }
        // Past every routed hit's number: the runs' and the denied.
        refused.extend(
            self.override_refused(set, id, routed, facts, &mut hits)
                .await,
        );
        // A workflow's run starts now and goes on its own; a skill's hit
        // is made ready to run now, in the slot reserved for it, or in the
        // background after its ack.
        let (flows, hits): (Vec<_>, Vec<_>) = hits.into_iter().partition(|h| h.skill().is_none());
        let runs: Vec<Run> = hits
            .iter()
            .enumerate()
            .map(|(n, hit)| {
                let mut run = self.prepare(set, id, n, facts, hit);
                if run.ack.is_none() {
                    run.slot = reserved
                        .iter()
                        .position(|(skill, _)| *skill == run.skill)
                        .map(|at| reserved.swap_remove(at).1);
                }
                run
            })
            .collect();
        for hit in flows {
            let name = set.name(hit.target);
            self.workflows
                .start_hit(id, event, name, hit.matcher, hit.captures)
                .await;
        }
        let mut executions = run::run_skills(self, set, id, event, facts, runs).await;
        executions.extend(refused);
        executions
    }

    /// Takes out of `hits` the first that would change a fixed parameter:
    /// refused, as StackStorm refuses it, rather than run quietly; answered,
    /// and recorded as `denied` (numbered `n`).
    async fn override_refused(
        &self,
        set: &SkillSet,
        id: EventId,
        n: usize,
        facts: &Facts<'_>,
        hits: &mut Vec<Hit>,
    ) -> Option<Execution> {
        let at = hits.iter().position(|h| h.refused.is_some())?;
        let hit = hits.remove(at);
        tracing::info!(matcher = %hit.matcher_id, "refused: a fixed parameter cannot be overridden");
        let mut refused = record(set, id, n, facts, &hit, now_ms());
        refused.outcome = Outcome::Denied;
        refused.error = hit.refused.clone();
        if let (Some(room), Some(why)) = (room_of(facts), hit.refused) {
            self.say(room, id, why).await;
        }
        Some(refused)
    }

    fn observe(&self, execution: &Execution) {
        self.executor().observe(execution);
    }

    /// `hit` (a skill's, numbered `n` among the event's) made ready to
    /// run: its record, the rewrite of its answers, the room that asked,
    /// and its ack if it runs in the background.
    fn prepare(&self, set: &SkillSet, id: EventId, n: usize, facts: &Facts<'_>, hit: &Hit) -> Run {
        let reword = set
            .policy(hit.target)
            .result
            .get(hit.matcher)
            .cloned()
            .flatten()
            .map(|template| result_template(template, hit, facts));
        // An `always` matcher runs on every message, asked nothing:
        // reporting its failures in chat would answer messages not meant
        // for it.
        let room = room_of(facts).filter(|_| hit.why != Why::Always);
        Run {
            skill: hit.skill().expect("only a skill's hit is run"),
            record: record(set, id, n, facts, hit, now_ms()),
            reword,
            room,
            ack: ack_of(set, hit, facts).map(|template| render_ack(template, hit, facts)),
            slot: None,
        }
    }

    /// Which skills should run for `event`, chosen skill first.
    pub fn route(&self, set: &SkillSet, event: &Event) -> Vec<Hit> {
        set.index.route(event)
    }

    /// The executor every skill's run here goes through.
    fn executor(&self) -> Executor<'_> {
        Executor {
            runtime: &self.runtime,
            responses: &*self.responses,
            observers: &self.observers,
        }
    }

    /// Takes out of `hits` what the sender may not run. A refused command
    /// is answered and recorded (returned); a refused `always`, catch-all
    /// or event-type matcher just does not run, since no one asked it
    /// anything.
    async fn screen(
        &self,
        set: &SkillSet,
        id: EventId,
        facts: &Facts<'_>,
        hits: &mut Vec<Hit>,
    ) -> Vec<Execution> {
        let mut refused = Vec::new();
        hits.retain(|hit| match permitted(set, hit, facts) {
            Ok(()) => true,
            Err(why) => {
                refused.push((hit.clone(), why));
                false
            }
        });
        let mut denied = Vec::new();
        for (hit, why) in refused {
            if hit.why == Why::Chosen && facts.message {
                // Numbered after the hits that run, so record ids stay unique.
                let n = hits.len() + denied.len();
                denied.push(self.refuse(set, id, n, facts, &hit, why).await);
            } else {
                tracing::debug!(skill = %set.name(hit.target), matcher = %hit.matcher_id, "not run for this user: {why}");
            }
        }
        denied
    }

    /// Answers a user who may not run what they asked for, and records it.
    async fn refuse(
        &self,
        set: &SkillSet,
        event_id: EventId,
        n: usize,
        facts: &Facts<'_>,
        hit: &Hit,
        why: Refusal,
    ) -> Execution {
        let name = set.name(hit.target);
        tracing::warn!(
            skill = %name,
            matcher = %hit.matcher_id,
            user_id = %crate::text::for_log(facts.user_id.unwrap_or_default()),
            "denied: {why}"
        );
        if let Some(room) = room_of(facts) {
            let text = format!(
                "⛔ Sorry {}, you are not allowed to run that ({}) here.",
                facts.user.unwrap_or("you"),
                name
            );
            self.say(room, event_id, text).await;
        }
        let mut record = record(set, event_id, n, facts, hit, now_ms());
        record.outcome = Outcome::Denied;
        record.error = Some(format!("not allowed: {why}"));
        record
    }

    async fn say(&self, target: Target, id: EventId, text: String) {
        self.executor().say(target, id, text).await;
    }

    /// Fires `hit` (a crontab matcher of `set`) for a schedule's tick: a
    /// skill runs as [`Bot::trigger`] says; a workflow starts a run, which
    /// this waits for.
    pub async fn fire(&self, set: &SkillSet, hit: &Hit, event: Event) {
        match hit.target {
            Aim::Skill(_) => {
                self.trigger(set, hit, event).await;
            }
            Aim::Workflow(_) => {
                let name = set.name(hit.target);
                let id = EventId::next();
                self.workflows
                    .start_hit(id, &event, name, hit.matcher, Vec::new())
                    .await;
            }
        }
    }

    /// Runs `hit` (from `set`'s index) for an event no connector brought: a
    /// schedule tick or a webhook request. Takes a place among
    /// `max-in-flight` like any event, and gives the record to the observers.
    pub async fn trigger(&self, set: &SkillSet, hit: &Hit, event: Event) -> Execution {
        let _permit = self.in_flight.acquire().await;
        let _entered = self.work.enter();
        let id = EventId::next();
        let span = tracing::info_span!("event", id = %id, kind = event_kind(&event));
        let facts = event.facts();
        let run = self.prepare(set, id, 0, &facts, hit);
        async {
            tokio::select! {
                execution = run::execute(self, set, id, &event, run) => {
                    self.observe(&execution);
                    execution
                }
                // The dropped run has recorded itself as interrupted; this
                // is that record for the caller.
                () = self.work.stopped() => {
                    let mut record = record(set, id, 0, &facts, hit, now_ms());
                    record.outcome = Outcome::Interrupted;
                    record.error = Some(INTERRUPTED.into());
                    record
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// Slots in the skills' gates taken for an event before it is handled
/// ([`Bot::reserve_skill_slots`]), with the skill set they were taken in and the
/// routing that chose them (so the event is not routed twice).
pub struct Reservation {
    set: Arc<SkillSet>,
    reserved: Vec<(usize, Reserved)>,
    hits: Vec<Hit>,
    /// The bus worker's place among `max-in-flight`, given back once the
    /// skills have run, before their answers are confirmed delivered: an
    /// event whose answers wait on an unreachable host holds no place a new
    /// event could run in.
    in_flight: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Reservation {
    /// Holds `place` until the event's skills have run.
    pub fn holding(mut self, place: tokio::sync::OwnedSemaphorePermit) -> Reservation {
        self.in_flight = Some(place);
        self
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::Webhook(_) => "webhook",
        Event::Schedule { .. } => "schedule",
        _ => "chat",
    }
}

/// An execution record of `hit` (numbered `n` among the event's hits)
/// for the event of `facts`, as if it ran without a word: the caller fills
/// in how it went. The one place the dispatcher makes a record.
fn record(
    set: &SkillSet,
    event_id: EventId,
    n: usize,
    facts: &Facts<'_>,
    hit: &Hit,
    started_at: u64,
) -> Execution {
    // A workflow's: its name, as its runs' records say.
    let (version, sha256, matcher) = match hit.target {
        Aim::Skill(skill) => {
            let skill = &set.skills[skill];
            let version = skill.manifest.version.clone();
            (version, skill.sha256.clone(), hit.matcher_id.clone())
        }
        Aim::Workflow(_) => {
            let version = crate::workflow::matchers::VERSION;
            (version.into(), String::new(), "workflow".into())
        }
    };
    // The trigger, as precise as the matcher says: a tick's expression,
    // a webhook's whole path.
    let name = set.name(hit.target);
    let trigger = match (
        &set.manifest(hit.target).matchers[hit.matcher].kind,
        facts.webhook_path,
    ) {
        (MatcherKind::Crontab { expression, .. }, _) => format!("cron \"{expression}\""),
        (_, Some(path)) => format!("webhook /skill/{name}/{path}"),
        _ => facts.trigger.clone().into_owned(),
    };
    Execution {
        id: format!("{event_id}-{n}"),
        event_id,
        skill: name.to_owned(),
        version,
        sha256,
        matcher,
        alias: set.policy(hit.target).alias(hit.matcher),
        connector: facts.connector.map(str::to_owned),
        room: facts.room.map(str::to_owned),
        thread: facts.thread.map(str::to_owned),
        user: facts.user.map(str::to_owned),
        user_id: facts.user_id.map(str::to_owned),
        text: facts.text.map(str::to_owned),
        captures: hit.captures.clone(),
        started_at,
        ended_at: now_ms(),
        trigger: Some(trigger),
        host: crate::event::host(),
        ..Execution::default()
    }
}

/// Where answers to the event of `facts` go: the room it came from (and a
/// message's thread), if it came from one.
fn room_of(facts: &Facts<'_>) -> Option<Target> {
    Some(Target {
        connector: facts.connector?.to_owned(),
        room: facts.room?.to_owned(),
        thread: facts.thread.map(str::to_owned),
    })
}

/// May the sender of the event run `hit`? Events from no one (webhooks,
/// ticks) are not the configuration's permissions' business.
fn permitted(set: &SkillSet, hit: &Hit, facts: &Facts<'_>) -> Result<(), Refusal> {
    let (Some(connector), Some(user_id), Some(room)) = (facts.connector, facts.user_id, facts.room)
    else {
        return Ok(());
    };
    match set.policy(hit.target).access.get(hit.matcher) {
        Some(access) => access.check(Asker {
            connector,
            user_id,
            room,
        }),
        None => Ok(()),
    }
}

/// The ack that sends `hit` to the background: an alias's own, else the
/// configuration's for its matcher or skill. Only for chat events someone
/// asked (a webhook's caller waits for its answer; `always` matchers were
/// not asked anything).
fn ack_of<'h>(set: &'h SkillSet, hit: &'h Hit, facts: &Facts<'_>) -> Option<&'h str> {
    if hit.why == Why::Always || facts.connector.is_none() {
        return None;
    }
    hit.ack
        .as_deref()
        .or_else(|| set.policy(hit.target).ack.get(hit.matcher)?.as_deref())
}

/// The values an alias's templates see: its parameters, `user`, `room`.
fn template_values(hit: &Hit, facts: &Facts<'_>) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = hit.captures.iter().cloned().collect();
    values.insert("user".into(), facts.user.unwrap_or_default().into());
    values.insert("room".into(), facts.room.unwrap_or_default().into());
    values
}

/// An alias's `ack` with its parameters, `user` and `room` filled in.
fn render_ack(template: &str, hit: &Hit, facts: &Facts<'_>) -> Option<String> {
    let values = template_values(hit, facts);
    match minijinja::Environment::new().render_str(template, values) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::warn!(matcher = %hit.matcher_id, "cannot render the alias's ack: {e}");
            None
        }
    }
}

/// An operator alias's `result` template as a rewrite of each answer: the
/// answer is `result`, beside the parameters, `user` and `room`. An answer
/// the template cannot render goes out as the skill said it.
fn result_template(template: Arc<str>, hit: &Hit, facts: &Facts<'_>) -> crate::runtime::Reword {
    let values = template_values(hit, facts);
    let matcher = hit.matcher_id.clone();
    Arc::new(move |answer: String| {
        let mut values = values.clone();
        values.insert("result".into(), answer.clone());
        match minijinja::Environment::new().render_str(&template, values) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(matcher = %matcher, "cannot render the alias's result: {e}");
                answer
            }
        }
    })
}

/// The answer to a message that more than one alias matched.
fn ambiguity(set: &SkillSet, hit: &Hit) -> String {
    // Named by their help (or their words): two may share a matcher id.
    let names: Vec<String> = std::iter::once((hit.target, hit.matcher))
        .chain(hit.rivals.iter().copied())
        .map(|(target, matcher)| {
            let manifest = set.manifest(target);
            let m = &manifest.matchers[matcher];
            let words = match (&m.kind, m.help.is_empty()) {
                (crate::manifest::MatcherKind::ActionAlias(a), true) => a.format.as_str(),
                _ => m.help.as_str(),
            };
            format!("`{words}` ({})", manifest.name)
        })
        .collect();
    tracing::info!(candidates = %names.join(", "), "a message matched more than one alias");
    format!(
        "⚠ That matches more than one command: {}. Say which, more precisely.",
        names.join(", ")
    )
}

fn reply_target(m: &Message) -> Target {
    Target {
        connector: m.connector.clone(),
        room: m.room.clone(),
        thread: m.thread.clone(),
    }
}

/// The caller's own copies of `executions` (the history may still hold
/// them, queued).
fn owned(executions: Vec<Arc<Execution>>) -> Vec<Execution> {
    executions.into_iter().map(Arc::unwrap_or_clone).collect()
}

#[cfg(test)]
mod tests {
    use super::room_of;
    use crate::event::Event;

    /// The dispatcher answers where the event says answers go: the room
    /// it builds from the facts is the event's origin, for every kind.
    #[test]
    fn answers_go_where_the_event_came_from() {
        let who = r#""user": "Ann", "user_id": "U1", "room": "ops", "received_at": 0"#;
        let events: Vec<Event> = serde_json::from_str(&format!(
            r#"[{{"kind": "message", "id": "m1", "text": "deploy", "connector": "slack", "thread": "t1", {who}}},
                {{"kind": "message", "id": "m2", "text": "hi", "connector": "irc", "thread": null, {who}}},
                {{"kind": "reaction", "emoji": "+1", "message_id": "m1", "connector": "slack", {who}}},
                {{"kind": "join", "connector": "irc", {who}}}, {{"kind": "leave", "connector": "irc", {who}}},
                {{"kind": "webhook", "path": "deploy", "method": "POST", "headers": [], "body": [], "received_at": 0}},
                {{"kind": "schedule", "fired_at": 0}}]"#
        ))
        .unwrap();
        for event in &events {
            let facts = event.facts();
            assert_eq!(
                room_of(&facts),
                event.origin().map(|o| o.target),
                "{event:?}"
            );
            assert_eq!(facts.message, event.message().is_some());
            assert_eq!(facts.text, event.message().map(|m| m.text.as_str()));
        }
    }
}
