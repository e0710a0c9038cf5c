//! `${VAR}` and `${VAR:-default}` in configuration.yaml, replaced before the
//! YAML is parsed (as opsdroid does). `$${` stands for a literal `${`.
//! Whole-line comments are left alone, so a commented-out line cannot fail.

use super::error::ConfigError;
use std::path::Path;

#[cfg(test)]
pub fn substitute(
    text: &str,
    file: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    substitute_noting(text, file, lookup, &mut Vec::new())
}

/// [`substitute`], noting in `put` each value it put in (a variable's, or
/// a default), so where the configuration is shown they can be masked.
pub fn substitute_noting(
    text: &str,
    file: &Path,
    lookup: impl Fn(&str) -> Option<String>,
    put: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find('$') {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            if let Some(after_escape) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = after_escape;
                continue;
            }
            if !after.starts_with("${") {
                out.push('$');
                rest = &after[1..];
                continue;
            }
            let column = line.len() - after.len() + 1;
            let here = |message: String| ConfigError::at(file, line_no + 1, column, message);
            let Some(end) = after.find('}') else {
                return Err(here("`${` without a closing `}`".into()));
            };
            let inner = &after[2..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(here(format!(
                    "`${{{inner}}}` is not an environment variable reference (letters, digits and _ only)"
                )));
            }
            let value = match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    return Err(here(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                    )));
                }
            };
            if value.contains('\n') {
                return Err(here(format!(
                    "environment variable `{name}` holds a line break, which cannot go into configuration.yaml"
                )));
            }
            out.push_str(&value);
            put.push(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str) -> Result<String, ConfigError> {
        substitute(text, Path::new("c.yaml"), |name| match name {
            "USER" => Some("alice".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn replaces_set_variables_and_defaults() {
        assert_eq!(sub("admins: [${USER}]\n").unwrap(), "admins: [alice]\n");
        assert_eq!(sub("x: ${NOPE:-7}\n").unwrap(), "x: 7\n");
        assert_eq!(sub("x: ${EMPTY:-d}\n").unwrap(), "x: d\n");
        assert_eq!(sub("price: $5 $${USER}\n").unwrap(), "price: $5 ${USER}\n");
    }

    #[test]
    fn an_unset_variable_names_its_place() {
        let err = sub("a: 1\nb: x${MISSING}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yaml:2:5: environment variable `MISSING` is not set (write `${MISSING:-default}` to give a default)"
        );
    }

    #[test]
    fn comments_are_left_alone() {
        assert_eq!(sub("  # ${MISSING}\n").unwrap(), "  # ${MISSING}\n");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(
            sub("a: ${USER\n")
                .unwrap_err()
                .to_string()
                .contains("c.yaml:1:4")
        );
        assert!(sub("a: ${A B}\n").is_err());
    }
}
