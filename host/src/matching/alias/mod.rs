//! StackStorm's action-alias formats, made into regexes the index runs with
//! every other matcher, and the parameters read back out of a match. The
//! rules (docs/matching.md, "Aliases"):
//!
//! - `deploy {{app}} to {{env=staging}}`: text outside `{{…}}` is a regex,
//!   as in StackStorm (`(run|execute)`, `(?P<ticket>…)` groups, which become
//!   parameters too); a run of blanks matches any run of spaces, tabs and
//!   line breaks;
//! - `{{p}}` captures lazily (earlier parameters take the least text, the
//!   last the rest, across lines); `{{p=default}}` may be left out, with the
//!   whitespace beside it, and then takes its default (quoted, `{json}` or a
//!   `{{ template }}` default as StackStorm writes them);
//! - a value may be `"quoted"`, `'quoted'`, `“smart-quoted”` or `‘so’` (the
//!   quotes are stripped; `""` is an empty value) or a `{json}` object;
//! - a trailing run of `key=value` pairs extends the parameters
//!   (`deploy web to prod timeout=120`); pairs inside a value stay in it,
//!   and a value is never a pair (`abc==` is a value); a pair may not change
//!   a parameter the operator fixed: the message is refused, as StackStorm
//!   refuses it;
//! - `^\s*` and `\s*$` are added unless the format has its own anchors;
//! - checked at load, with the byte of the user's format at fault: the
//!   regex's syntax, a repetition of a repetition (`c++`), and a format of
//!   plain words (no group, class, `|` or escape) that would not match its
//!   own words (`price {{amount}} $`).
//!
//! Unlike StackStorm's server, literal words match in any case, as its chat
//! side does: `Deploy web` is `deploy web`.

mod format;
#[cfg(test)]
mod tests;

use format::{Out, Piece};
use regex_syntax::hir::{Hir, HirKind};
use std::collections::HashSet;

/// The capture holding the trailing `key=value` pairs.
const PAIRS: &str = "__pairs";

/// A quoted value: straight or typographic quotes.
const QUOTED: &str = r#""[^"]*"|'[^']*'|“[^”]*”|‘[^’]*’"#;

/// One `key=value` at the end of a message: the value is quoted, a JSON
/// object, or a run of non-spaces that does not begin with `=` (`abc==` is
/// not a pair).
const PAIR: &str = r#"[A-Za-z_][\w.-]*=(?:"[^"]*"|'[^']*'|“[^”]*”|‘[^’]*’|\{[^}]*\}|[^=\s]\S*)"#;

/// What a required parameter's value may be: quoted, an object, or lazily
/// anything that begins with a non-space (`.` takes newlines: `(?s)`).
fn value() -> String {
    format!(r"(?:{QUOTED}|\{{.*?\}}|\S.*?)")
}

/// An optional parameter's value: as a required one's, but never one that
/// begins like a trailing pair (`b="x y"`), which it would otherwise take
/// from the pairs (StackStorm cuts the pairs off first).
fn optional_value() -> String {
    format!(r"(?:{QUOTED}|\{{.*?\}}|[^A-Za-z_\s].*?|[A-Za-z_][\w.-]*(?:(?:[^\w.=-]|==).*?)??)")
}

/// A format, ready for the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasFormat {
    /// The regex the index runs: a named group per parameter, and room for
    /// trailing pairs.
    pub regex: String,
    params: Vec<Param>,
    /// Fixed by the operator: applied last; a message that tries to change
    /// one is refused.
    fixed: Vec<(String, String)>,
    /// Said when it matches (a template, checked here).
    pub ack: Option<std::sync::Arc<str>>,
    /// How much the format says: its literal letters and digits, then its
    /// parameters. Of two formats of one alias that match, the higher wins.
    specificity: u32,
    /// With `match-multiple`: the words every place it fits begins with
    /// (the format's text before its first parameter), lower-cased.
    pub every: Option<String>,
}

