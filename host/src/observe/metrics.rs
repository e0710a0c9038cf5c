//! Prometheus metrics (prometheus-client, OpenMetrics text): events in by
//! connector and kind, matches by why a skill ran (or none), executions by
//! skill and outcome, execution latency by skill, and, read when scraped,
//! events in flight, skills loaded, loads and load failures, memory
//! operations by operation and result, and connectors up. Counting is an atomic add on the message path; the text
//! is built only when `/metrics` is asked for (`web::metrics`). Label
//! values are escaped as the text format wants (`\\`, `\"`, `\n`), so no
//! name (a skill's, a connector's, a host's) can end its label or start a
//! line of its own.

use super::Observer;
use crate::event::{Event, Execution};
use crate::matching::Why;
use crate::memory::MemoryCounts;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(&'static str, Label)>;

/// A label's value, kept as it is and escaped as it is written out.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Label(String);

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write;
        let mut rest = self.0.as_str();
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            encoder.write_str(&rest[..at])?;
            encoder.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        encoder.write_str(rest)
    }
}

/// Events a connector host put on the bus, by connector.
#[derive(Clone)]
pub struct BusPublished(Family<Labels, Counter>);

impl BusPublished {
    pub fn count(&self, connector: &str) {
        self.0
            .get_or_create(&labels([("connector", connector.to_owned())]))
            .inc();
    }
}

/// Notices a channel gave up on (after its retries), by channel.
#[derive(Clone, Default)]
pub struct NotificationsFailed(Family<Labels, Counter>);

impl NotificationsFailed {
    pub fn count(&self, channel: &str) {
        self.0
            .get_or_create(&labels([("channel", channel.to_owned())]))
            .inc();
    }
}

/// Label pairs, their values escaped when written.
fn labels<const N: usize>(pairs: [(&'static str, String); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, Label(v))).collect()
}

/// Latency buckets: 10 µs doubling to about 10 s, skills' whole range.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-5, 2.0, 21))
}

pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    executions: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    matches: Family<Labels, Counter>,
    in_flight: Gauge,
    skills: Gauge,
    loads: Counter,
    load_failures: Counter,
    connector_up: Family<Labels, Gauge>,
    memory_ops: Family<Labels, Counter>,
    notices_dropped: Counter,
    notices_failed: NotificationsFailed,
    webhooks_refused: Family<Labels, Counter>,
    bus_published: Family<Labels, Counter>,
    bus_connected: Family<Labels, Gauge>,
    stream_pending: Gauge,
    stream_ack_pending: Gauge,
    lease_held: Family<Labels, Gauge>,
    /// The memory backend's counts, read when scraped.
    memory: Option<Arc<MemoryCounts>>,
}

/// What a scrape reads from the running bot.
pub struct Snapshot<'a> {
    pub in_flight: usize,
    pub skills: usize,
    /// Skills loaded and loads failed since start (`Catalog::load_counts`).
    pub loads: (u64, u64),
    /// Each connector's name and whether it is up.
    pub connectors: Vec<(&'a str, bool)>,
    /// On a NATS bus: this host's part.
    pub bus: Option<BusSnapshot>,
}

