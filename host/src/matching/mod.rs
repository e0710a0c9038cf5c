//! Which skill takes an event. The index is built whenever the skill set
//! changes (never per message); a message is tested against every regex
//! matcher of every skill in one multi-pattern pass (`regex_index`).
//!
//! Matchers are untrusted input: a skill may declare at most
//! [`MAX_MATCHERS`], each pattern at most [`MAX_PATTERN_BYTES`] long and
//! compiling to at most `regex_index::PATTERN_SIZE_LIMIT`, and all of them
//! together at most [`MAX_COMPILED_BYTES`]; searches use bounded caches.
//!
//! Regexes, opsdroid's parse-format templates (`parse_format`) and
//! StackStorm's action aliases (`alias`) all become regexes in that one
//! pass.
//!
//! Choosing among several matches (documented in docs/matching.md):
//! 1. an alias wins over a parse-format template, which wins over a regex;
//! 2. then the matcher that matched the longest stretch of the message;
//! 3. on a tie, the skill listed first wins: skills in `configuration.yaml`
//!    order, then skills found only in the skills folder, by file name;
//! 4. within a skill, the matcher it declared first wins.
//!
//! Two aliases that both match are not ranked: nothing runs, and the user
//! is told which commands the message could mean. Two formats of one alias
//! (aliases for the same matcher of the same skill) are: the most specific
//! format wins (`alias::AliasFormat::specificity`).
//!
//! Every `always` matcher also runs, whatever else matched. A `catch-all`
//! runs only when no regex matched; if several skills have one, the first
//! (by rule 2) runs. `event-type` matchers run for every event of their kind.
//!
//! Crontab matchers (`crontab`) are checked here when the skill loads and
//! fired by the scheduler; a webhook matcher is found by its target and
//! exact path ([`Index::webhook`]).
//!
//! A target is a skill or a workflow ([`Target`]): a workflow's aliases,
//! `crontab:` entries and `webhook:` are matchers like a skill's, in the
//! same index, under the same ranking and ambiguity rule. Workflows come
//! after every skill in rule 3's order.

pub mod alias;
mod ascii;
pub mod crontab;
pub mod parse_format;
mod regex_index;

use crate::event::Event;
use crate::manifest::{EventKind, Manifest, MatcherKind};
use crontab::CronSchedule;
use regex_index::{CompiledRegex, RegexIndex};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a matcher starts: a skill or a workflow, by position in the lists
/// the index was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Skill(usize),
    Workflow(usize),
}

/// One matcher's decision to run a skill or start a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub target: Target,
    /// Position of the matcher in the target's manifest.
    pub matcher: usize,
    pub matcher_id: String,
    pub captures: Vec<(String, String)>,
    pub why: Why,
    /// Other aliases that matched the message as well as this one: then
    /// nothing runs, and the user is told which commands it could mean.
    /// (target, matcher) positions, as `target` and `matcher` above.
    pub rivals: Vec<(Target, usize)>,
    /// An alias's acknowledgement template, said before the skill runs.
    pub ack: Option<Arc<str>>,
    /// Why this alias match must not run (a pair that would change a fixed
    /// parameter): said to the user instead.
    pub refused: Option<String>,
}

