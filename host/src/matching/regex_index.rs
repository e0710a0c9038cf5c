//! All regex matchers of all skills in one pass. The pass is a prefilter:
//! a `regex-automata` multi-pattern regex over *widened* patterns, which
//! may report a pattern that does not really match but never misses one.
//! Each candidate is then run exactly, for its captures and match length.
//!
//! Why widened, and why no literal prefilter (measured with 10,000 matchers
//! on this 2-core machine; see `make bench`): Unicode classes such as `\w`
//! cost about a millisecond each to compile into the combined automaton, and
//! the literal prefilter's extraction grows superlinearly with the number of
//! patterns; with both, building the index took over a minute. Large classes
//! become "any character" and Unicode word boundaries become empty (both
//! supersets); the exact regexes are compiled once per skill at load.

use super::Route;
use regex::{Regex, RegexBuilder};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::{Input, MatchKind, PatternSet, meta};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

/// A matcher's pattern, compiled when its skill loads.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    pub exact: Regex,
    /// The prefilter's superset of `exact`.
    pub wide: Hir,
}

/// Patterns can be large (`\w` is), and are all the user's own; the regex
/// crate's default compiled-size limit is for untrusted patterns.
const SIZE_LIMIT: usize = 1 << 28;
/// Most memory the prefilter's lazy DFA may use per thread before it resets.
const DFA_CACHE: usize = 256 << 20;
/// Classes with more ranges than this widen to "any character".
const WIDEN_ABOVE_RANGES: usize = 8;

pub fn compile(pattern: &str, case_sensitive: bool) -> Result<CompiledRegex, String> {
    let exact = RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())?;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(!case_sensitive)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    Ok(CompiledRegex {
        exact,
        wide: widen(hir),
    })
}

fn widen(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Class(Class::Unicode(c)) if c.ranges().len() > WIDEN_ABOVE_RANGES => Hir::class(
            Class::Unicode(ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)])),
        ),
        HirKind::Class(c) => Hir::class(c),
        HirKind::Look(
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode,
        ) => Hir::empty(),
        HirKind::Look(look) => Hir::look(look),
        HirKind::Capture(c) => widen(*c.sub),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(widen(*r.sub)),
            ..r
        }),
        HirKind::Concat(xs) => Hir::concat(xs.into_iter().map(widen).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.into_iter().map(widen).collect()),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
    }
}

#[derive(Default)]
pub struct RegexIndex {
    prefilter: Option<meta::Regex>,
    entries: Vec<(Route, Regex)>,
}

impl RegexIndex {
    pub fn build(patterns: Vec<(Route, &CompiledRegex)>) -> RegexIndex {
        let wide: Vec<&Hir> = patterns.iter().map(|(_, c)| &c.wide).collect();
        let config = meta::Config::new()
            .match_kind(MatchKind::All)
            .which_captures(WhichCaptures::None)
            .auto_prefilter(false)
            .utf8_empty(false)
            .nfa_size_limit(None)
            .hybrid_cache_capacity(DFA_CACHE);
        let prefilter = (!wide.is_empty())
            .then(|| {
                meta::Regex::builder()
                    .configure(config)
                    .build_many_from_hir(&wide)
            })
            .and_then(|built| {
                built
                    .map_err(|e| tracing::error!(error = %e, "cannot build the regex index"))
                    .ok()
            });
        let entries = patterns
            .into_iter()
            .map(|(route, c)| (route, c.exact.clone()))
            .collect();
        RegexIndex { prefilter, entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The winning route for `text` and its captures (see the module rules).
    pub fn best(&self, text: &str) -> Option<(Route, Vec<(String, String)>)> {
        let prefilter = self.prefilter.as_ref()?;
        let mut candidates = PatternSet::new(prefilter.pattern_len());
        prefilter.which_overlapping_matches(&Input::new(text), &mut candidates);
        let mut best: Option<(usize, regex::Captures)> = None;
        // Candidates come in ascending order, so ties go to the earlier skill
        // and matcher by keeping only strictly longer matches.
        for i in candidates.iter() {
            let Some(caps) = self.entries[i.as_usize()].1.captures(text) else {
                continue;
            };
            let len = caps.get(0).map_or(0, |m| m.len());
            if best
                .as_ref()
                .is_none_or(|(_, b)| len > b.get(0).map_or(0, |m| m.len()))
            {
                best = Some((i.as_usize(), caps));
            }
        }
        let (i, caps) = best?;
        let (route, re) = &self.entries[i];
        let captures = re
            .capture_names()
            .enumerate()
            .skip(1)
            .filter_map(|(n, name)| {
                let value = caps.get(n)?.as_str().to_owned();
                Some((name.map_or_else(|| n.to_string(), str::to_owned), value))
            })
            .collect();
        Some((*route, captures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The widened pattern must match wherever the exact one does.
    #[test]
    fn widening_never_loses_a_match() {
        let cases = [
            (
                r"^deploy (?P<app>\w+) to (?P<env>\w+)$",
                true,
                "deploy café to prød",
            ),
            (r"\bstatus\b of \d+", true, "status of ٣٤"),
            (r"^(hi|hello)$", false, "HELLO"),
            (r"^[^a-z]*[A-Z]{2,}[^a-z]*$", true, "ÉTÉ AND WINTER!"),
            (r"^seen @?(?P<user>[\w.@-]+)\??$", false, "SEEN Zoë?"),
        ];
        for (pattern, case_sensitive, text) in cases {
            let c = compile(pattern, case_sensitive).unwrap();
            assert!(c.exact.is_match(text), "{pattern} should match {text}");
            let wide = Regex::new(&c.wide.to_string()).unwrap();
            assert!(wide.is_match(text), "widened {pattern} lost {text}");
        }
    }
}