/// This host on a NATS bus, as a scrape reads it.
pub struct BusSnapshot {
    pub host: String,
    pub roles: String,
    pub connected: bool,
    /// The work stream's events not yet taken, and taken but not acked.
    pub pending: u64,
    pub ack_pending: u64,
    pub leases: Vec<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sandbot");
        let events = Family::<Labels, Counter>::default();
        let executions = Family::<Labels, Counter>::default();
        let latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let matches = Family::<Labels, Counter>::default();
        let in_flight = Gauge::default();
        let skills = Gauge::default();
        let loads = Counter::default();
        let load_failures = Counter::default();
        let connector_up = Family::<Labels, Gauge>::default();
        let memory_ops = Family::<Labels, Counter>::default();
        let notices_dropped = Counter::default();
        let notices_failed = NotificationsFailed::default();
        let webhooks_refused = Family::<Labels, Counter>::default();
        let bus_published = Family::<Labels, Counter>::default();
        let bus_connected = Family::<Labels, Gauge>::default();
        let stream_pending = Gauge::default();
        let stream_ack_pending = Gauge::default();
        let lease_held = Family::<Labels, Gauge>::default();
        registry.register(
            "bus_connected",
            "On a NATS bus: 1 while this host (labelled with its name and roles) is connected",
            bus_connected.clone(),
        );
        registry.register(
            "bus_events_published",
            "On a NATS bus: events this host's connectors put in the work stream, by connector",
            bus_published.clone(),
        );
        registry.register(
            "bus_stream_pending",
            "On a NATS bus: events in the work stream no worker has taken yet",
            stream_pending.clone(),
        );
        registry.register(
            "bus_stream_ack_pending",
            "On a NATS bus: events taken by a worker and not yet acked",
            stream_ack_pending.clone(),
        );
        registry.register(
            "lease_held",
            "On a NATS bus: 1 for each lease (single connection, cron) this host holds",
            lease_held.clone(),
        );
        registry.register(
            "events",
            "Events received, by connector and kind",
            events.clone(),
        );
        registry.register(
            "executions",
            "Skill executions, by skill and outcome",
            executions.clone(),
        );
        registry.register(
            "execution_seconds",
            "How long executions took, by skill",
            latency.clone(),
        );
        registry.register(
            "events_in_flight",
            "Events being handled now",
            in_flight.clone(),
        );
        registry.register(
            "matches",
            "Skills chosen to run, by why (chosen, always, catch-all), and messages nothing matched (none)",
            matches.clone(),
        );
        registry.register("skills_loaded", "Skills loaded now", skills.clone());
        registry.register(
            "skill_loads",
            "Skills loaded or updated since start",
            loads.clone(),
        );
        registry.register(
            "skill_load_failures",
            "Skill loads that failed since start",
            load_failures.clone(),
        );
        registry.register(
            "memory_operations",
            "Skills' memory calls, by operation (get, put, delete, increment, compare_and_swap, batch) and result (ok, error, refused: over quota or not possible as asked)",
            memory_ops.clone(),
        );
        registry.register(
            "notifications_dropped",
            "Notices dropped because their channel's queue was full",
            notices_dropped.clone(),
        );
        registry.register(
            "notifications_failed",
            "Notices a channel gave up on after its retries, by channel",
            notices_failed.0.clone(),
        );
        registry.register(
            "webhooks_refused",
            "Webhook requests refused for a missing or wrong secret (401), by hook",
            webhooks_refused.clone(),
        );
        registry.register(
            "connector_up",
            "1 when the connector is connected or listening, else 0",
            connector_up.clone(),
        );
        Metrics {
            registry,
            events,
            executions,
            latency,
            matches,
            in_flight,
            skills,
            loads,
            load_failures,
            connector_up,
            memory_ops,
            notices_dropped,
            notices_failed,
            webhooks_refused,
            bus_published,
            bus_connected,
            stream_pending,
            stream_ack_pending,
            lease_held,
            memory: None,
        }
    }

    /// The counters a connector host counts the events it puts on the bus
    /// in, by connector (a connectors-only host handles none itself).
    pub fn bus_published(&self) -> BusPublished {
        BusPublished(self.bus_published.clone())
    }

    /// The counter the notifier counts dropped notices in.
    pub fn notices_dropped(&self) -> Counter {
        self.notices_dropped.clone()
    }

    /// The counters the notifier counts notices given up on in, by channel.
    pub fn notices_failed(&self) -> NotificationsFailed {
        self.notices_failed.clone()
    }

    /// Reports the calls `counts` has counted (`memory::Counted`).
    pub fn counting_memory(mut self, counts: Arc<MemoryCounts>) -> Metrics {
        self.memory = Some(counts);
        self
    }

    /// Counts a webhook request refused for its secret, by hook
    /// (`skills.NAME.webhook`).
    pub fn webhook_refused(&self, hook: &str) {
        self.webhooks_refused
            .get_or_create(&labels([("hook", hook.to_owned())]))
            .inc();
    }

    /// Counts an event as it arrives.
    pub fn event(&self, event: &Event) {
        let kind = match event {
            Event::Message(_) => "message",
            Event::Reaction(_) => "reaction",
            Event::Join(_) => "join",
            Event::Leave(_) => "leave",
            Event::Webhook(_) => "webhook",
            Event::Schedule { .. } => "schedule",
        };
        let connector = event.connector().unwrap_or("-").to_owned();
        self.events
            .get_or_create(&labels([
                ("connector", connector),
                ("kind", kind.to_owned()),
            ]))
            .inc();
    }

    /// Counts why each skill ran for a message; `None` for a message
    /// nothing matched.
    pub fn matched(&self, why: Option<Why>) {
        let why = match why {
            Some(Why::Chosen) => "chosen",
            Some(Why::Always) => "always",
            Some(Why::CatchAll) => "catch-all",
            None => "none",
        };
        self.matches
            .get_or_create(&labels([("why", why.to_owned())]))
            .inc();
    }

    /// The whole text a scrape gets.
    pub fn render(&self, now: Snapshot) -> String {
        self.in_flight.set(now.in_flight as i64);
        self.skills.set(now.skills as i64);
        // Counters only go up: add what the catalog counted since.
        self.loads
            .inc_by(now.loads.0.saturating_sub(self.loads.get()));
        self.load_failures
            .inc_by(now.loads.1.saturating_sub(self.load_failures.get()));
        if let Some(memory) = &self.memory {
            for (op, result, count) in memory.snapshot() {
                let counter = self.memory_ops.get_or_create(&labels([
                    ("op", op.to_owned()),
                    ("result", result.to_owned()),
                ]));
                counter.inc_by(count.saturating_sub(counter.get()));
            }
        }
        for (name, up) in now.connectors {
            self.connector_up
                .get_or_create(&labels([("connector", name.to_owned())]))
                .set(i64::from(up));
        }
        if let Some(bus) = now.bus {
            self.bus_connected
                .get_or_create(&labels([("host", bus.host), ("roles", bus.roles)]))
                .set(i64::from(bus.connected));
            self.stream_pending.set(bus.pending as i64);
            self.stream_ack_pending.set(bus.ack_pending as i64);
            // A lease held before and lost since reads 0.
            self.lease_held.clear();
            for lease in bus.leases {
                self.lease_held
                    .get_or_create(&labels([("lease", lease)]))
                    .set(1);
            }
        }
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::error!("could not encode the metrics: {e}");
        }
        text
    }
}

