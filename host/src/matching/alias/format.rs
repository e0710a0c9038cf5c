//! Reading an alias format as StackStorm does: `{{name}}` and
//! `{{name=default}}` (a default may be quoted, a `{json}` object or a
//! `{{ template }}`, and spaces inside the braces do not count) among text
//! that is a regex; and writing the regex the index runs, remembering where
//! each piece came from so that a load error points into the user's format,
//! not into the generated regex.

/// One `{{…}}` of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slot {
    pub name: String,
    pub default: Option<String>,
    /// Byte offset of its `{{` in the format.
    pub at: usize,
}

/// A format cut into its regex text and its parameters.
#[derive(Debug)]
pub(super) enum Piece<'a> {
    /// Regex text, at a byte offset of the format.
    Text(usize, &'a str),
    Slot(Slot),
}

/// Cuts `format` into pieces, or says which `{{` is wrong.
pub(super) fn pieces(format: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = format[from..].find("{{").map(|i| from + i) {
        if open > from {
            out.push(Piece::Text(from, &format[from..open]));
        }
        let (slot, end) = slot(format, open)?;
        out.push(Piece::Slot(slot));
        from = end;
    }
    if from < format.len() {
        out.push(Piece::Text(from, &format[from..]));
    }
    Ok(out)
}

/// The `{{…}}` opening at `open`: the slot, and the offset after its `}}`.
fn slot(format: &str, open: usize) -> Result<(Slot, usize), String> {
    let never_closed = || format!("`{{{{` at byte {open} is never closed");
    let b = format.as_bytes();
    let skip = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip(open + 2);
    let name_at = i;
    while let Some(c) = format[i..].chars().next()
        && !c.is_ascii_whitespace()
        && c != '='
        && !format[i..].starts_with("}}")
    {
        i += c.len_utf8();
    }
    let name = &format[name_at..i];
    i = skip(i);
    let mut default = None;
    if b.get(i) == Some(&b'=') {
        i = skip(i + 1);
        let (value, end) = default_value(format, i).ok_or_else(never_closed)?;
        default = Some(value);
        i = skip(end);
    }
    if !format[i..].starts_with("}}") {
        if !format[i..].contains("}}") {
            return Err(never_closed());
        }
        let end = format[i..].find("}}").map_or(format.len(), |e| i + e + 2);
        return Err(format!(
            "`{}` at byte {open} does not name a parameter (letters, digits, _)",
            &format[open..end]
        ));
    }
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !ok {
        return Err(format!(
            "`{}` at byte {open} does not name a parameter (letters, digits, _)",
            &format[open..i + 2]
        ));
    }
    Ok((
        Slot {
            name: name.to_owned(),
            default,
            at: open,
        },
        i + 2,
    ))
}