/// An alias as the manifest (and the operator) gives it: the format, its
/// fixed parameters, and an acknowledgement whose template must parse.
pub fn compile_spec(spec: &crate::manifest::AliasSpec) -> Result<AliasFormat, String> {
    let mut format = compile(&spec.format)?;
    if let Some((name, _)) = spec
        .parameters
        .iter()
        .find(|(k, _)| format.params.iter().any(|p| p.name == *k))
    {
        return Err(format!(
            "`{name}` is fixed by its `parameters:` and asked for by its format; \
             a fixed parameter cannot be overridden, so take it out of one of them"
        ));
    }
    format.fixed = spec.parameters.clone();
    if spec.multiple {
        let head = spec.format.split("{{").next().unwrap_or_default().trim();
        if head.is_empty()
            || !head
                .chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || matches!(c, '-' | '_'))
        {
            return Err(
                "`match-multiple` needs the format to begin with plain words (where each match starts)"
                    .into(),
            );
        }
        format.every = Some(head.to_lowercase());
    }
    if let Some(ack) = &spec.ack {
        minijinja::Environment::new()
            .template_from_str(ack)
            .map_err(|e| format!("its ack is not a valid template: {e}"))?;
        format.ack = Some(std::sync::Arc::from(ack.as_str()));
    }
    Ok(format)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    name: String,
    default: Option<String>,
}

/// Makes `format` a regex, or says what is wrong with it and where.
pub fn compile(format: &str) -> Result<AliasFormat, String> {
    let pieces = format::pieces(format)?;
    let regex = write(&pieces).map_err(|e| e.told(format))?;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(&regex)
        .map_err(|e| format!("the format does not make a valid regex: {e}"))?;
    let mut names = Vec::new();
    capture_names(&hir, &mut names);
    names.sort_unstable();
    let params: Vec<Param> = names
        .into_iter()
        .filter(|(_, n)| n != PAIRS)
        .map(|(_, name)| {
            let default = pieces.iter().find_map(|p| match p {
                Piece::Slot(s) if s.name == name => s.default.clone(),
                _ => None,
            });
            Param { name, default }
        })
        .collect();
    let texts: String = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(_, t) => Some(*t),
            Piece::Slot(_) => None,
        })
        .collect();
    if !format::is_regex(&texts) && texts.contains(format::META) {
        check_example(format, &pieces, &regex)?;
    }
    let literal = texts.chars().filter(|c| c.is_alphanumeric()).count() as u32;
    let specificity = literal.saturating_mul(256) + (params.len() as u32).min(255);
    Ok(AliasFormat {
        regex,
        params,
        fixed: Vec::new(),
        ack: None,
        specificity,
        every: None,
    })
}

/// Why a format cannot be written as a regex: told as is, or as a syntax
/// error of its regex, placed in the format.
enum Unwritable {
    Said(String),
    Syntax(Box<(Out, regex_syntax::Error)>),
}

impl From<String> for Unwritable {
    fn from(s: String) -> Unwritable {
        Unwritable::Said(s)
    }
}

impl Unwritable {
    fn told(self, format: &str) -> String {
        match self {
            Unwritable::Said(s) => s,
            Unwritable::Syntax(b) => located(format, &b.0, &b.1),
        }
    }
}

