//! Notifications, StackStorm-style: when an execution ends, the skill's (or
//! the operator alias's) `notify` rules that fit its outcome, `on-complete`,
//! `on-success` or `on-failure`, render a message from the record and send
//! it to named channels: a room on a connector, a webhook, an email.
//!
//! The observer runs on the message path, so it only renders and queues:
//! each channel has its own bounded queue and its own task that sends,
//! retrying a failed send a few times with a doubling wait. A full queue
//! drops the notice with a warning (counted in
//! `sandbot_notifications_dropped_total`), never making the bot wait, and a
//! slow or dead channel holds up only itself. As the bot stops it waits
//! (bounded) for the notices still queued: the last executions' are sent.
//!
//! Executions refused before they ran (the user may not run the command)
//! notify no one: StackStorm notifies on the completion of executions it
//! ran, and a refusal is not one; it is answered, logged and kept in the
//! history, and notifying on it would let anyone flood the channels by
//! typing a command they may not use. A skill that ran and failed after
//! being refused a grant did run: that is a failure like any other.

mod smtp;
mod webhook;

use super::Observer;
use crate::bus::ResponseSink;
use crate::config::{ChannelSpec, Config, Notify};
use crate::event::{Execution, Outcome, Response, ResponseBody, Target};
use anyhow::{Context as _, Result};
use futures::future::BoxFuture;
use minijinja::Environment;
use prometheus_client::metrics::counter::Counter;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest wait between two attempts, however many retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

const DEFAULT_SUCCESS: &str = "default-success";
const DEFAULT_FAILURE: &str = "default-failure";

/// What a channel gets: the rendered message and the record it is about.
pub struct Notice {
    /// The rule that fired: `on-complete`, `on-success` or `on-failure`.
    pub when: &'static str,
    pub text: String,
    pub execution: Arc<Execution>,
    /// The values templates see, for a channel's own templates (a subject).
    pub values: minijinja::Value,
    /// Where each channel's outcome is noted.
    ledger: Option<Arc<Ledger>>,
}

/// An execution's record as its notices go out: each channel's outcome is
/// added to it as it is known, and the record written again to the history,
/// so the last write holds every channel's.
struct Ledger {
    record: std::sync::Mutex<Execution>,
    history: Arc<crate::history::History>,
}

impl Ledger {
    fn note(&self, notified: crate::event::Notified) {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.notified.push(notified);
        // Queued under the lock: the writes keep the order of the notes.
        self.history.record(&record);
    }
}

/// One way of delivering a notice; the channel's task retries it.
trait Deliver: Send + Sync + 'static {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<()>>;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Complete,
    Success,
    Failure,
}

impl When {
    fn key(self) -> &'static str {
        match self {
            When::Complete => "on-complete",
            When::Success => "on-success",
            When::Failure => "on-failure",
        }
    }

    fn fits(self, outcome: Outcome) -> bool {
        match self {
            When::Complete => true,
            When::Success => outcome == Outcome::Ok,
            When::Failure => outcome != Outcome::Ok,
        }
    }
}

struct Rule {
    when: When,
    /// The template's name in the environment, if the rule has its own.
    template: Option<String>,
    /// Positions in `Notifier::channels`.
    channels: Vec<usize>,
}

#[derive(Default)]
struct SkillRules {
    own: Vec<Rule>,
    /// By alias format: an alias's block replaces the skill's.
    aliases: HashMap<String, Vec<Rule>>,
}

struct Channel {
    name: String,
    queue: mpsc::Sender<Arc<Notice>>,
}

pub struct Notifier {
    env: Arc<Environment<'static>>,
    skills: HashMap<String, SkillRules>,
    channels: Vec<Channel>,
    /// Notices dropped because a channel's queue was full.
    dropped: Counter,
    pending: Arc<Pending>,
    /// Where each channel's outcome is kept with its execution's record.
    history: Option<Arc<crate::history::History>>,
}

/// Notices queued and not yet sent or given up, over every channel, so
/// stopping can wait for them.
#[derive(Default)]
struct Pending {
    count: AtomicU64,
    none: tokio::sync::Notify,
}

impl Pending {
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.none.notify_waiters();
        }
    }
}

