//! All regex matchers of all skills, found for a message in two cheap
//! passes, then checked exactly:
//!
//! 1. **Command prefixes.** Most chat commands are anchored and start with
//!    words (`^deploy (?P<app>\w+)`): their literal prefixes, folded to
//!    lower case, go into one trie, and a message's start is walked through
//!    it once. Building it for 10,000 patterns takes milliseconds.
//! 2. **Everything else**, in one `regex-automata` multi-pattern regex over
//!    *widened* patterns (large classes become "any character", Unicode word
//!    boundaries become empty: supersets), which may report a pattern that
//!    does not really match but never misses one. No literal prefilter:
//!    its extraction grows superlinearly with the number of patterns.
//!    A pattern whose automaton explodes when determinized (`a[ab]{24}c`)
//!    stays out of this pass, whose cache it would thrash for everyone, and
//!    is run on its own.
//!
//! Each candidate is then run exactly, for its captures and match length.
//! Exact regexes are compiled on first use (a skill that is never asked
//! costs no automaton) and lean (no one-pass or full DFA: chat lines are
//! short); at load a pattern is parsed, and its size estimated from its
//! syntax, so a bad or oversized pattern is still a load error. An ASCII
//! message is run against the pattern's ASCII reading (`super::ascii`),
//! which matches it exactly as the pattern does and compiles to a small
//! fraction of a Unicode class's automaton (and without a lazy DFA); the
//! pattern's own is compiled only once a non-ASCII message reaches it.

use super::Route;
use regex_automata::dfa::{StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, PatternSet, meta};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};
use std::sync::{Arc, OnceLock};

/// A matcher's pattern, checked when its skill loads.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    pub exact: Arc<Exact>,
    /// Lower-case literal prefixes one of which every match starts with, when
    /// the pattern is anchored at the start: the trie pass finds it by them.
    pub keys: Vec<Vec<u8>>,
    /// Otherwise, the shared pass's superset of the pattern.
    pub wide: Option<Hir>,
    /// Its automaton blows up when determinized: it is run on its own.
    pub explosive: bool,
    /// Heap bytes the compiled pattern will hold, estimated from its syntax
    /// (not counting search caches).
    pub bytes: usize,
}

/// The exact pattern, compiled the first time a pass reports it: its
/// ASCII reading for an ASCII message, itself for any other.
#[derive(Debug)]
pub struct Exact {
    pattern: String,
    case_sensitive: bool,
    /// The pattern as it reads ASCII text (`super::ascii`), when that
    /// differs from the pattern: compiled case-sensitively.
    ascii: Option<Box<str>>,
    compiled: OnceLock<Option<meta::Regex>>,
    compiled_ascii: OnceLock<Option<meta::Regex>>,
}

impl Exact {
    fn new(pattern: &str, case_sensitive: bool, hir: &Hir) -> Exact {
        Exact {
            pattern: pattern.to_owned(),
            case_sensitive,
            ascii: super::ascii::reading(hir).map(String::into_boxed_str),
            compiled: OnceLock::new(),
            compiled_ascii: OnceLock::new(),
        }
    }

    /// The compiled pattern; `None` if it cannot be (which the size
    /// estimate at load makes a bug, reported once).
    pub fn regex(&self) -> Option<&meta::Regex> {
        compiled(&self.compiled, &self.pattern, self.case_sensitive, true)
    }

    /// What to run on `text`: the ASCII reading when `ascii` (the text is
    /// all ASCII) and the pattern has one, else the pattern. Both have the
    /// same groups, and on an ASCII text the same matches.
    pub fn regex_for(&self, ascii: bool) -> Option<&meta::Regex> {
        match &self.ascii {
            Some(reading) if ascii => compiled(&self.compiled_ascii, reading, true, false),
            _ => self.regex(),
        }
    }

    #[cfg(test)]
    fn is_match(&self, text: &str) -> bool {
        self.regex_for(text.is_ascii())
            .is_some_and(|re| re.is_match(text))
    }
}

/// `pattern` compiled once into `cell` (see [`build_exact`]).
fn compiled<'a>(
    cell: &'a OnceLock<Option<meta::Regex>>,
    pattern: &str,
    case_sensitive: bool,
    lazy_dfa: bool,
) -> Option<&'a meta::Regex> {
    cell.get_or_init(|| match build_exact(pattern, case_sensitive, lazy_dfa) {
        Ok(re) => Some(re),
        Err(e) => {
            tracing::error!(pattern = %crate::text::for_log(pattern), "a pattern that passed its checks does not compile: {e}");
            None
        }
    })
    .as_ref()
}