impl Hit {
    /// The skill's position, when the target is a skill.
    pub fn skill(&self) -> Option<usize> {
        match self.target {
            Target::Skill(skill) => Some(skill),
            Target::Workflow(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The best match for a message, or an event-type matcher: the user
    /// expects an answer, so a failure is reported in chat.
    Chosen,
    /// An `always` matcher, running beside whatever was chosen.
    Always,
    /// Nothing else matched.
    CatchAll,
}

#[derive(Debug, Clone, Copy)]
struct Route {
    /// The target's position among skills then workflows.
    skill: usize,
    matcher: usize,
    /// Which kind of matcher wins over which: an alias over a parse-format
    /// template over a regex, whatever their lengths.
    rank: u8,
    /// Only for messages addressed to the bot (`respond`, not `hear`).
    addressed: bool,
    /// Within a rank, before length: an alias format's specificity.
    specific: u32,
}

/// What the configuration says of one skill's matchers (built by the
/// catalog, since it knows both): routing reads `disabled` and
/// `addressed`; the dispatcher reads `access` and `result`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Turned off by an admin (`skill disable`): none of its matchers runs.
    pub disabled: bool,
    /// By matcher position: answers only messages addressed to the bot.
    pub addressed: Vec<bool>,
    /// By matcher position: who may run it, where.
    pub access: Vec<crate::permissions::Access>,
    /// By matcher position: an operator alias's `result` template.
    pub result: Vec<Option<Arc<str>>>,
    /// By matcher position: the configuration's `ack` for the matcher or
    /// the skill (an alias's own ack comes with its [`Hit`]).
    pub ack: Vec<Option<Arc<str>>>,
    /// By matcher position: the format of the operator alias it is, which
    /// the execution record names.
    pub alias: Vec<Option<Arc<str>>>,
}

impl Policy {
    fn addressed(&self, matcher: usize) -> bool {
        self.addressed.get(matcher).copied().unwrap_or(false)
    }

    /// The operator alias matcher `matcher` is, by its format.
    pub fn alias(&self, matcher: usize) -> Option<String> {
        self.alias.get(matcher)?.as_deref().map(str::to_owned)
    }
}

const REGEX_RANK: u8 = 0;
const PARSE_RANK: u8 = 1;
/// Aliases rank highest, and two aliases that both match are an error.
const ALIAS_RANK: u8 = 2;

#[derive(Default)]
pub struct Index {
    regexes: RegexIndex,
    always: Vec<Route>,
    /// In priority order; the first one the message may reach runs.
    catch_all: Vec<Route>,
    event_types: Vec<(EventKind, Route)>,
    /// Matcher ids, by target (skills, then workflows) then matcher position.
    ids: Vec<Vec<String>>,
    /// How many of the targets are skills: the rest are workflows.
    skills: usize,
    /// Alias formats, to read parameters out of their matches.
    aliases: HashMap<(usize, usize), Arc<alias::AliasFormat>>,
    /// Aliases with `match-multiple`: their regex, to match each place
    /// they fit in one message alone.
    every: HashMap<(usize, usize), regex::Regex>,
    /// Webhook matchers by (skill, path): the matcher's position.
    webhooks: HashMap<(usize, String), usize>,
}

/// One skill's matchers, compiled when the skill loads: a bad pattern fails
/// that skill's load with a message, and rebuilding the index after a
/// reload compiles nothing but the combined prefilter.
#[derive(Debug, Clone, Default)]
pub struct SkillMatchers {
    /// Regex, parse-format and alias matchers by position in the manifest,
    /// as regexes, with their rank.
    regexes: Vec<(usize, CompiledRegex, u8)>,
    aliases: Vec<(usize, Arc<alias::AliasFormat>)>,
    /// Crontab matchers by position, parsed.
    crontabs: Vec<(usize, Arc<CronSchedule>)>,
    /// Webhook matchers by position, with their path (no leading `/`).
    webhooks: Vec<(usize, String)>,
}

impl SkillMatchers {
    /// The skill's crontab matchers: (position in the manifest, schedule).
    pub fn crontabs(&self) -> &[(usize, Arc<CronSchedule>)] {
        &self.crontabs
    }

    /// Does the skill listen for webhooks?
    pub fn has_webhooks(&self) -> bool {
        !self.webhooks.is_empty()
    }
}

/// A webhook matcher's path as requests are matched against it: exact, with
/// no leading `/`.
pub fn webhook_path(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// The most matchers one skill may declare.
pub const MAX_MATCHERS: usize = 128;
/// The longest pattern (or format) one matcher may have.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// The most memory one skill's compiled patterns may hold together.
pub const MAX_COMPILED_BYTES: usize = 8 << 20;

/// Compiles a skill's matchers, refusing any that breaks a bound above.
pub fn compile(manifest: &Manifest) -> Result<SkillMatchers, String> {
    if manifest.matchers.len() > MAX_MATCHERS {
        return Err(format!(
            "it declares {} matchers; a skill may declare at most {MAX_MATCHERS}",
            manifest.matchers.len()
        ));
    }
    let mut regexes = Vec::new();
    let mut aliases = Vec::new();
    let mut crontabs = Vec::new();
    let mut webhooks: Vec<(usize, String)> = Vec::new();
    let mut bytes = 0usize;
    for (i, m) in manifest.matchers.iter().enumerate() {
        let text = match &m.kind {
            MatcherKind::Regex { pattern, .. } => pattern.as_str(),
            MatcherKind::ParseFormat(f) => f.as_str(),
            MatcherKind::ActionAlias(a) => a.format.as_str(),
            MatcherKind::Crontab { expression, .. } => expression.as_str(),
            MatcherKind::Webhook(path) => path.as_str(),
            MatcherKind::EventType(_) | MatcherKind::Always | MatcherKind::CatchAll => "",
        };
        if text.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "matcher `{}` is {} bytes long; at most {MAX_PATTERN_BYTES} are allowed",
                m.id,
                text.len()
            ));
        }
        let (pattern, case_sensitive, rank) = match &m.kind {
            MatcherKind::Regex {
                pattern,
                case_sensitive,
            } => (pattern.clone(), *case_sensitive, REGEX_RANK),
            MatcherKind::ParseFormat(template) => {
                let pattern = parse_format::compile(template)
                    .map_err(|e| format!("matcher `{}` has a bad template: {e}", m.id))?;
                (pattern, false, PARSE_RANK)
            }
            MatcherKind::ActionAlias(spec) => {
                let compiled = alias::compile_spec(spec)
                    .map_err(|e| format!("matcher `{}` has a bad alias: {e}", m.id))?;
                let pattern = compiled.regex.clone();
                aliases.push((i, Arc::new(compiled)));
                (pattern, false, ALIAS_RANK)
            }
            MatcherKind::Crontab {
                expression,
                timezone,
            } => {
                let schedule = CronSchedule::parse(expression, timezone.as_deref())
                    .map_err(|e| format!("crontab matcher `{}`: {e}", m.id))?;
                crontabs.push((i, Arc::new(schedule)));
                continue;
            }
            MatcherKind::Webhook(path) => {
                let path = webhook_path(path);
                if path.is_empty() || path.chars().any(|c| c.is_whitespace() || "?#*".contains(c)) {
                    return Err(format!(
                        "webhook matcher `{}` has path `{path}`: a path is non-empty, exact, \
                         without spaces, `?`, `#` or `*`",
                        m.id
                    ));
                }
                if let Some((other, _)) = webhooks.iter().find(|(_, p)| p == path) {
                    return Err(format!(
                        "webhook matchers `{}` and `{}` both take path `{path}`",
                        manifest.matchers[*other].id, m.id
                    ));
                }
                webhooks.push((i, path.to_owned()));
                continue;
            }
            MatcherKind::EventType(_) | MatcherKind::Always | MatcherKind::CatchAll => continue,
        };
        let compiled = regex_index::compile(&pattern, case_sensitive)
            .map_err(|e| format!("matcher `{}` has a bad regex: {e}", m.id))?;
        bytes += compiled.bytes;
        if bytes > MAX_COMPILED_BYTES {
            return Err(format!(
                "its patterns compile to more than {MAX_COMPILED_BYTES} bytes together (at matcher `{}`)",
                m.id
            ));
        }
        regexes.push((i, compiled, rank));
    }
    Ok(SkillMatchers {
        regexes,
        aliases,
        crontabs,
        webhooks,
    })
}