impl Notifier {
    /// The observer for `config`'s `notify` blocks, with a sending task per
    /// channel (so this needs a tokio runtime); `None` when no skill or
    /// alias notifies anyone. Room notices go out through `responses`.
    /// Each notice dropped for a full queue counts in `dropped`.
    /// Each notice a channel gives up on counts in `failed`, and with a
    /// `history` each channel's outcome is added to the execution's record.
    pub fn start(
        config: &Config,
        responses: Arc<dyn ResponseSink>,
        dropped: Counter,
        failed: crate::observe::NotificationsFailed,
        history: Option<Arc<crate::history::History>>,
    ) -> Result<Option<Arc<dyn Observer>>> {
        let mut env: Environment<'static> = Environment::new();
        env.add_template_owned(
            DEFAULT_SUCCESS,
            "✅ {{ skill }}{% if user %} ({{ user }}){% endif %}: ok in {{ duration }}",
        )
        .context("the default success template")?;
        env.add_template_owned(
            DEFAULT_FAILURE,
            "❌ {{ skill }}{% if user %} ({{ user }}){% endif %} failed: {{ error or outcome }}",
        )
        .context("the default failure template")?;
        let settings = &config.notifications;
        warn_unjoined_rooms(config);
        let by_name: HashMap<&str, usize> = settings
            .channels
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut skills = HashMap::new();
        for (skill, entry) in &config.skills {
            let mut rules = SkillRules::default();
            if let Some(notify) = &entry.notify {
                let field = format!("skills.{skill}.notify");
                rules.own = compile(&mut env, &field, notify, &by_name)?;
            }
            for (i, alias) in entry.aliases.iter().enumerate() {
                if let Some(notify) = &alias.notify {
                    let field = format!("skills.{skill}.aliases[{i}].notify");
                    let compiled = compile(&mut env, &field, notify, &by_name)?;
                    rules.aliases.insert(alias.format.clone(), compiled);
                }
            }
            if !rules.own.is_empty() || !rules.aliases.is_empty() {
                skills.insert(skill.clone(), rules);
            }
        }
        // A workflow's run is recorded under the workflow's name.
        for (name, entry) in &config.workflows {
            if let Some(notify) = &entry.notify {
                let field = format!("workflows.{name}.notify");
                let own = compile(&mut env, &field, notify, &by_name)?;
                skills.entry(name.clone()).or_default().own = own;
            }
        }
        if skills.is_empty() {
            return Ok(None);
        }
        // Subjects are templates too: they join the environment first.
        let mut subjects = HashMap::new();
        for (name, spec) in &settings.channels {
            if let ChannelSpec::Email {
                subject: Some(t), ..
            } = spec
            {
                let key = format!("notifications.channels.{name}.subject");
                env.add_template_owned(key.clone(), t.0.clone())
                    .with_context(|| key.clone())?;
                subjects.insert(name.clone(), key);
            }
        }
        let env = Arc::new(env);
        let retry = Retry {
            retries: settings.retries,
            backoff: settings.backoff.0,
        };
        let mut channels = Vec::new();
        let pending = Arc::new(Pending::default());
        for (name, spec) in &settings.channels {
            let sender: Box<dyn Deliver> = match spec {
                ChannelSpec::Room {
                    connector,
                    room,
                    thread,
                } => Box::new(RoomSender {
                    responses: responses.clone(),
                    target: Target {
                        connector: connector.clone(),
                        room: room.clone(),
                        thread: thread.clone(),
                    },
                }),
                ChannelSpec::Webhook {
                    url,
                    headers,
                    timeout,
                } => Box::new(
                    webhook::WebhookSender::new(url, headers, &settings.allow_http, timeout.0)
                        .with_context(|| format!("notifications.channels.{name}"))?,
                ),
                ChannelSpec::Email {
                    smtp,
                    tls,
                    from,
                    to,
                    username,
                    password,
                    timeout,
                    ..
                } => Box::new(
                    smtp::SmtpSender::new(smtp::Settings {
                        server: smtp,
                        tls: *tls,
                        from: &from.0,
                        to: to.iter().map(|m| &m.0).collect(),
                        subject: subjects.get(name).cloned(),
                        env: env.clone(),
                        username: username.as_deref(),
                        password: password.as_ref().map(|p| p.expose()),
                        timeout: timeout.0,
                    })
                    .with_context(|| format!("notifications.channels.{name}"))?,
                ),
            };
            let (queue, rx) = mpsc::channel(settings.queue.max(1));
            tokio::spawn(run_channel(
                name.clone(),
                sender,
                rx,
                retry,
                pending.clone(),
                failed.clone(),
            ));
            channels.push(Channel {
                name: name.clone(),
                queue,
            });
        }
        Ok(Some(Arc::new(Notifier {
            env,
            skills,
            channels,
            dropped,
            pending,
            history,
        })))
    }

