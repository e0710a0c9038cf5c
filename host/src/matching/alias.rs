//! StackStorm's action-alias formats, made into regexes the index runs with
//! every other matcher, and the parameters read back out of a match:
//!
//! - `deploy {{app}} to {{env=staging}}`: text outside `{{…}}` is raw regex;
//!   `{{p}}` captures lazily (earlier parameters take the least text, the
//!   last the rest); `{{p=default}}` may be left out, with the whitespace
//!   before it, and then takes its default;
//! - a value may be `"quoted"`, `'quoted'` (the quotes are stripped) or a
//!   `{json}` object (kept as its text);
//! - a trailing run of `key=value` pairs overrides and extends the
//!   parameters (`deploy web to prod timeout=120`); pairs in the middle stay
//!   part of a value;
//! - `^\s*` and `\s*$` are added unless the format has its own anchors.
//!
//! Unlike StackStorm's server, literal words match in any case, as its chat
//! side does: `Deploy web` is `deploy web`.

use std::collections::HashSet;

/// One `key=value` at the end of a message: the value is quoted, a JSON
/// object, or a run of non-spaces.
const PAIR: &str = r#"[A-Za-z_][\w.-]*=(?:"[^"]*"|'[^']*'|\{[^}]*\}|\S+)"#;

/// What a parameter's value may be: quoted, an object, or lazily anything
/// that begins with a non-space (a required parameter is never empty).
const VALUE: &str = r#"(?:"[^"]*"|'[^']*'|\{[^}]*\}|\S.*?)"#;

/// A format, ready for the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasFormat {
    /// The regex the index runs: a named group per parameter, and room for
    /// trailing pairs.
    pub regex: String,
    params: Vec<Param>,
    /// Fixed by the operator: applied last, so a message cannot change them.
    fixed: Vec<(String, String)>,
    /// Said when it matches (a template, checked here).
    pub ack: Option<std::sync::Arc<str>>,
}

/// An alias as the manifest (and the operator) gives it: the format, its
/// fixed parameters, and an acknowledgement whose template must parse.
pub fn compile_spec(spec: &crate::manifest::AliasSpec) -> Result<AliasFormat, String> {
    let mut format = compile(&spec.format)?;
    format.fixed = spec.parameters.clone();
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

/// Makes `format` a regex, or says what is wrong with it.
pub fn compile(format: &str) -> Result<AliasFormat, String> {
    let mut regex = String::new();
    let mut params: Vec<Param> = Vec::new();
    let mut seen = HashSet::new();
    let mut rest = format;
    while let Some(open) = rest.find("{{") {
        let (before, after) = rest.split_at(open);
        let close = after.find("}}").ok_or_else(|| {
            format!(
                "`{{{{` at byte {} is never closed",
                format.len() - rest.len() + open
            )
        })?;
        let inside = &after[2..close];
        let (name, default) = match inside.split_once('=') {
            Some((n, d)) => (n.trim(), Some(unquote(d.trim()).to_owned())),
            None => (inside.trim(), None),
        };
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(format!(
                "`{{{{{inside}}}}}` does not name a parameter (letters, digits, _)"
            ));
        }
        if !seen.insert(name.to_owned()) {
            return Err(format!("parameter `{name}` appears twice"));
        }
        let group = format!("(?P<{name}>{VALUE})");
        if default.is_some() {
            // The whitespace before an optional parameter goes with it.
            let trimmed = before.trim_end_matches([' ', '\t']);
            let space = &before[trimmed.len()..];
            regex.push_str(trimmed);
            let space = if space.is_empty() { "" } else { r"\s+" };
            regex.push_str(&format!("(?:{space}{group})?"));
        } else {
            regex.push_str(before);
            regex.push_str(&group);
        }
        params.push(Param {
            name: name.to_owned(),
            default,
        });
        rest = &after[close + 2..];
    }
    regex.push_str(rest);
    let start = if regex.starts_with('^') { "" } else { r"^\s*" };
    let (body, end) = match regex.strip_suffix('$') {
        Some(body) if !body.ends_with('\\') => (body.to_owned(), "$".to_owned()),
        _ => (regex.clone(), r"\s*$".to_owned()),
    };
    let regex = format!("{start}(?:{body})(?:\\s+{PAIR})*{end}");
    // The format must be a regex on its own.
    regex_syntax::Parser::new()
        .parse(&regex)
        .map_err(|e| format!("the format is not a valid regex: {e}"))?;
    Ok(AliasFormat {
        regex,
        params,
        fixed: Vec::new(),
        ack: None,
    })
}