/// A default starting at `i`: a `{{ template }}` or `{object}` with its
/// braces balanced, a quoted string (unquoted), or text up to the `}}`.
fn default_value(format: &str, i: usize) -> Option<(String, usize)> {
    let rest = &format[i..];
    if let Some(q) = rest.chars().next().filter(|c| super::is_open_quote(*c)) {
        let close = super::closing_quote(q);
        let inner = &rest[q.len_utf8()..];
        let end = inner.find(close)?;
        let after = i + q.len_utf8() + end + close.len_utf8();
        // Only a quoted default when the quote closes the value.
        if format[after..].trim_start().starts_with("}}") {
            return Some((inner[..end].to_owned(), after));
        }
    }
    if rest.starts_with('{') {
        let mut depth = 0usize;
        for (j, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        let end = i + j + 1;
                        if format[end..].trim_start().starts_with("}}") {
                            return Some((rest[..=j].to_owned(), end));
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    let end = rest.find("}}")?;
    Some((rest[..end].trim_end().to_owned(), i + end))
}

/// The regex being written, and where its pieces came from.
#[derive(Default, Clone)]
pub(super) struct Out {
    pub regex: String,
    /// (offset in `regex`, offset in the format), ascending.
    map: Vec<(usize, usize)>,
}

impl Out {
    pub fn push(&mut self, text: &str, from: usize) {
        self.map.push((self.regex.len(), from));
        self.regex.push_str(text);
    }

    /// The format offset a regex offset came from.
    pub fn origin(&self, at: usize) -> usize {
        match self.map.binary_search_by_key(&at, |(r, _)| *r) {
            Ok(i) => self.map[i].1,
            Err(0) => 0,
            Err(i) => self.map[i - 1].1,
        }
    }
}

/// What a run of blanks in a format matches: any run of ASCII whitespace
/// (StackStorm matches the very characters; messages typed on phones and
/// pasted across lines differ). ASCII, not `\s`, so that the index's
/// command prefix takes the blank after the first word (`ship9 `, which
/// `ship99 web` does not begin with; `\s` has too many characters to).
pub(super) const BLANKS: &str = r"[\t\n\x0B\x0C\r ]+";
pub(super) const BLANKS_OPTIONAL: &str = r"[\t\n\x0B\x0C\r ]*";

/// Characters with a regex meaning in a format's text.
pub(super) const META: &[char] = &[
    '+', '*', '?', '.', '^', '$', '{', '}', '(', ')', '[', ']', '|', '\\',
];

/// Does the text use regex structure on purpose (groups, classes,
/// alternatives, escapes, counted repetitions)? Then it is a regex, and
/// only its syntax is checked; otherwise it must match its own words
/// (`check_example`).
pub(super) fn is_regex(text: &str) -> bool {
    text.contains(['(', '[', '|', '\\'])
        || text
            .match_indices('{')
            .any(|(i, _)| counted_repetition(&text[i..]).is_some())
}

/// Writes one piece of format text (at byte `at` of the format) as regex:
/// runs of blanks match any run of whitespace; `{` that does not begin a
/// counted repetition is a brace; a repetition of a repetition (`c++`), a
/// mistake Python's `re` (and so StackStorm) refuses, is refused here too.
pub(super) fn text(out: &mut Out, text: &str, at: usize, last: bool) -> Result<(), String> {
    #[derive(PartialEq)]
    enum After {
        Nothing,
        Atom,
        Repeat,
        Lazy,
    }
    let mut after = After::Atom;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let pos = at + i;
        match c {
            '\\' => {
                let mut piece = String::from('\\');
                if let Some((_, n)) = chars.next() {
                    piece.push(n);
                }
                out.push(&piece, pos);
                after = After::Atom;
            }
            '[' => {
                // A class, copied as it is: `[]…]` and `[^]…]` hold a `]`.
                let mut piece = String::from('[');
                let mut first = true;
                while let Some((_, n)) = chars.next() {
                    piece.push(n);
                    match n {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                piece.push(e);
                            }
                        }
                        '^' if piece == "[^" => continue,
                        ']' if !first => break,
                        _ => {}
                    }
                    first = false;
                }
                out.push(&piece, pos);
                after = After::Atom;
            }
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
                    chars.next();
                }
                // Blanks before a closing anchor, or ending the format, are
                // optional: messages arrive trimmed.
                let end = match chars.peek() {
                    None => last,
                    Some((j, '$')) => last && *j + 1 == text.len(),
                    _ => false,
                };
                out.push(if end { BLANKS_OPTIONAL } else { BLANKS }, pos);
                after = After::Atom;
            }
            '*' | '+' | '?' => {
                match after {
                    After::Repeat if c == '?' => after = After::Lazy,
                    After::Repeat | After::Lazy => return Err(repeated(c, pos)),
                    _ => after = After::Repeat,
                }
                out.push(c.encode_utf8(&mut [0; 4]), pos);
            }
            '{' => {
                let counted = counted_repetition(&text[i..]);
                match counted {
                    Some(len) => {
                        if matches!(after, After::Repeat | After::Lazy) {
                            return Err(repeated('{', pos));
                        }
                        out.push(&text[i..i + len], pos);
                        for _ in 1..len {
                            chars.next();
                        }
                        after = After::Repeat;
                    }
                    None => {
                        out.push(r"\{", pos);
                        after = After::Atom;
                    }
                }
            }
            '}' => {
                out.push(r"\}", pos);
                after = After::Atom;
            }
            '(' | '|' => {
                out.push(c.encode_utf8(&mut [0; 4]), pos);
                after = After::Nothing;
            }
            _ => {
                out.push(c.encode_utf8(&mut [0; 4]), pos);
                after = After::Atom;
            }
        }
    }
    Ok(())
}

fn repeated(c: char, at: usize) -> String {
    format!(
        "`{c}` at byte {at} repeats a repetition (as in `c++`), which StackStorm's regexes \
         refuse too; write `\\{c}` for the character itself"
    )
}

/// `{2}`, `{2,}` or `{2,5}` at the start of `text`: its length.
fn counted_repetition(text: &str) -> Option<usize> {
    let close = text.find('}')?;
    let inner = &text[1..close];
    let (a, b) = inner.split_once(',').unwrap_or((inner, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(a) && (b.is_empty() || digits(b))).then_some(close + 1)
}