    fn render(&self, rule: &Rule, e: &Execution, values: &minijinja::Value) -> String {
        let fallback = if e.outcome == Outcome::Ok {
            DEFAULT_SUCCESS
        } else {
            DEFAULT_FAILURE
        };
        let name = rule.template.as_deref().unwrap_or(fallback);
        let rendered = self
            .env
            .get_template(name)
            .and_then(|t| t.render(values.clone()));
        match rendered {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(template = %name, "cannot render the notification, sending the default: {e}");
                self.env
                    .get_template(fallback)
                    .and_then(|t| t.render(values.clone()))
                    .unwrap_or_default()
            }
        }
    }
}

/// Warns of a room channel that names a room its connector is known not to
/// be in: on IRC, a channel not among `connectors.<name>.channels` (the bot
/// never joins it, and most servers refuse a message from outside). Slack's
/// and Matrix's rooms are known only when a notice goes out: a refusal then
/// is that channel's outcome in the execution's record.
fn warn_unjoined_rooms(config: &Config) {
    let tree: Option<serde_yaml_ng::Value> = config
        .text
        .as_deref()
        .and_then(|t| serde_yaml_ng::from_str(t).ok());
    for (name, spec) in &config.notifications.channels {
        let ChannelSpec::Room {
            connector, room, ..
        } = spec
        else {
            continue;
        };
        if config.connectors.get(connector).map(|c| c.kind.as_str()) != Some("irc") {
            continue;
        }
        let joined: Vec<String> = tree
            .as_ref()
            .and_then(|t| {
                t.get("connectors")?
                    .get(connector.as_str())?
                    .get("channels")
            })
            .and_then(|c| c.as_sequence())
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.as_str()?.split_whitespace().next())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        if room.starts_with(['#', '&']) && !joined.contains(&room.to_lowercase()) {
            tracing::warn!(
                "notifications.channels.{name}: room `{}` is not among connectors.{connector}.channels: the bot does not join it, and most IRC servers refuse a message from outside a channel",
                crate::text::for_log(room)
            );
        }
    }
}

/// Adds `notify`'s templates to `env` under their field names, and names its
/// channels by position.
fn compile(
    env: &mut Environment<'static>,
    field: &str,
    notify: &Notify,
    channels: &HashMap<&str, usize>,
) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for (when, rule) in [
        (When::Complete, &notify.on_complete),
        (When::Success, &notify.on_success),
        (When::Failure, &notify.on_failure),
    ] {
        let Some(rule) = rule else { continue };
        let template = match &rule.template {
            Some(t) => {
                let name = format!("{field}.{}.template", when.key());
                env.add_template_owned(name.clone(), t.0.clone())
                    .with_context(|| name.clone())?;
                Some(name)
            }
            None => None,
        };
        let channels = rule
            .channels
            .iter()
            .map(|c| {
                channels
                    .get(c.as_str())
                    .copied()
                    .with_context(|| format!("{field}.{}: no channel named `{c}`", when.key()))
            })
            .collect::<Result<_>>()?;
        rules.push(Rule {
            when,
            template,
            channels,
        });
    }
    Ok(rules)
}

impl Observer for Notifier {
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let none = self.pending.none.notified();
                tokio::pin!(none);
                // Registered before the count is read, so a wake-up
                // between the two is not missed.
                none.as_mut().enable();
                if self.pending.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                none.await;
            }
        })
    }

    fn executed(&self, e: &Execution) {
        if e.outcome == Outcome::Denied && e.denials.is_empty() {
            // Refused before it ran (see the top of this file).
            return;
        }
        let Some(skill) = self.skills.get(&e.skill) else {
            return;
        };
        let rules = e
            .alias
            .as_ref()
            .and_then(|a| skill.aliases.get(a))
            .unwrap_or(&skill.own);
        let mut fired = rules.iter().filter(|r| r.when.fits(e.outcome)).peekable();
        if fired.peek().is_none() {
            return;
        }
        let execution = Arc::new(e.clone());
        let ledger = self.history.as_ref().map(|history| {
            Arc::new(Ledger {
                record: std::sync::Mutex::new(e.clone()),
                history: history.clone(),
            })
        });
        let values = values(e);
        for rule in fired {
            let notice = Arc::new(Notice {
                when: rule.when.key(),
                text: self.render(rule, e, &values),
                execution: execution.clone(),
                values: values.clone(),
                ledger: ledger.clone(),
            });
            for &at in &rule.channels {
                let channel = &self.channels[at];
                // Counted first: the channel's task may finish it at once.
                self.pending.count.fetch_add(1, Ordering::AcqRel);
                let sent = channel.queue.try_send(notice.clone());
                if sent.is_err() {
                    self.pending.done();
                }
                match sent {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let dropped = self.dropped.inc() + 1;
                        tracing::warn!(channel = %channel.name, skill = %e.skill, dropped, "the notification queue is full: notice dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        tracing::warn!(channel = %channel.name, "the notification channel has stopped: notice dropped");
                    }
                }
            }
        }
    }
}