/// The largest automaton one pattern may compile to. Patterns come from
/// skills, which are untrusted: `\w{1000}` would otherwise take seconds and
/// hundreds of MiB.
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Most memory one pattern's lazy DFA may use per thread before it resets.
const EXACT_CACHE: usize = 256 << 10;
/// Most memory the shared pass's lazy DFA may use per thread before it resets.
const DFA_CACHE: usize = 32 << 20;
/// A widened pattern whose DFA would be larger than this is "explosive".
const EXPLOSIVE_ABOVE: usize = 256 << 10;
/// Classes with more ranges than this widen to "any character".
const WIDEN_ABOVE_RANGES: usize = 8;

/// A pattern's exact regex. With `lazy_dfa` false (an ASCII reading: a
/// small automaton, run on short lines) it has no lazy DFA, whose two
/// caches were half of what such a regex kept resident; the bounded
/// backtracker or the PikeVM finds its matches.
fn build_exact(pattern: &str, case_sensitive: bool, lazy_dfa: bool) -> Result<meta::Regex, String> {
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT))
                .onepass(false)
                .dfa(false)
                .hybrid(lazy_dfa)
                .hybrid_cache_capacity(EXACT_CACHE),
        )
        .syntax(syntax::Config::new().case_insensitive(!case_sensitive))
        .build(pattern)
        .map_err(|e| match e.size_limit() {
            Some(limit) => format!("it compiles to more than {limit} bytes"),
            None => e.to_string(),
        })
}

/// Checks a pattern and prepares it for the passes; compiles nothing but
/// (for patterns in the shared pass) a probe of its DFA.
pub fn compile(pattern: &str, case_sensitive: bool) -> Result<CompiledRegex, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(!case_sensitive)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let bytes = estimated_bytes(&hir);
    if bytes > PATTERN_SIZE_LIMIT {
        return Err(format!(
            "it compiles to more than {PATTERN_SIZE_LIMIT} bytes"
        ));
    }
    let keys = literal_keys(&hir);
    let exact = Arc::new(Exact::new(pattern, case_sensitive, &hir));
    let (wide, explosive) = if keys.is_empty() {
        let wide = widen(hir);
        let explosive = explodes(&wide);
        (Some(wide), explosive)
    } else {
        (None, false)
    };
    Ok(CompiledRegex {
        exact,
        keys,
        wide,
        explosive,
        bytes,
    })
}

/// What a pattern's lean automaton takes, from its syntax alone: about 12
/// bytes per state, states counted as UTF-8 byte ranges (measured against
/// `memory_usage` for the patterns chat bots use; an overestimate).
fn estimated_bytes(hir: &Hir) -> usize {
    fn states(h: &Hir) -> u64 {
        let width = |c: u32| match c {
            0..0x80 => 1u64,
            0x80..0x800 => 2,
            0x800..0x10000 => 3,
            _ => 4,
        };
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => 1,
            HirKind::Literal(l) => l.0.len() as u64,
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .map(|r| {
                    let (a, b) = (width(r.start() as u32), width(r.end() as u32));
                    2 * b + 2 * (b - a)
                })
                .sum::<u64>()
                .max(1),
            HirKind::Class(Class::Bytes(c)) => c.ranges().len() as u64,
            HirKind::Repetition(r) => {
                let n = r.max.unwrap_or(r.min.saturating_add(1)).max(r.min).max(1);
                states(&r.sub).saturating_mul(u64::from(n))
            }
            HirKind::Capture(c) => states(&c.sub).saturating_add(2),
            HirKind::Concat(xs) | HirKind::Alternation(xs) => xs
                .iter()
                .map(states)
                .fold(xs.len() as u64, u64::saturating_add),
        }
    }
    usize::try_from(states(hir).saturating_mul(12).saturating_add(2048)).unwrap_or(usize::MAX)
}

