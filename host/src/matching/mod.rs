//! Which skill takes an event. The index is built whenever the skill set
//! changes (never per message); a message is tested against every regex
//! matcher of every skill in one multi-pattern pass (`regex_index`).
//!
//! Matchers are untrusted input: a skill may declare at most
//! [`MAX_MATCHERS`], each pattern at most [`MAX_PATTERN_BYTES`] long and
//! compiling to at most `regex_index::PATTERN_SIZE_LIMIT`, and all of them
//! together at most [`MAX_COMPILED_BYTES`]; searches use bounded caches.
//!
//! Choosing among several matches (documented in README.md, "Matching"):
//! 1. the regex that matched the longest stretch of the message wins;
//! 2. on a tie, the skill listed first wins: skills in `configuration.yaml`
//!    order, then skills found only in the skills folder, by file name;
//! 3. within a skill, the matcher it declared first wins.
//!
//! Every `always` matcher also runs, whatever else matched. A `catch-all`
//! runs only when no regex matched; if several skills have one, the first
//! (by rule 2) runs. `event-type` matchers run for every event of their kind.

mod regex_index;

use crate::event::Event;
use crate::manifest::{EventKind, Manifest, MatcherKind};
use regex_index::{CompiledRegex, RegexIndex};

/// One matcher's decision to run a skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Position of the skill in the list the index was built from.
    pub skill: usize,
    pub matcher_id: String,
    pub captures: Vec<(String, String)>,
    pub why: Why,
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
}

#[derive(Default)]
pub struct Index {
    regexes: RegexIndex,
    always: Vec<Route>,
    catch_all: Option<Route>,
    event_types: Vec<(EventKind, Route)>,
    /// Matcher ids, by skill then matcher position.
    ids: Vec<Vec<String>>,
}

/// One skill's matchers, compiled when the skill loads: a bad pattern fails
/// that skill's load with a message, and rebuilding the index after a
/// reload compiles nothing but the combined prefilter.
#[derive(Debug, Clone, Default)]
pub struct SkillMatchers {
    /// Regex matchers by position in the manifest.
    regexes: Vec<(usize, CompiledRegex)>,
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
    let mut bytes = 0usize;
    for (i, m) in manifest.matchers.iter().enumerate() {
        let text = match &m.kind {
            MatcherKind::Regex { pattern, .. } => pattern.as_str(),
            MatcherKind::ParseFormat(f) | MatcherKind::ActionAlias(f) => f.as_str(),
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
        if let MatcherKind::Regex {
            pattern,
            case_sensitive,
        } = &m.kind
        {
            let compiled = regex_index::compile(pattern, *case_sensitive)
                .map_err(|e| format!("matcher `{}` has a bad regex: {e}", m.id))?;
            bytes += compiled.bytes;
            if bytes > MAX_COMPILED_BYTES {
                return Err(format!(
                    "its patterns compile to more than {MAX_COMPILED_BYTES} bytes together (at matcher `{}`)",
                    m.id
                ));
            }
            regexes.push((i, compiled));
        }
    }
    Ok(SkillMatchers { regexes })
}

impl Index {
    /// Builds the index over `manifests`, in priority order.
    /// Builds the index over skills' manifests and compiled matchers, in
    /// priority order.
    pub fn build<'a>(skills: impl IntoIterator<Item = (&'a Manifest, &'a SkillMatchers)>) -> Index {
        let mut index = Index::default();
        let mut regexes = Vec::new();
        for (skill, (manifest, compiled)) in skills.into_iter().enumerate() {
            index
                .ids
                .push(manifest.matchers.iter().map(|m| m.id.clone()).collect());
            regexes.extend(compiled.regexes.iter().map(|(matcher, c)| {
                (
                    Route {
                        skill,
                        matcher: *matcher,
                    },
                    c,
                )
            }));
            for (matcher, m) in manifest.matchers.iter().enumerate() {
                let route = Route { skill, matcher };
                match &m.kind {
                    MatcherKind::Regex { .. } => {}
                    MatcherKind::Always => index.always.push(route),
                    MatcherKind::CatchAll => {
                        index.catch_all.get_or_insert(route);
                    }
                    MatcherKind::EventType(kind) => index.event_types.push((*kind, route)),
                    // Declared in the contract; the matching issue brings these.
                    MatcherKind::ParseFormat(_)
                    | MatcherKind::ActionAlias(_)
                    | MatcherKind::Crontab { .. }
                    | MatcherKind::Webhook(_) => {}
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
                match self.regexes.best(&m.text) {
                    Some((route, captures)) => hits.push(self.hit(route, captures, Why::Chosen)),
                    None => {
                        if let Some(route) = self.catch_all {
                            hits.push(self.hit(route, Vec::new(), Why::CatchAll));
                        }
                    }
                }
                hits.extend(
                    self.always
                        .iter()
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
            matcher_id: self.ids[route.skill][route.matcher].clone(),
            captures,
            why,
        }
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
        Index::build(skills.iter().zip(&compiled))
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
    fn bad_patterns_are_reported_per_matcher() {
        let m = manifest("x", vec![("broken", regex("(unclosed", true))]);
        assert!(
            compile(&m)
                .unwrap_err()
                .contains("matcher `broken` has a bad regex")
        );
    }
}
