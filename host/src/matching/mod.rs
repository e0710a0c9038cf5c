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
//! fired by the scheduler; a webhook matcher is found by its skill and exact
//! path ([`Index::webhook`]).

pub mod alias;
pub mod crontab;
pub mod parse_format;
mod regex_index;

use crate::event::Event;
use crate::manifest::{EventKind, Manifest, MatcherKind};
use crontab::CronSchedule;
use regex_index::{CompiledRegex, RegexIndex};
use std::collections::HashMap;
use std::sync::Arc;

/// One matcher's decision to run a skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Position of the skill in the list the index was built from.
    pub skill: usize,
    /// Position of the matcher in the skill's manifest.
    pub matcher: usize,
    pub matcher_id: String,
    pub captures: Vec<(String, String)>,
    pub why: Why,
    /// Other aliases that matched the message as well as this one: then
    /// nothing runs, and the user is told which commands it could mean.
    /// (skill, matcher) positions, as `skill` and `matcher` above.
    pub rivals: Vec<(usize, usize)>,
    /// An alias's acknowledgement template, said before the skill runs.
    pub ack: Option<Arc<str>>,
    /// Why this alias match must not run (a pair that would change a fixed
    /// parameter): said to the user instead.
    pub refused: Option<String>,
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
    /// Matcher ids, by skill then matcher position.
    ids: Vec<Vec<String>>,
    /// Alias formats, to read parameters out of their matches.
    aliases: HashMap<(usize, usize), Arc<alias::AliasFormat>>,
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
        let mut index = Index::default();
        let mut regexes = Vec::new();
        for (skill, (manifest, compiled, policy)) in skills.into_iter().enumerate() {
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
                            .map(|r| (r.skill, r.matcher))
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
        hits.extend(
            self.event_types
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| self.hit(*r, Vec::new(), Why::Chosen)),
        );
        hits
    }

    fn hit(&self, route: Route, captures: Vec<(String, String)>, why: Why) -> Hit {
        Hit {
            skill: route.skill,
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

    /// The webhook matcher of skill `skill` (its position) for a request to
    /// `path`, matched exactly after trimming leading `/`.
    pub fn webhook(&self, skill: usize, path: &str) -> Option<Hit> {
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
    pub fn fired(&self, skill: usize, matcher: usize) -> Hit {
        let route = Route {
            skill,
            matcher,
            rank: REGEX_RANK,
            addressed: false,
            specific: 0,
        };
        self.hit(route, Vec::new(), Why::Chosen)
    }

    /// How many regex matchers the index holds.
    pub fn regex_count(&self) -> usize {
        self.regexes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;
    use crate::manifest::MatcherSpec;

    fn manifest(name: &str, matchers: Vec<(&str, MatcherKind)>) -> Manifest {
        Manifest {
            name: name.into(),
            version: "1".into(),
            description: String::new(),
            matchers: matchers
                .into_iter()
                .map(|(id, kind)| MatcherSpec {
                    id: id.into(),
                    kind,
                    help: String::new(),
                })
                .collect(),
        }
    }

    fn build(skills: &[Manifest]) -> Index {
        let compiled: Vec<SkillMatchers> = skills.iter().map(|m| compile(m).unwrap()).collect();
        let policy = Policy::default();
        Index::build(skills.iter().zip(&compiled).map(|(m, c)| (m, c, &policy)))
    }

    fn regex(p: &str, case_sensitive: bool) -> MatcherKind {
        MatcherKind::Regex {
            pattern: p.into(),
            case_sensitive,
        }
    }

    fn say(text: &str) -> Event {
        Event::Message(Message {
            id: "1".into(),
            text: text.into(),
            user: "alice".into(),
            user_id: "alice".into(),
            room: "ops".into(),
            connector: "shell".into(),
            thread: None,
            received_at: 0,
            addressed: true,
        })
    }

    #[test]
    fn longest_match_then_order_decides() {
        let skills = [
            manifest("a", vec![("short", regex("deploy", true))]),
            manifest("b", vec![("long", regex(r"deploy (?P<app>\w+)", true))]),
            manifest("c", vec![("same", regex(r"deploy (?P<what>\w+)", true))]),
        ];
        let index = build(&skills);
        let hits = index.route(&say("deploy api"));
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].skill, hits[0].matcher_id.as_str()), (1, "long"));
        assert_eq!(
            hits[0].captures,
            vec![("app".to_string(), "api".to_string())]
        );
    }

    #[test]
    fn case_option_and_numbered_groups() {
        let skills = [manifest(
            "hello",
            vec![("greet", regex("^(hi|hello)$", false))],
        )];
        let index = build(&skills);
        let hits = index.route(&say("HeLLo"));
        assert_eq!(
            hits[0].captures,
            vec![("1".to_string(), "HeLLo".to_string())]
        );
        let strict = [manifest(
            "hello",
            vec![("greet", regex("^(hi|hello)$", true))],
        )];
        assert!(build(&strict).route(&say("HeLLo")).is_empty());
    }

    #[test]
    fn always_runs_beside_and_catch_all_only_alone() {
        let skills = [
            manifest("seen", vec![("record", MatcherKind::Always)]),
            manifest("fallback", vec![("huh", MatcherKind::CatchAll)]),
            manifest("fallback2", vec![("huh2", MatcherKind::CatchAll)]),
            manifest("hello", vec![("greet", regex("^hi$", true))]),
        ];
        let index = build(&skills);
        let hits = index.route(&say("hi"));
        assert_eq!(
            hits.iter().map(|h| (h.skill, h.why)).collect::<Vec<_>>(),
            vec![(3, Why::Chosen), (0, Why::Always)]
        );
        let hits = index.route(&say("what?"));
        assert_eq!(
            hits.iter().map(|h| (h.skill, h.why)).collect::<Vec<_>>(),
            vec![(1, Why::CatchAll), (0, Why::Always)]
        );
    }

    #[test]
    fn an_alias_beats_a_template_beats_a_regex_and_parameters_come_out() {
        let skills = [
            manifest(
                "r",
                vec![("re", regex(r"^deploy (?P<app>\w+) to (?P<env>\w+)$", false))],
            ),
            manifest(
                "p",
                vec![(
                    "tpl",
                    MatcherKind::ParseFormat("deploy {app} to {env}".into()),
                )],
            ),
            manifest(
                "a",
                vec![(
                    "alias",
                    MatcherKind::ActionAlias(crate::manifest::AliasSpec::new(
                        "deploy {{app}} to {{env=staging}}",
                    )),
                )],
            ),
        ];
        let index = build(&skills);
        let hits = index.route(&say("Deploy web to prod timeout=30"));
        assert_eq!((hits[0].skill, hits[0].matcher_id.as_str()), (2, "alias"));
        assert_eq!(
            hits[0].captures,
            vec![
                ("app".to_string(), "web".to_string()),
                ("env".to_string(), "prod".to_string()),
                ("timeout".to_string(), "30".to_string())
            ]
        );
        assert!(hits[0].rivals.is_empty());
        // Without the alias, the template wins over the regex.
        let index = build(&skills[..2]);
        let hits = index.route(&say("deploy web to prod"));
        assert_eq!((hits[0].skill, hits[0].matcher_id.as_str()), (1, "tpl"));
    }

    #[test]
    fn two_aliases_that_both_match_are_named_not_guessed() {
        let skills = [
            manifest(
                "deploy",
                vec![(
                    "deploy",
                    MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app}}")),
                )],
            ),
            manifest(
                "ship",
                vec![(
                    "ship",
                    MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app}} now")),
                )],
            ),
        ];
        let index = build(&skills);
        let hits = index.route(&say("deploy web now"));
        assert_eq!(hits.len(), 1);
        // Named most specific first.
        assert_eq!(hits[0].skill, 1);
        assert_eq!(hits[0].rivals, vec![(0, 0)]);
        let hits = index.route(&say("deploy web"));
        assert!(hits[0].rivals.is_empty(), "only one fits: {hits:?}");
    }

    #[test]
    fn respond_only_matchers_need_the_bot_addressed_and_disabled_skills_none() {
        let skills = [
            manifest(
                "deploy",
                vec![("deploy", regex(r"^deploy (?P<app>\w+)$", false))],
            ),
            manifest("any", vec![("word", regex(r"^deploy", false))]),
            manifest("huh", vec![("huh", MatcherKind::CatchAll)]),
        ];
        let compiled: Vec<SkillMatchers> = skills.iter().map(|m| compile(m).unwrap()).collect();
        let respond = Policy {
            addressed: vec![true],
            ..Policy::default()
        };
        let hear = Policy::default();
        let policies = [&respond, &hear, &respond];
        let index = Index::build(
            skills
                .iter()
                .zip(&compiled)
                .zip(policies)
                .map(|((m, c), p)| (m, c, p)),
        );
        let mut ambient = say("deploy api");
        if let Event::Message(m) = &mut ambient {
            m.addressed = false;
        }
        let hits = index.route(&ambient);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].skill, 1, "the hearing matcher takes it");
        assert_eq!(index.route(&say("deploy api"))[0].skill, 0);
        if let Event::Message(m) = &mut ambient {
            m.text = "what?".into();
        }
        assert!(
            index.route(&ambient).is_empty(),
            "the catch-all responds only"
        );
        assert_eq!(index.route(&say("what?"))[0].skill, 2);
        let off = Policy {
            disabled: true,
            ..Policy::default()
        };
        let index = Index::build(
            skills
                .iter()
                .zip(&compiled)
                .zip([&off, &off, &hear])
                .map(|((m, c), p)| (m, c, p)),
        );
        let hits = index.route(&say("deploy api"));
        assert_eq!(
            hits.iter().map(|h| (h.skill, h.why)).collect::<Vec<_>>(),
            vec![(2, Why::CatchAll)]
        );
    }

    #[test]
    fn templates_give_fields_by_name_and_number() {
        let skills = [manifest(
            "remind",
            vec![(
                "in",
                MatcherKind::ParseFormat("remind me in {minutes:d} minutes to {}".into()),
            )],
        )];
        let hits = build(&skills).route(&say("remind me in 5 minutes to stretch"));
        assert_eq!(
            hits[0].captures,
            vec![
                ("minutes".to_string(), "5".to_string()),
                ("1".to_string(), "stretch".to_string())
            ]
        );
    }

    #[test]
    fn webhooks_match_their_exact_path_and_crontabs_are_checked() {
        let skills = [
            manifest("a", vec![("hook", MatcherKind::Webhook("/alert".into()))]),
            manifest(
                "b",
                vec![
                    ("greet", regex("^hi$", true)),
                    ("hook", MatcherKind::Webhook("alert/v2".into())),
                ],
            ),
        ];
        let index = build(&skills);
        assert_eq!(index.webhook(0, "alert").unwrap().matcher_id, "hook");
        assert_eq!(index.webhook(0, "//alert").unwrap().skill, 0);
        assert_eq!(index.webhook(1, "alert/v2").unwrap().matcher, 1);
        assert!(index.webhook(1, "alert").is_none());
        assert!(index.webhook(0, "alert/").is_none());
        assert!(index.webhook(2, "alert").is_none());

        let bad = manifest("x", vec![("w", MatcherKind::Webhook("a/*".into()))]);
        assert!(compile(&bad).unwrap_err().contains("webhook matcher `w`"));
        let twice = manifest(
            "x",
            vec![
                ("w1", MatcherKind::Webhook("a".into())),
                ("w2", MatcherKind::Webhook("/a".into())),
            ],
        );
        assert!(compile(&twice).unwrap_err().contains("`w1` and `w2`"));
        let cron = |e: &str, z: Option<&str>| {
            manifest(
                "x",
                vec![(
                    "daily",
                    MatcherKind::Crontab {
                        expression: e.into(),
                        timezone: z.map(Into::into),
                    },
                )],
            )
        };
        assert_eq!(
            compile(&cron("0 9 * * *", Some("Europe/Paris")))
                .unwrap()
                .crontabs()
                .len(),
            1
        );
        let e = compile(&cron("0 9 * *", None)).unwrap_err();
        assert!(e.starts_with("crontab matcher `daily`: "), "{e}");
        let e = compile(&cron("0 9 * * *", Some("Europe/Pariss"))).unwrap_err();
        assert!(
            e.contains("crontab matcher `daily`: unknown time zone"),
            "{e}"
        );
    }

    #[test]
    fn bad_patterns_are_reported_per_matcher() {
        let m = manifest("x", vec![("broken", regex("(unclosed", true))]);
        assert!(
            compile(&m)
                .unwrap_err()
                .contains("matcher `broken` has a bad regex")
        );
        let m = manifest(
            "x",
            vec![(
                "a",
                MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app")),
            )],
        );
        assert!(
            compile(&m)
                .unwrap_err()
                .contains("matcher `a` has a bad alias")
        );
        let m = manifest(
            "x",
            vec![("t", MatcherKind::ParseFormat("in {m:x}".into()))],
        );
        assert!(
            compile(&m)
                .unwrap_err()
                .contains("matcher `t` has a bad template")
        );
    }
}