impl Index {
    /// Builds the index over skills' manifests, compiled matchers and
    /// policies, in priority order. A disabled skill keeps its position
    /// but routes nothing.
    pub fn build<'a>(
        skills: impl IntoIterator<Item = (&'a Manifest, &'a SkillMatchers, &'a Policy)>,
    ) -> Index {
        Index::build_with(skills, std::iter::empty())
    }

    /// [`Index::build`] over skills, then workflows (their aliases,
    /// schedules and webhooks as a manifest of matchers).
    pub fn build_with<'a>(
        skills: impl IntoIterator<Item = (&'a Manifest, &'a SkillMatchers, &'a Policy)>,
        workflows: impl IntoIterator<Item = (&'a Manifest, &'a SkillMatchers, &'a Policy)>,
    ) -> Index {
        let mut index = Index::default();
        let mut regexes = Vec::new();
        let skills: Vec<_> = skills.into_iter().collect();
        index.skills = skills.len();
        let all = skills.into_iter().chain(workflows);
        for (skill, (manifest, compiled, policy)) in all.enumerate() {
            index
                .ids
                .push(manifest.matchers.iter().map(|m| m.id.clone()).collect());
            if policy.disabled {
                continue;
            }
            regexes.extend(compiled.regexes.iter().map(|(matcher, c, rank)| {
                let specific = compiled
                    .aliases
                    .iter()
                    .find(|(m, _)| m == matcher)
                    .map_or(0, |(_, a)| a.specificity());
                (
                    Route {
                        skill,
                        matcher: *matcher,
                        rank: *rank,
                        addressed: policy.addressed(*matcher),
                        specific,
                    },
                    c,
                )
            }));
            for (matcher, format) in &compiled.aliases {
                index.aliases.insert((skill, *matcher), format.clone());
                if format.every.is_some()
                    && let Ok(regex) = regex::RegexBuilder::new(&format.regex)
                        .case_insensitive(true)
                        .build()
                {
                    index.every.insert((skill, *matcher), regex);
                }
            }
            for (matcher, path) in &compiled.webhooks {
                index.webhooks.insert((skill, path.clone()), *matcher);
            }
            for (matcher, m) in manifest.matchers.iter().enumerate() {
                let route = Route {
                    skill,
                    matcher,
                    rank: REGEX_RANK,
                    addressed: policy.addressed(matcher),
                    specific: 0,
                };
                match &m.kind {
                    MatcherKind::Regex { .. }
                    | MatcherKind::ParseFormat(_)
                    | MatcherKind::ActionAlias(_) => {}
                    MatcherKind::Always => index.always.push(route),
                    MatcherKind::CatchAll => index.catch_all.push(route),
                    MatcherKind::EventType(kind) => index.event_types.push((*kind, route)),
                    // The scheduler fires crontabs; webhooks are found by path.
                    MatcherKind::Crontab { .. } | MatcherKind::Webhook(_) => {}
                }
            }
        }
        index.regexes = RegexIndex::build(regexes);
        index
    }

    /// Every skill that should run for `event`, chosen skill first.
    pub fn route(&self, event: &Event) -> Vec<Hit> {
        let mut hits = Vec::new();
        let kind = match event {
            Event::Message(m) => {
                let reaches = |r: &&Route| m.addressed || !r.addressed;
                match self.regexes.best(&m.text, m.addressed) {
                    Some(best) => {
                        let alias = self.aliases.get(&(best.route.skill, best.route.matcher));
                        // `match-multiple`: one hit per place it fits.
                        if best.rivals.is_empty()
                            && let Some(each) = self.every_place(best.route, &m.text)
                        {
                            for captures in each {
                                let refused = alias.and_then(|a| a.refusal(&captures));
                                let captures = self.captures(best.route, &m.text, captures);
                                let mut hit = self.hit(best.route, captures, Why::Chosen);
                                hit.ack = alias.and_then(|a| a.ack.clone());
                                hit.refused = refused;
                                hits.push(hit);
                            }
                            hits.extend(
                                self.always
                                    .iter()
                                    .filter(reaches)
                                    .map(|r| self.hit(*r, Vec::new(), Why::Always)),
                            );
                            return self.with_event_types(hits, EventKind::Message);
                        }
                        let refused = alias.and_then(|a| a.refusal(&best.captures));
                        let captures = self.captures(best.route, &m.text, best.captures);
                        let mut hit = self.hit(best.route, captures, Why::Chosen);
                        hit.ack = alias.and_then(|a| a.ack.clone());
                        hit.refused = refused;
                        // Another format of the same alias lost to the
                        // more specific winner: not a rival.
                        let id = &self.ids[best.route.skill][best.route.matcher];
                        hit.rivals = best
                            .rivals
                            .iter()
                            .filter(|r| {
                                r.skill != best.route.skill || self.ids[r.skill][r.matcher] != *id
                            })
                            .map(|r| (self.target(r.skill), r.matcher))
                            .collect();
                        hits.push(hit);
                    }
                    None => {
                        if let Some(route) = self.catch_all.iter().find(reaches) {
                            hits.push(self.hit(*route, Vec::new(), Why::CatchAll));
                        }
                    }
                }
                hits.extend(
                    self.always
                        .iter()
                        .filter(reaches)
                        .map(|r| self.hit(*r, Vec::new(), Why::Always)),
                );
                EventKind::Message
            }
            Event::Reaction(_) => EventKind::Reaction,
            Event::Join(_) => EventKind::Join,
            Event::Leave(_) => EventKind::Leave,
            Event::Webhook(_) => EventKind::Webhook,
            Event::Schedule { .. } => EventKind::Schedule,
        };
        self.with_event_types(hits, kind)
    }

    /// `hits`, then the event-type matchers of `kind`.
    fn with_event_types(&self, mut hits: Vec<Hit>, kind: EventKind) -> Vec<Hit> {
        hits.extend(
            self.event_types
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| self.hit(*r, Vec::new(), Why::Chosen)),
        );
        hits
    }

