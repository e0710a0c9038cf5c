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
use regex_automata::dfa::{StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, PatternSet, meta};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

/// A matcher's pattern, compiled when its skill loads.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    pub exact: meta::Regex,
    /// The prefilter's superset of `exact`.
    pub wide: Hir,
    /// Its automaton blows up when determinized (`a[ab]{24}c`): it stays
    /// out of the shared prefilter, whose cache it would thrash for every
    /// skill, and is run on its own for each message instead.
    pub explosive: bool,
    /// Heap bytes the compiled pattern holds (not counting search caches).
    pub bytes: usize,
}

/// The largest automaton one pattern may compile to. Patterns come from
/// skills, which are untrusted: `\w{1000}` would otherwise take seconds and
/// hundreds of MiB.
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Most memory one pattern's lazy DFA may use per thread before it resets.
const EXACT_CACHE: usize = 256 << 10;
/// Most memory the prefilter's lazy DFA may use per thread before it resets.
const DFA_CACHE: usize = 32 << 20;
/// A widened pattern whose DFA would be larger than this is "explosive".
const EXPLOSIVE_ABOVE: usize = 256 << 10;
/// Classes with more ranges than this widen to "any character".
const WIDEN_ABOVE_RANGES: usize = 8;

pub fn compile(pattern: &str, case_sensitive: bool) -> Result<CompiledRegex, String> {
    let syntax = syntax::Config::new().case_insensitive(!case_sensitive);
    let exact = meta::Builder::new()
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT))
                .onepass_size_limit(Some(PATTERN_SIZE_LIMIT))
                .dfa_size_limit(Some(PATTERN_SIZE_LIMIT / 4))
                .hybrid_cache_capacity(EXACT_CACHE),
        )
        .syntax(syntax)
        .build(pattern)
        .map_err(|e| match e.size_limit() {
            Some(limit) => format!("it compiles to more than {limit} bytes"),
            None => e.to_string(),
        })?;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(!case_sensitive)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let wide = widen(hir);
    let explosive = explodes(&wide);
    Ok(CompiledRegex {
        bytes: exact.memory_usage(),
        exact,
        wide,
        explosive,
    })
}

/// Does the widened pattern's DFA (unanchored, every match) blow up?
fn explodes(wide: &Hir) -> bool {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .which_captures(WhichCaptures::None)
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT)),
        )
        .build_from_hir(wide);
    let Ok(nfa) = nfa else { return true };
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .match_kind(MatchKind::All)
                .start_kind(StartKind::Unanchored)
                .minimize(false)
                .dfa_size_limit(Some(EXPLOSIVE_ABOVE))
                .determinize_size_limit(Some(EXPLOSIVE_ABOVE)),
        )
        .build_from_nfa(&nfa)
        .is_err()
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
    /// One pass over every well-behaved pattern.
    prefilter: Option<meta::Regex>,
    /// Entry index of each prefilter pattern.
    prefiltered: Vec<usize>,
    /// Entries whose patterns are explosive, run one by one.
    explosive: Vec<usize>,
    entries: Vec<(Route, meta::Regex)>,
}

impl RegexIndex {
    pub fn build(patterns: Vec<(Route, &CompiledRegex)>) -> RegexIndex {
        let (mut wide, mut prefiltered, mut explosive) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (_, c)) in patterns.iter().enumerate() {
            if c.explosive {
                explosive.push(i);
            } else {
                wide.push(&c.wide);
                prefiltered.push(i);
            }
        }
        let config = meta::Config::new()
            .match_kind(MatchKind::All)
            .which_captures(WhichCaptures::None)
            .auto_prefilter(false)
            .utf8_empty(false)
            .nfa_size_limit(None)
            .hybrid_cache_capacity(DFA_CACHE);
        let prefilter = if wide.is_empty() {
            None
        } else {
            match meta::Regex::builder()
                .configure(config)
                .build_many_from_hir(&wide)
            {
                Ok(built) => Some(built),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the regex index");
                    None
                }
            }
        };
        let entries = patterns
            .into_iter()
            .map(|(route, c)| (route, c.exact.clone()))
            .collect();
        RegexIndex {
            prefilter,
            prefiltered,
            explosive,
            entries,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The winning route for `text` and its captures (see the module rules).
    pub fn best(&self, text: &str) -> Option<(Route, Vec<(String, String)>)> {
        let mut candidates: Vec<usize> = Vec::new();
        if let Some(prefilter) = &self.prefilter {
            let mut set = PatternSet::new(prefilter.pattern_len());
            prefilter.which_overlapping_matches(&Input::new(text), &mut set);
            candidates.extend(set.iter().map(|p| self.prefiltered[p.as_usize()]));
        }
        if !self.explosive.is_empty() {
            candidates.extend(&self.explosive);
            candidates.sort_unstable();
        }
        let input = Input::new(text);
        let mut best: Option<(usize, usize, regex_automata::util::captures::Captures)> = None;
        // Candidates come in ascending order, so ties go to the earlier skill
        // and matcher by keeping only strictly longer matches.
        for i in candidates {
            let re = &self.entries[i].1;
            let mut caps = re.create_captures();
            re.search_captures(&input, &mut caps);
            let Some(whole) = caps.get_match() else {
                continue;
            };
            if best.as_ref().is_none_or(|(_, len, _)| whole.len() > *len) {
                best = Some((i, whole.len(), caps));
            }
        }
        let (i, _, caps) = best?;
        let (route, re) = &self.entries[i];
        let names = re.group_info().pattern_names(PatternID::ZERO);
        let captures = names
            .enumerate()
            .skip(1)
            .filter_map(|(n, name)| {
                let span = caps.get_group(n)?;
                let value = text[span.range()].to_owned();
                Some((name.map_or_else(|| n.to_string(), str::to_owned), value))
            })
            .collect();
        Some((*route, captures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_patterns_are_bounded() {
        let e = compile(r"\w{1000}x1", true).unwrap_err();
        assert!(e.contains("compiles to more than"), "{e}");
        let ok = compile(r"^deploy (?P<app>\w+) to (?P<env>\w+)$", true).unwrap();
        assert!(!ok.explosive);
        assert!(ok.bytes < PATTERN_SIZE_LIMIT, "{}", ok.bytes);
        assert!(compile("a[ab]{24}c", true).unwrap().explosive);
    }

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
            let wide = regex::Regex::new(&c.wide.to_string()).unwrap();
            assert!(wide.is_match(text), "widened {pattern} lost {text}");
        }
    }
}