impl Observer for Metrics {
    fn executed(&self, e: &Execution) {
        self.executions
            .get_or_create(&labels([
                ("skill", e.skill.clone()),
                ("outcome", e.outcome.as_str().to_owned()),
            ]))
            .inc();
        self.latency
            .get_or_create(&labels([("skill", e.skill.clone())]))
            .observe(e.micros as f64 / 1e6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, Outcome};

    /// Names with every character the text format gives power to reach
    /// the scrape as values of their labels, never as lines of their own.
    #[test]
    fn hostile_label_values_are_escaped() {
        let metrics = Metrics::new();
        let hostile = [
            "rw\"} 1\nsandbot_forged_total{skill=\"x",
            "back\\slash",
            "brace{}\"quote\"",
            "lf\n\nlf",
        ];
        for name in hostile {
            let event = crate::event::Event::Schedule { fired_at: 0 };
            let mut e = Execution::for_event("e".into(), EventId(1), &event, 0);
            e.skill = name.into();
            e.outcome = Outcome::Error;
            metrics.executed(&e);
        }
        let text = metrics.render(Snapshot {
            in_flight: 0,
            skills: 0,
            loads: (0, 0),
            connectors: vec![("co\"n\nnector", true)],
            bus: None,
        });
        assert!(
            !text.lines().any(|l| l.starts_with("sandbot_forged")),
            "{text}"
        );
        // Every sample line reads back, by the format's own rules, to the
        // values that went in.
        let mut skills = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, labels) = sample(line).unwrap_or_else(|| panic!("not a sample: {line}"));
            if name == "sandbot_executions_total" {
                skills.insert(labels["skill"].clone());
            }
        }
        let expected: std::collections::BTreeSet<String> =
            hostile.iter().map(|h| h.to_string()).collect();
        assert_eq!(skills, expected, "{text}");
        assert!(text.contains(
            r#"sandbot_executions_total{skill="rw\"} 1\nsandbot_forged_total{skill=\"x",outcome="error"} 1"#
        ), "{text}");
        assert!(text.contains(r#"skill="back\\slash""#), "{text}");
        assert!(text.contains(r#"connector="co\"n\nnector""#), "{text}");
    }

    /// One sample line of the text format: its name and its labels'
    /// values, unescaped; `None` if it breaks the format's rules.
    fn sample(line: &str) -> Option<(String, std::collections::HashMap<String, String>)> {
        let mut chars = line.chars().peekable();
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '{' || c == ' ' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut labels = std::collections::HashMap::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                let mut key = String::new();
                loop {
                    match chars.next()? {
                        '=' => break,
                        c if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                        _ => return None,
                    }
                }
                if chars.next()? != '"' {
                    return None;
                }
                let mut value = String::new();
                loop {
                    match chars.next()? {
                        '\\' => match chars.next()? {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            _ => return None,
                        },
                        '"' => break,
                        '\n' => return None,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
                match chars.next()? {
                    ',' => continue,
                    '}' => break,
                    _ => return None,
                }
            }
        }
        if chars.next()? != ' ' {
            return None;
        }
        chars.collect::<String>().trim().parse::<f64>().ok()?;
        Some((name, labels))
    }
}