/// The lower-case literal prefixes of a pattern anchored at the start of
/// the text, one of which every match begins with; none when the pattern
/// is not anchored or some match could begin without one.
fn literal_keys(hir: &Hir) -> Vec<Vec<u8>> {
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return Vec::new();
    }
    // Folded first: `(?i)show` would otherwise be 2·2·2·3 literals (`ſ` is
    // an `s`), and past the extractor's limits its prefixes shrink to a few
    // letters that thousands of commands share.
    // Leading blanks (`^\s*deploy`, as every StackStorm alias begins) are
    // skipped: the walk starts at the message's first non-blank character.
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .extract(&fold_cases(&without_leading_blanks(hir)));
    let Some(literals) = seq.literals() else {
        return Vec::new();
    };
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(literals.len());
    for literal in literals {
        let key = fold_prefix(literal.as_bytes());
        let key = key.trim_ascii_start().to_vec();
        if key.is_empty() {
            return Vec::new();
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Vec::new();
    }
    // Sorted, a key comes right before those it is a prefix of, which it
    // makes redundant (the walk passes it first).
    keys.sort();
    keys.dedup_by(|later, kept| later.starts_with(kept.as_slice()));
    keys
}

/// `hir` without the optional or repeated blanks it begins with (after
/// its zero-width assertions): `^\s*deploy` as `^deploy`. The trie is
/// walked over the message with its leading blanks skipped, so this only
/// widens what the pass reports.
fn without_leading_blanks(hir: &Hir) -> Hir {
    let HirKind::Concat(xs) = hir.kind() else {
        return hir.clone();
    };
    let blank = |h: &Hir| match h.kind() {
        HirKind::Repetition(r) => match r.sub.kind() {
            HirKind::Class(Class::Unicode(c)) => c
                .ranges()
                .iter()
                .all(|r| (r.start()..=r.end()).all(char::is_whitespace)),
            HirKind::Literal(l) => {
                std::str::from_utf8(&l.0).is_ok_and(|t| t.chars().all(char::is_whitespace))
            }
            _ => false,
        },
        _ => false,
    };
    let mut kept = Vec::with_capacity(xs.len());
    let mut leading = true;
    for x in xs {
        match x.kind() {
            HirKind::Look(_) if leading => kept.push(x.clone()),
            _ if leading && blank(x) => {}
            _ => {
                leading = false;
                kept.push(x.clone());
            }
        }
    }
    Hir::concat(kept)
}

/// `hir` with each class whose characters all fold (see [`fold`]) to one
/// byte replaced by that byte: the prefixes the trie stores, folded.
fn fold_cases(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let mut folded = c
                .ranges()
                .iter()
                .flat_map(|r| (r.start()..=r.end()).take(8))
                .map(fold);
            let chars: usize = c
                .ranges()
                .iter()
                .map(|r| (r.end() as usize).saturating_sub(r.start() as usize) + 1)
                .sum();
            match folded.next() {
                Some(Some(b)) if chars <= 8 && folded.all(|f| f == Some(b)) => Hir::literal([b]),
                _ => hir.clone(),
            }
        }
        HirKind::Capture(c) => Hir::capture(regex_syntax::hir::Capture {
            sub: Box::new(fold_cases(&c.sub)),
            ..c.clone()
        }),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold_cases(&r.sub)),
            ..r.clone()
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(fold_cases).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(fold_cases).collect()),
        _ => hir.clone(),
    }
}

/// The fold the trie compares with: ASCII letters in lower case, and the
/// two non-ASCII letters that fold to ASCII ones (`ſ` to `s`, the Kelvin
/// sign to `k`); the prefix ends at any other non-ASCII character.
fn fold_prefix(bytes: &[u8]) -> Vec<u8> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    };
    text.chars().map_while(fold).collect()
}