    /// For an alias with `match-multiple` that fits `text` in several
    /// places: each place's captures, in order (None when it fits once).
    fn every_place(&self, route: Route, text: &str) -> Option<Vec<Vec<(String, String)>>> {
        let key = (route.skill, route.matcher);
        let regex = self.every.get(&key)?;
        let pieces = self.aliases.get(&key)?.pieces(text)?;
        let each: Vec<Vec<(String, String)>> = pieces
            .into_iter()
            .filter_map(|piece| {
                let found = regex.captures(piece)?;
                Some(
                    regex
                        .capture_names()
                        .flatten()
                        .filter_map(|name| {
                            let value = found.name(name)?;
                            Some((name.to_owned(), value.as_str().to_owned()))
                        })
                        .collect(),
                )
            })
            .collect();
        (each.len() >= 2).then_some(each)
    }

    /// Alias matchers with the same words (the same pattern), in groups of
    /// two or more, each (target, matcher) in index order: commands no
    /// message can tell apart, so every message they fit is answered "say
    /// which". Disabled targets are not in the index, so not here.
    pub fn same_aliases(&self) -> Vec<Vec<(Target, usize)>> {
        let mut by_pattern: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for ((position, matcher), format) in &self.aliases {
            by_pattern
                .entry(format.regex.as_str())
                .or_default()
                .push((*position, *matcher));
        }
        by_pattern
            .into_values()
            .filter(|group| group.len() > 1)
            .map(|mut group| {
                group.sort_unstable();
                group
                    .into_iter()
                    .map(|(position, matcher)| (self.target(position), matcher))
                    .collect()
            })
            .collect()
    }