impl AliasFormat {
    /// The parameters of a message the regex matched, from its captures:
    /// quotes stripped, defaults filled, trailing pairs applied.
    pub fn parameters(&self, text: &str, captures: &[(String, String)]) -> Vec<(String, String)> {
        let (_, pairs) = trailing_pairs(text);
        let mut out: Vec<(String, String)> = Vec::new();
        for p in &self.params {
            let captured = captures
                .iter()
                .find(|(n, _)| *n == p.name)
                .map(|(_, v)| unquote(v.trim()))
                .filter(|v| !v.is_empty());
            match (captured, &p.default) {
                (Some(v), _) => out.push((p.name.clone(), v.to_owned())),
                (None, Some(d)) => out.push((p.name.clone(), d.clone())),
                (None, None) => {}
            }
        }
        for (k, v) in pairs.into_iter().chain(self.fixed.iter().cloned()) {
            match out.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        out
    }
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

/// `"a b"` and `'a b'` lose their quotes; anything else stays.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text written, message, what comes out, or `None`: no match).
    type Case = (&'static str, &'static str, Option<Vec<(String, String)>>);

    /// (format, message, parameters or None when it must not match).
    fn run(format: &str, text: &str) -> Option<Vec<(String, String)>> {
        let alias = compile(format).unwrap();
        let re = regex::RegexBuilder::new(&alias.regex)
            .case_insensitive(true)
            .build()
            .unwrap();
        let caps = re.captures(text)?;
        let captures: Vec<(String, String)> = re
            .capture_names()
            .flatten()
            .filter_map(|n| Some((n.to_owned(), caps.name(n)?.as_str().to_owned())))
            .collect();
        Some(alias.parameters(text, &captures))
    }

    fn params(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn stackstorm_semantics_table() {
        let table: &[Case] = &[
            // Required parameters, and a default.
            (
                "deploy {{app}} to {{env=staging}}",
                "deploy web to prod",
                params(&[("app", "web"), ("env", "prod")]),
            ),
            (
                "deploy {{app}} to {{env=staging}}",
                "deploy web to",
                params(&[("app", "web"), ("env", "staging")]),
            ),
            // Lazy: the last parameter takes the rest.
            (
                "tag {{k}} {{v}}",
                "tag a b c",
                params(&[("k", "a"), ("v", "b c")]),
            ),
            // Quoted values keep their spaces and lose their quotes.
            (
                "tag {{k}} {{v}}",
                "tag \"a b\" c",
                params(&[("k", "a b"), ("v", "c")]),
            ),
            (
                "say {{text}}",
                "say 'hello there'",
                params(&[("text", "hello there")]),
            ),
            // A JSON object is kept as text.
            (
                "run {{cmd}} with {{args}}",
                "run ls with {\"flags\": \"-la\"}",
                params(&[("cmd", "ls"), ("args", "{\"flags\": \"-la\"}")]),
            ),
            // Trailing pairs override and extend.
            (
                "deploy {{app}} to {{env=staging}}",
                "deploy web to prod timeout=120",
                params(&[("app", "web"), ("env", "prod"), ("timeout", "120")]),
            ),
            (
                "deploy {{app}} to {{env=staging}}",
                "deploy web to prod env=qa",
                params(&[("app", "web"), ("env", "qa")]),
            ),
            (
                "deploy {{app}} to {{env=staging}}",
                "deploy web to prod note=\"two words\"",
                params(&[("app", "web"), ("env", "prod"), ("note", "two words")]),
            ),
            // Pairs in the middle stay in a value.
            (
                "run {{cmd}}",
                "run make x=1 all",
                params(&[("cmd", "make x=1 all")]),
            ),
            // Raw regex between parameters.
            (
                "(run|execute) {{cmd}}( on {{hosts=localhost}})?",
                "execute uptime on web1",
                params(&[("cmd", "uptime"), ("hosts", "web1")]),
            ),
            (
                "(run|execute) {{cmd}}( on {{hosts=localhost}})?",
                "run uptime",
                params(&[("cmd", "uptime"), ("hosts", "localhost")]),
            ),
            // Anchors are added...
            ("status", "status", params(&[])),
            ("status", "show status now", None),
            ("status", "  status  ", params(&[])),
            // ...unless the format has its own.
            ("status$", "show status", None),
            ("^status", "status please", None),
            // Any case.
            ("Deploy {{app}}", "deploy web", params(&[("app", "web")])),
            // A required parameter cannot be empty.
            ("deploy {{app}} now", "deploy  now", None),
        ];
        for (format, text, expected) in table {
            assert_eq!(
                &run(format, text),
                expected,
                "format `{format}`, message `{text}`"
            );
        }
    }

    #[test]
    fn bad_formats_are_refused_with_a_reason() {
        assert!(
            compile("deploy {{app")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            compile("deploy {{}}")
                .unwrap_err()
                .contains("does not name")
        );
        assert!(compile("{{a}} {{a}}").unwrap_err().contains("twice"));
        assert!(
            compile("deploy ( {{app}}")
                .unwrap_err()
                .contains("not a valid regex")
        );
    }

    #[test]
    fn trailing_pairs_are_cut_from_the_end_only() {
        assert_eq!(
            trailing_pairs("deploy web a=1 b='x y'"),
            (
                "deploy web",
                vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
            )
        );
        assert_eq!(trailing_pairs("x=1 deploy"), ("x=1 deploy", vec![]));
    }
}