/// What templates see: the record's fields, the parameters as a map, the
/// answers' texts and the duration in words.
fn values(e: &Execution) -> minijinja::Value {
    let parameters: BTreeMap<&str, &str> = e
        .captures
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let responses: Vec<&str> = e
        .responses
        .iter()
        .filter_map(|r| match &r.body {
            ResponseBody::Text(t) => Some(t.as_str()),
            ResponseBody::Reaction { .. } => None,
        })
        .collect();
    minijinja::context! {
        id => e.id,
        event_id => e.event_id.to_string(),
        skill => e.skill,
        version => e.version,
        matcher => e.matcher,
        alias => e.alias,
        user => e.user,
        user_id => e.user_id,
        connector => e.connector,
        room => e.room,
        thread => e.thread,
        text => e.text,
        parameters => parameters,
        captures => parameters,
        outcome => e.outcome.as_str(),
        ok => e.outcome == Outcome::Ok,
        error => e.error,
        denials => e.denials,
        micros => e.micros,
        duration_ms => e.micros / 1000,
        duration => duration(e.micros),
        started_at => e.started_at,
        ended_at => e.ended_at,
        responses => responses,
    }
}

/// `840 µs`, `12 ms`, `3.4 s`.
fn duration(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros} µs"),
        1_000..1_000_000 => format!("{} ms", micros / 1_000),
        _ => format!("{:.1} s", micros as f64 / 1e6),
    }
}

#[derive(Clone, Copy)]
struct Retry {
    retries: u32,
    backoff: Duration,
}

/// A channel's task: sends its notices one after another, each retried
/// with a doubling wait, until the notifier is dropped; notes how each went.
async fn run_channel(
    name: String,
    sender: Box<dyn Deliver>,
    mut queue: mpsc::Receiver<Arc<Notice>>,
    retry: Retry,
    pending: Arc<Pending>,
    failed: crate::observe::NotificationsFailed,
) {
    while let Some(notice) = queue.recv().await {
        let sent = deliver(&name, &*sender, &notice, retry).await;
        if sent.is_err() {
            failed.count(&name);
        }
        if let Some(ledger) = &notice.ledger {
            ledger.note(crate::event::Notified {
                channel: name.clone(),
                when: notice.when.into(),
                ok: sent.is_ok(),
                error: sent.err(),
            });
        }
        pending.done();
    }
}

/// One notice, retried with a doubling wait, until sent or given up (the
/// last error).
async fn deliver(
    name: &str,
    sender: &dyn Deliver,
    notice: &Notice,
    retry: Retry,
) -> Result<(), String> {
    let mut wait = retry.backoff;
    let mut attempt = 1;
    loop {
        match sender.deliver(notice).await {
            Ok(()) => {
                tracing::debug!(channel = %name, execution = %notice.execution.id, when = notice.when, "notified");
                return Ok(());
            }
            Err(e) if attempt <= retry.retries => {
                tracing::warn!(channel = %name, execution = %notice.execution.id, attempt, "notification failed, retrying in {wait:?}: {e:#}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                tracing::error!(channel = %name, execution = %notice.execution.id, attempt, "notification given up: {e:#}");
                return Err(format!("{e:#}"));
            }
        }
        attempt += 1;
    }
}

/// A room on a connector, reached the way the bot's own answers are.
struct RoomSender {
    responses: Arc<dyn ResponseSink>,
    target: Target,
}

impl Deliver for RoomSender {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let response = Response {
                target: self.target.clone(),
                body: ResponseBody::Text(notice.text.clone()),
                // Not an answer to any event: connectors print it as it comes.
                in_reply_to: None,
            };
            self.responses
                .deliver(response)
                .await
                .with_context(|| format!("room {}:{}", self.target.connector, self.target.room))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration(840), "840 µs");
        assert_eq!(duration(12_345), "12 ms");
        assert_eq!(duration(3_400_000), "3.4 s");
    }
}
