//! opsdroid's `match_parse` templates (Python's `parse` library), made into
//! regexes the index runs with every other matcher:
//! `remind me in {minutes:d} minutes to {what}`.
//!
//! - `{name}` captures lazily (at least one character), `{}` too, numbered;
//! - a type after a colon narrows it: `d` an integer, `f` a decimal number,
//!   `w` a word, `W` non-word characters, `S` no spaces, `l` letters;
//! - `{{` and `}}` are literal braces; everything else is literal text;
//! - the whole message must match, in any case (opsdroid's default).

/// Makes `template` a regex, or says what is wrong with it.
pub fn compile(template: &str) -> Result<String, String> {
    let mut out = String::from("^");
    let mut chars = template.char_indices().peekable();
    let mut literal = String::new();
    let mut numbered = 0usize;
    let mut names = std::collections::HashSet::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(format!(
                    "a lone `}}` at byte {at} (write `}}}}` for a brace)"
                ));
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        Some((_, c)) => field.push(c),
                        None => return Err(format!("`{{` at byte {at} is never closed")),
                    }
                }
                out.push_str(&regex::escape(&literal));
                literal.clear();
                let (name, kind) = field.split_once(':').unwrap_or((field.as_str(), ""));
                let name = name.trim();
                let body = match kind.trim() {
                    "" => r".+?",
                    "d" => r"[-+]?\d+",
                    "f" => r"[-+]?(?:\d+\.?\d*|\.\d+)",
                    "w" => r"\w+",
                    "W" => r"\W+",
                    "S" => r"\S+",
                    "l" => r"[[:alpha:]]+",
                    other => {
                        return Err(format!(
                            "`{{{field}}}`: the type `{other}` is not one of d, f, w, W, S, l"
                        ));
                    }
                };
                let group = if name.is_empty() {
                    numbered += 1;
                    format!("(?P<_{numbered}>{body})")
                } else if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                {
                    if !names.insert(name.to_owned()) {
                        return Err(format!("`{{{name}}}` appears twice"));
                    }
                    format!("(?P<{name}>{body})")
                } else {
                    return Err(format!(
                        "`{{{field}}}` does not name a field (letters, digits, _)"
                    ));
                };
                out.push_str(&group);
            }
            c => literal.push(c),
        }
    }
    out.push_str(&regex::escape(&literal));
    out.push('$');
    Ok(out)
}

/// Captures as the skill sees them: numbered fields `_1`, `_2` become `1`, `2`.
pub fn field_name(group: &str) -> &str {
    group.strip_prefix('_').unwrap_or(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text written, message, what comes out, or `None`: no match).
    type Case = (&'static str, &'static str, Option<Vec<(String, String)>>);

    fn run(template: &str, text: &str) -> Option<Vec<(String, String)>> {
        let re = regex::RegexBuilder::new(&compile(template).unwrap())
            .case_insensitive(true)
            .build()
            .unwrap();
        let caps = re.captures(text)?;
        Some(
            re.capture_names()
                .flatten()
                .filter_map(|n| Some((field_name(n).to_owned(), caps.name(n)?.as_str().to_owned())))
                .collect(),
        )
    }

    fn fields(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn opsdroid_parse_templates() {
        let table: &[Case] = &[
            (
                "remind me in {minutes} minutes",
                "remind me in 5 minutes",
                fields(&[("minutes", "5")]),
            ),
            (
                "remind me in {minutes} minutes",
                "Remind Me in 5 MINUTES",
                fields(&[("minutes", "5")]),
            ),
            (
                "remind me in {minutes:d} minutes",
                "remind me in five minutes",
                None,
            ),
            (
                "remind me in {minutes:d} minutes to {what}",
                "remind me in 10 minutes to stretch your legs",
                fields(&[("minutes", "10"), ("what", "stretch your legs")]),
            ),
            (
                "say {} and {}",
                "say hi and bye",
                fields(&[("1", "hi"), ("2", "bye")]),
            ),
            (
                "cost {amount:f}",
                "cost 3.50",
                fields(&[("amount", "3.50")]),
            ),
            (
                "user {name:w} left",
                "user bob left",
                fields(&[("name", "bob")]),
            ),
            ("user {name:w} left", "user bob smith left", None),
            // Literal text is literal, regex characters included.
            ("what is 2+2?", "what is 2+2?", fields(&[])),
            ("what is 2+2?", "what is 22", None),
            ("set {{x}} to {v}", "set {x} to 1", fields(&[("v", "1")])),
            // The whole message.
            ("hello", "hello there", None),
        ];
        for (template, text, expected) in table {
            assert_eq!(
                &run(template, text),
                expected,
                "template `{template}`, message `{text}`"
            );
        }
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        assert!(
            compile("in {minutes minutes")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            compile("in {minutes:x}")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(compile("a } b").unwrap_err().contains("lone"));
        assert!(compile("{a} {a}").unwrap_err().contains("twice"));
        assert!(compile("{a-b}").unwrap_err().contains("does not name"));
    }
}