    /// The target at `position` among skills then workflows.
    fn target(&self, position: usize) -> Target {
        match position.checked_sub(self.skills) {
            None => Target::Skill(position),
            Some(workflow) => Target::Workflow(workflow),
        }
    }

    /// The position of `target` among skills then workflows.
    fn position(&self, target: Target) -> Option<usize> {
        match target {
            Target::Skill(skill) => (skill < self.skills).then_some(skill),
            Target::Workflow(workflow) => Some(self.skills + workflow),
        }
    }

    fn hit(&self, route: Route, captures: Vec<(String, String)>, why: Why) -> Hit {
        Hit {
            target: self.target(route.skill),
            matcher: route.matcher,
            matcher_id: self.ids[route.skill][route.matcher].clone(),
            captures,
            why,
            rivals: Vec::new(),
            ack: None,
            refused: None,
        }
    }

    /// What the skill gets as captures: an alias's parameters (quotes off,
    /// defaults in, trailing pairs applied), a template's fields by name or
    /// number, a regex's groups.
    fn captures(
        &self,
        route: Route,
        text: &str,
        captures: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        match route.rank {
            ALIAS_RANK => match self.aliases.get(&(route.skill, route.matcher)) {
                Some(format) => format.parameters(text, &captures),
                None => captures,
            },
            PARSE_RANK => captures
                .into_iter()
                .map(|(n, v)| (parse_format::field_name(&n).to_owned(), v))
                .collect(),
            _ => captures,
        }
    }

    /// The webhook matcher of `target` for a request to `path`, matched
    /// exactly after trimming leading `/`.
    pub fn webhook(&self, target: Target, path: &str) -> Option<Hit> {
        let skill = self.position(target)?;
        let matcher = *self.webhooks.get(&(skill, webhook_path(path).to_owned()))?;
        let route = Route {
            skill,
            matcher,
            rank: REGEX_RANK,
            addressed: false,
            specific: 0,
        };
        Some(self.hit(route, Vec::new(), Why::Chosen))
    }

    /// The hit for a matcher fired by something other than an event's
    /// content (the scheduler).
    pub fn fired(&self, target: Target, matcher: usize) -> Option<Hit> {
        let route = Route {
            skill: self.position(target)?,
            matcher,
            rank: REGEX_RANK,
            addressed: false,
            specific: 0,
        };
        self.ids.get(route.skill)?.get(matcher)?;
        Some(self.hit(route, Vec::new(), Why::Chosen))
    }

    /// How many regex matchers the index holds.
    pub fn regex_count(&self) -> usize {
        self.regexes.len()
    }
}

#[cfg(test)]
pub(crate) mod tests;
