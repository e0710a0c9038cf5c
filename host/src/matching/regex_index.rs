//! All regex matchers of all skills in one `RegexSet`. The set says which
//! patterns match in a single pass; only those few are run again, one by
//! one, for their captures and the length of what they matched.

use super::Route;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Generous compiled-size limits: an index of 10,000 patterns is far past
/// the regex crate's defaults, and the index is built off the message path.
const SIZE_LIMIT: usize = 1 << 30;

#[derive(Default)]
pub struct RegexIndex {
    set: Option<RegexSet>,
    entries: Vec<(Route, Regex)>,
}

fn with_case(pattern: &str, case_sensitive: bool) -> String {
    if case_sensitive {
        pattern.to_owned()
    } else {
        format!("(?i:{pattern})")
    }
}

pub fn compile_one(pattern: &str, case_sensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&with_case(pattern, case_sensitive))
        .size_limit(SIZE_LIMIT)
        .build()
}

impl RegexIndex {
    /// `patterns` have passed [`compile_one`] at load; one that fails here
    /// anyway is left out (and logged) rather than losing the whole index.
    pub fn build(patterns: Vec<(Route, &str, bool)>) -> RegexIndex {
        let entries: Vec<(Route, Regex)> = patterns
            .into_iter()
            .filter_map(|(route, pattern, case_sensitive)| match compile_one(pattern, case_sensitive) {
                Ok(re) => Some((route, re)),
                Err(e) => {
                    tracing::error!(pattern, error = %e, "leaving a bad regex out of the index");
                    None
                }
            })
            .collect();
        let set = RegexSetBuilder::new(entries.iter().map(|(_, re)| re.as_str()))
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| tracing::error!(error = %e, "cannot build the regex index"))
            .ok();
        RegexIndex { set, entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The winning route for `text` and its captures (see the module rules).
    pub fn best(&self, text: &str) -> Option<(Route, Vec<(String, String)>)> {
        let set = self.set.as_ref()?;
        let mut best: Option<(usize, regex::Captures)> = None;
        // `matches` yields indices in ascending order, so ties go to the
        // earlier skill and matcher by keeping only strictly longer matches.
        for i in set.matches(text).iter() {
            let Some(caps) = self.entries[i].1.captures(text) else {
                continue;
            };
            let len = caps.get(0).map_or(0, |m| m.len());
            if best
                .as_ref()
                .is_none_or(|(_, b)| len > b.get(0).map_or(0, |m| m.len()))
            {
                best = Some((i, caps));
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