fn fold(c: char) -> Option<u8> {
    match c {
        c if c.is_ascii() => Some(c.to_ascii_lowercase() as u8),
        '\u{17f}' => Some(b's'),
        '\u{212a}' => Some(b'k'),
        _ => None,
    }
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

/// The literal prefixes of the command patterns, as a byte trie.
#[derive(Default)]
struct Trie {
    /// Node 0 is the root.
    nodes: Vec<TrieNode>,
}

#[derive(Default)]
struct TrieNode {
    /// Sorted by byte.
    next: Vec<(u8, u32)>,
    /// Entries whose key ends here.
    ends: Vec<u32>,
}

impl Trie {
    fn insert(&mut self, key: &[u8], entry: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut at = 0usize;
        for &b in key {
            let node = &self.nodes[at];
            at = match node.next.binary_search_by_key(&b, |(k, _)| *k) {
                Ok(i) => node.next[i].1 as usize,
                Err(i) => {
                    let new = self.nodes.len();
                    self.nodes[at].next.insert(i, (b, new as u32));
                    self.nodes.push(TrieNode::default());
                    new
                }
            };
        }
        self.nodes[at].ends.push(entry);
    }

    /// Every entry whose key the folded start of `text` begins with.
    fn walk(&self, text: &str, out: &mut Vec<usize>) {
        let Some(mut node) = self.nodes.first() else {
            return;
        };
        // Keys have no leading blanks (`literal_keys`), nor does the walk.
        for c in text.trim_start().chars() {
            let Some(b) = fold(c) else { return };
            match node.next.binary_search_by_key(&b, |(k, _)| *k) {
                Ok(i) => {
                    node = &self.nodes[node.next[i].1 as usize];
                    out.extend(node.ends.iter().map(|&e| e as usize));
                }
                Err(_) => return,
            }
        }
    }
}

#[derive(Default)]
pub struct RegexIndex {
    /// The command prefixes.
    trie: Trie,
    /// One pass over every other well-behaved pattern.
    prefilter: Option<meta::Regex>,
    /// Entry index of each prefilter pattern.
    prefiltered: Vec<usize>,
    /// Entries whose patterns are explosive, run one by one.
    explosive: Vec<usize>,
    entries: Vec<(Route, Arc<Exact>)>,
}

impl RegexIndex {
    pub fn build(patterns: Vec<(Route, &CompiledRegex)>) -> RegexIndex {
        let mut trie = Trie::default();
        let (mut wide, mut prefiltered, mut explosive) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (_, c)) in patterns.iter().enumerate() {
            if c.explosive {
                explosive.push(i);
            } else if let Some(w) = &c.wide {
                wide.push(w);
                prefiltered.push(i);
            } else {
                for key in &c.keys {
                    trie.insert(key, i as u32);
                }
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
            trie,
            prefilter,
            prefiltered,
            explosive,
            entries,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The winning route for `text` and its captures (see the module rules),
    /// and every other route of the winner's rank that matched too, when that
    /// rank is one whose ties are errors (aliases: see `Route::rank`).
    /// A matcher that answers only messages addressed to the bot is not
    /// a candidate when `addressed` is false.
    pub fn best(&self, text: &str, addressed: bool) -> Option<Best> {
        let mut candidates: Vec<usize> = Vec::new();
        self.trie.walk(text, &mut candidates);
        if let Some(prefilter) = &self.prefilter {
            let mut set = PatternSet::new(prefilter.pattern_len());
            prefilter.which_overlapping_matches(&Input::new(text), &mut set);
            candidates.extend(set.iter().map(|p| self.prefiltered[p.as_usize()]));
        }
        candidates.extend(&self.explosive);
        candidates.sort_unstable();
        candidates.dedup();
        if !addressed {
            candidates.retain(|&i| !self.entries[i].0.addressed);
        }
        let input = Input::new(text);
        let ascii = text.is_ascii();
        let mut best: Option<(
            usize,
            (u8, u32, usize),
            regex_automata::util::captures::Captures,
        )> = None;
        let mut matched: Vec<(usize, u8)> = Vec::new();
        // Candidates are in ascending order, so ties go to the earlier skill
        // and matcher by keeping only strictly better matches: a higher
        // rank, then a longer stretch of the message.
        for i in candidates {
            let Some(re) = self.entries[i].1.regex_for(ascii) else {
                continue;
            };
            let mut caps = re.create_captures();
            re.search_captures(&input, &mut caps);
            let Some(whole) = caps.get_match() else {
                continue;
            };
            let rank = self.entries[i].0.rank;
            matched.push((i, rank));
            let score = (rank, self.entries[i].0.specific, whole.len());
            if best.as_ref().is_none_or(|(_, s, _)| score > *s) {
                best = Some((i, score, caps));
            }
        }
        let (i, (rank, _, _), caps) = best?;
        let (route, exact) = &self.entries[i];
        let re = exact.regex_for(ascii)?;
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
        let rivals = if rank >= super::ALIAS_RANK {
            matched
                .iter()
                .filter(|(j, r)| *j != i && *r == rank)
                .map(|(j, _)| self.entries[*j].0)
                .collect()
        } else {
            Vec::new()
        };
        Some(Best {
            route: *route,
            captures,
            rivals,
        })
    }
}

/// What `RegexIndex::best` found.
pub struct Best {
    pub route: Route,
    pub captures: Vec<(String, String)>,
    /// Others that matched as well as the winner, where that is an error.
    pub rivals: Vec<Route>,
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
        // The estimate is not below what the compiled pattern takes.
        let real = ok.exact.regex().unwrap().memory_usage();
        assert!(ok.bytes >= real, "estimated {} < {real}", ok.bytes);
        assert!(compile("a[ab]{24}c", true).unwrap().explosive);
        assert_eq!(
            compile(r"\w{100}", true).unwrap_err(),
            "it compiles to more than 1048576 bytes"
        );
    }

    /// An ASCII message is run against the pattern's ASCII reading, a
    /// small automaton: the pattern's own (Unicode `\w`, ~1,000 states each
    /// way) is compiled only once a non-ASCII message reaches it, and then
    /// matches as Unicode says.
    #[test]
    fn ascii_messages_compile_only_the_small_ascii_reading() {
        let c = compile(r"^seen (?P<who>\w+)$", true).unwrap();
        let index = RegexIndex::build(vec![(route(), &c)]);
        let best = index.best("seen bob_7", true).unwrap();
        assert_eq!(best.captures, [("who".to_string(), "bob_7".to_string())]);
        assert!(index.best("seen bob!", true).is_none());
        assert!(
            c.exact.compiled.get().is_none(),
            "the full automaton was built"
        );
        let small = c.exact.compiled_ascii.get().unwrap().as_ref().unwrap();
        let best = index.best("seen Zoë", true).unwrap();
        assert_eq!(best.captures, [("who".to_string(), "Zoë".to_string())]);
        let full = c.exact.compiled.get().unwrap().as_ref().unwrap();
        assert!(
            small.memory_usage() * 10 < full.memory_usage(),
            "ASCII reading {} bytes, the pattern {}",
            small.memory_usage(),
            full.memory_usage()
        );
        // A pattern that is ASCII already is compiled once, for both.
        let plain = compile("^hello [a-z]+$", true).unwrap();
        assert!(plain.exact.ascii.is_none());
        assert!(plain.exact.is_match("hello you"));
        assert!(plain.exact.compiled_ascii.get().is_none());
    }

    fn route() -> Route {
        Route {
            skill: 0,
            matcher: 0,
            rank: 0,
            addressed: false,
            specific: 0,
        }
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
            let hir = regex_syntax::ParserBuilder::new()
                .case_insensitive(!case_sensitive)
                .build()
                .parse(pattern)
                .unwrap();
            let wide = regex::Regex::new(&widen(hir).to_string()).unwrap();
            assert!(wide.is_match(text), "widened {pattern} lost {text}");
        }
    }

    /// A message a pattern matches always walks to one of its keys.
    #[test]
    fn command_prefixes_never_lose_a_match() {
        let cases = [
            (r"^deploy (?P<app>\w+)$", true, "deploy api", true),
            (
                r"^(show|list) widgets( please)?$",
                false,
                "LIST widgets",
                true,
            ),
            (r"^seen @?(?P<user>\w+)", false, "ſEEN bob", true),
            (r"^kick (\w+)", false, "\u{212a}ICK bob", true),
            (r"^déployer (\w+)", true, "déployer api", true),
            (r"(?m)^x", true, "x", false),
            (r"hello", true, "hello", false),
            (r"^(?:\w+) please", true, "hi please", false),
            // StackStorm's aliases begin with `^\s*`; blanks are skipped.
            (r"^\s*ship\s+(?P<app>\S.*?)\s*$", false, "  SHIP web", true),
            (r"^ \tdeploy", true, " \tdeploy x", true),
            (r"^\s*$", true, "   ", false),
        ];
        for (pattern, case_sensitive, text, keyed) in cases {
            let c = compile(pattern, case_sensitive).unwrap();
            assert_eq!(!c.keys.is_empty(), keyed, "{pattern}: {:?}", c.keys);
            assert!(c.exact.is_match(text), "{pattern} should match {text}");
            if keyed {
                let mut trie = Trie::default();
                for k in &c.keys {
                    trie.insert(k, 7);
                }
                let mut found = Vec::new();
                trie.walk(text, &mut found);
                assert_eq!(found, [7], "{pattern} / {text}: keys {:?}", c.keys);
            }
        }
    }

    /// A case-insensitive command keeps its whole prefix as its key, so
    /// thousands of `(?i)^list widgetsN` do not all become candidates.
    #[test]
    fn case_insensitive_commands_keep_their_whole_prefix() {
        let c = compile(r"^(show|list) widgets57( please)?$", false).unwrap();
        assert_eq!(
            c.keys,
            [b"list widgets57".to_vec(), b"show widgets57".to_vec()]
        );
        let c = compile(r"^KICK (\w+)", false).unwrap();
        assert_eq!(c.keys, [b"kick ".to_vec()]);
    }
}