/// The regex for a format's pieces (see the module's rules).
fn write(pieces: &[Piece<'_>]) -> Result<String, Unwritable> {
    let mut seen = HashSet::new();
    for p in pieces {
        if let Piece::Slot(s) = p
            && !seen.insert(s.name.as_str())
        {
            return Err(format!(
                "parameter `{}` appears twice (again at byte {})",
                s.name, s.at
            )
            .into());
        }
    }
    let first = match pieces.first() {
        Some(Piece::Text(_, t)) => t.trim_start(),
        _ => "",
    };
    let closing = match pieces.last() {
        Some(Piece::Text(_, t)) => end_anchor(t),
        _ => None,
    };
    let body = write_body(pieces, closing)?;
    // The user's part alone, so that a group it leaves open is reported
    // where it opens, not where the wrapping would close it; and its
    // anchors, found where StackStorm looks (outside repetitions).
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .build()
        .parse(&body.regex)
        .map_err(|e| Unwritable::Syntax(Box::new((body.clone(), e))))?;
    use regex_syntax::hir::Look;
    let own_start = first.starts_with('^')
        || first.starts_with(r"\A")
        || has_anchor(&hir, &[Look::Start, Look::StartLF]);
    let own_end = closing.is_some() || has_anchor(&hir, &[Look::End, Look::EndLF]);
    let mut regex = String::from("(?s)");
    if !own_start {
        regex.push_str(r"^\s*");
    }
    regex.push_str(&format!(
        "(?:{})(?P<{PAIRS}>(?:(?:^|\\s+){PAIR})*)",
        body.regex
    ));
    match (closing, own_end) {
        (Some(_), _) => regex.push('$'),
        (None, true) => {}
        (None, false) => regex.push_str(r"\s*$"),
    }
    Ok(regex)
}

/// Is one of `looks` in `hir` outside any repetition (where StackStorm's
/// `search_regex_tokens` looks for the format's own anchors)?
fn has_anchor(hir: &Hir, looks: &[regex_syntax::hir::Look]) -> bool {
    match hir.kind() {
        HirKind::Look(l) => looks.contains(l),
        HirKind::Capture(c) => has_anchor(&c.sub, looks),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().any(|x| has_anchor(x, looks)),
        _ => false,
    }
}

/// The user's part of the regex: text as regex, parameters as groups.
fn write_body(pieces: &[Piece<'_>], closing: Option<usize>) -> Result<Out, String> {
    let mut out = Out::default();
    let (required, optional) = (value(), optional_value());
    // Has anything the message must contain been written yet?
    let mut begun = false;
    // Did the previous optional parameter take the blanks after it?
    let mut took_blanks = false;
    let is_optional =
        |p: Option<&Piece<'_>>| matches!(p, Some(Piece::Slot(s)) if s.default.is_some());
    for (k, piece) in pieces.iter().enumerate() {
        let last = k + 1 == pieces.len();
        match piece {
            Piece::Text(at, t) => {
                let mut text = *t;
                let mut at = *at;
                if let Some(cut) = closing.filter(|_| last) {
                    text = &text[..cut];
                }
                if k == 0 || took_blanks {
                    let trimmed = text.trim_start();
                    at += text.len() - trimmed.len();
                    text = trimmed;
                }
                if is_optional(pieces.get(k + 1)) {
                    text = text.trim_end();
                }
                took_blanks = false;
                if !text.is_empty() {
                    format::text(&mut out, text, at, last)?;
                    begun |= !text.trim().is_empty();
                }
            }
            Piece::Slot(s) => {
                let Some(_) = &s.default else {
                    out.push(&format!("(?P<{}>{required})", s.name), s.at);
                    begun = true;
                    took_blanks = false;
                    continue;
                };
                let group = format!("(?P<{}>{optional})", s.name);
                let blank_before = k > 0
                    && matches!(&pieces[k - 1], Piece::Text(_, t) if t.ends_with(char::is_whitespace));
                let blank_after = matches!(
                    pieces.get(k + 1),
                    Some(Piece::Text(_, t)) if t.starts_with(char::is_whitespace)
                );
                if begun && blank_before {
                    out.push(&format!("(?:{}{group})?", format::BLANKS), s.at);
                    took_blanks = false;
                } else if blank_after && !last {
                    out.push(&format!("(?:{group}{})?", format::BLANKS), s.at);
                    took_blanks = true;
                } else {
                    out.push(&format!("(?:{group})?"), s.at);
                    took_blanks = false;
                }
            }
        }
    }
    Ok(out)
}

/// Where the format's own closing anchor (`$` or `\z`, not `\$`) begins in
/// its last piece of text.
fn end_anchor(text: &str) -> Option<usize> {
    let t = text.trim_end();
    let cut = if t.ends_with(r"\z") {
        t.len() - 2
    } else if t.ends_with('$') {
        t.len() - 1
    } else {
        return None;
    };
    let slashes = t[..cut].bytes().rev().take_while(|b| *b == b'\\').count();
    (slashes % 2 == 0).then_some(cut)
}

/// A syntax error of the generated regex, told at its place in the format.
fn located(format: &str, out: &Out, e: &regex_syntax::Error) -> String {
    let (at, why) = match e {
        regex_syntax::Error::Parse(e) => (e.span().start.offset, e.kind().to_string()),
        regex_syntax::Error::Translate(e) => (e.span().start.offset, e.kind().to_string()),
        other => (0, other.to_string()),
    };
    let at = out.origin(at);
    let near: String = format[at..].chars().take(16).collect();
    format!("the format is not a valid regex at byte {at} (`{near}`): {why}")
}

/// The format's capture groups with names, by their number.
fn capture_names(hir: &Hir, out: &mut Vec<(u32, String)>) {
    match hir.kind() {
        HirKind::Capture(c) => {
            if let Some(name) = &c.name {
                out.push((c.index, name.to_string()));
            }
            capture_names(&c.sub, out);
        }
        HirKind::Repetition(r) => capture_names(&r.sub, out),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => {
            xs.iter().for_each(|x| capture_names(x, out));
        }
        _ => {}
    }
}

/// A format of plain words must match those words, with a word for each
/// parameter: `c+ {{x}}` or `price {{amount}} $`, where the user meant a
/// plus or a dollar, would otherwise load and never do what they say. The
/// character at fault is the first one that must be escaped for it to.
fn check_example(format: &str, pieces: &[Piece<'_>], regex: &str) -> Result<(), String> {
    let example = example(pieces);
    if matches_example(regex, pieces, &example) {
        return Ok(());
    }
    let metas: Vec<usize> = pieces
        .iter()
        .flat_map(|p| match p {
            Piece::Text(at, t) => t
                .char_indices()
                .filter(|(_, c)| format::META.contains(c))
                .map(|(i, _)| at + i)
                .collect(),
            Piece::Slot(_) => Vec::new(),
        })
        .collect();
    for k in 1..=metas.len() {
        let mut escaped = format.to_owned();
        for at in metas[..k].iter().rev() {
            escaped.insert(*at, '\\');
        }
        let Ok(pieces) = format::pieces(&escaped) else {
            continue;
        };
        let Ok(regex) = write(&pieces) else { continue };
        if matches_example(&regex, &pieces, &example) {
            let at = metas[k - 1];
            let c = format[at..].chars().next().unwrap_or('?');
            return Err(format!(
                "`{c}` at byte {at} is regex syntax (a format is a regex, as in StackStorm), \
                 so the format does not match its own words `{example}` as they read; \
                 write `\\{c}` for the character itself"
            ));
        }
    }
    Ok(())
}

/// The format read as plain words, each parameter given one (`x1`, `x2`):
/// edge anchors written against the text (`^status`, `status$`) are not
/// words.
fn example(pieces: &[Piece<'_>]) -> String {
    let mut words = String::new();
    for (k, p) in pieces.iter().enumerate() {
        match p {
            Piece::Text(_, t) => {
                let mut t = *t;
                if k == 0 && t.starts_with('^') && !t[1..].starts_with(char::is_whitespace) {
                    t = &t[1..];
                }
                if k + 1 == pieces.len() && t.ends_with('$') && !t.ends_with(char::is_whitespace) {
                    let body = &t[..t.len() - 1];
                    if !body.ends_with(char::is_whitespace) && !body.ends_with('\\') {
                        t = body;
                    }
                }
                words.push_str(t);
            }
            Piece::Slot(_) => {
                words.push_str(&format!("x{k}"));
            }
        }
    }
    words.trim().to_owned()
}

fn matches_example(regex: &str, pieces: &[Piece<'_>], example: &str) -> bool {
    let Ok(re) = regex::RegexBuilder::new(regex)
        .case_insensitive(true)
        .build()
    else {
        return false;
    };
    let Some(caps) = re.captures(example) else {
        return false;
    };
    pieces.iter().enumerate().all(|(k, p)| match p {
        Piece::Slot(s) => caps
            .name(&s.name)
            .is_some_and(|v| v.as_str().trim() == format!("x{k}")),
        Piece::Text(..) => true,
    })
}

impl AliasFormat {
    /// The parameters of a message the regex matched, from its captures:
    /// quotes stripped, defaults filled, trailing pairs applied, fixed
    /// parameters last. (`text` is the message; the captures say it all.)
    pub fn parameters(&self, _text: &str, captures: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            Vec::with_capacity(self.params.len() + self.fixed.len());
        for p in &self.params {
            let captured = captures
                .iter()
                .find(|(n, _)| *n == p.name)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty());
            match (captured, &p.default) {
                (Some(v), _) => out.push((p.name.clone(), unquote(v).to_owned())),
                (None, Some(d)) => out.push((p.name.clone(), d.clone())),
                (None, None) => {}
            }
        }
        let pairs = captures
            .iter()
            .find(|(n, _)| n == PAIRS)
            .map_or("", |(_, v)| v.as_str());
        let pairs = pairs_in(pairs);
        for (k, v) in pairs.chain(self.fixed.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            match out.iter_mut().find(|(n, _)| n == k) {
                Some(slot) => v.clone_into(&mut slot.1),
                None => out.push((k.to_owned(), v.to_owned())),
            }
        }
        out
    }

    /// With `match-multiple`: `text` cut where each place the format may fit
    /// begins (its first words, at the start of a word), when there are at
    /// least two; each piece is then matched alone.
    pub fn pieces<'t>(&self, text: &'t str) -> Option<Vec<&'t str>> {
        let head = self.every.as_deref()?;
        let lower = text.to_lowercase();
        // Lower-casing may change lengths: only cut where it did not.
        if lower.len() != text.len() {
            return None;
        }
        let starts: Vec<usize> = lower
            .match_indices(head)
            .map(|(at, _)| at)
            .filter(|&at| at == 0 || lower[..at].ends_with(char::is_whitespace))
            .collect();
        if starts.len() < 2 {
            return None;
        }
        let ends = starts.iter().skip(1).copied().chain([text.len()]);
        Some(
            starts
                .iter()
                .zip(ends)
                .map(|(&from, to)| text[from..to].trim())
                .collect(),
        )
    }

    /// Why a match must not run: a trailing pair that would change a
    /// parameter the operator fixed (StackStorm: "Immutable arguments
    /// cannot be overriden").
    pub fn refusal(&self, captures: &[(String, String)]) -> Option<String> {
        if self.fixed.is_empty() {
            return None;
        }
        let pairs = captures.iter().find(|(n, _)| n == PAIRS)?;
        let names: Vec<String> = pairs_in(&pairs.1)
            .filter(|(k, _)| self.fixed.iter().any(|(f, _)| f == k))
            .map(|(k, _)| format!("`{k}`"))
            .collect();
        if names.is_empty() {
            return None;
        }
        Some(format!(
            "⛔ {} cannot be overridden: this command fixes {}.",
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" }
        ))
    }

    /// Of two formats of one alias that both match, the higher wins.
    pub fn specificity(&self) -> u32 {
        self.specificity
    }
}

/// The `key=value` pairs in `text` (a trailing run), values unquoted.
fn pairs_in(text: &str) -> impl Iterator<Item = (&str, &str)> {
    static ONE_PAIR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = ONE_PAIR.get_or_init(|| {
        regex::Regex::new(&format!(r"(?:^|\s+)({PAIR})")).expect("a valid pattern")
    });
    let text = if text.is_empty() { None } else { Some(text) };
    text.into_iter().flat_map(move |t| {
        re.captures_iter(t).filter_map(|m| {
            let (k, v) = m.get(1)?.as_str().split_once('=')?;
            Some((k, unquote(v)))
        })
    })
}

/// Cuts a trailing run of `key=value` pairs off `text`: what is left, and
/// the pairs in order, values unquoted.
pub fn trailing_pairs(text: &str) -> (&str, Vec<(String, String)>) {
    static PAIR_AT_END: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = PAIR_AT_END.get_or_init(|| {
        regex::Regex::new(&format!(r"(?:^|\s+)({PAIR})\s*$")).expect("a valid pattern")
    });
    let mut rest = text;
    let mut pairs = Vec::new();
    while let Some(m) = re.captures(rest) {
        let whole = m.get(0).expect("group 0");
        let pair = m.get(1).expect("group 1").as_str();
        let (k, v) = pair.split_once('=').expect("a pair has =");
        pairs.push((k.to_owned(), unquote(v).to_owned()));
        rest = &rest[..whole.start()];
        if rest.is_empty() {
            break;
        }
    }
    pairs.reverse();
    (rest, pairs)
}

/// The quote that closes one that opens.
fn closing_quote(open: char) -> char {
    match open {
        '“' => '”',
        '‘' => '’',
        q => q,
    }
}

fn is_open_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '“' | '‘')
}

/// `"a b"`, `'a b'`, `“a b”` and `‘a b’` lose their quotes; anything else
/// stays.
fn unquote(v: &str) -> &str {
    let Some(open) = v.chars().next().filter(|c| is_open_quote(*c)) else {
        return v;
    };
    let close = closing_quote(open);
    let inner = &v[open.len_utf8()..];
    match inner.strip_suffix(close) {
        Some(inside) => inside,
        None => v,
    }
}
