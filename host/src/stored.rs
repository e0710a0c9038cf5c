//! JSON on its way to one of our stores (a workflow run, a task's result,
//! an input), held where it is accepted to what our own reader takes back.
//! serde_json refuses to read containers nested 128 deep (its recursion
//! limit); a value written deeper would make its whole record unreadable,
//! and every run kept beside it with it. So every value that comes from
//! outside (a webhook's body, a chat user's `key={…}`, a skill's
//! `set-result`, a published variable) may nest at most [`VALUE_DEPTH`]
//! levels, which leaves room for the documents that hold it; and a store
//! refuses to write a document it could not read ([`check_document`]), so
//! a bound missed upstream costs one step, never the record.

/// The deepest nesting serde_json reads back (its recursion limit, 128,
/// counts the container that would exceed it).
pub const READ_DEPTH: usize = 127;

/// The deepest nesting accepted in a value from outside. A run's document
/// wraps a value in at most a handful of levels (run → vars → output →
/// value; task → items → item → result; a child's output one more per
/// parent), so 64 leaves that room many times over.
pub const VALUE_DEPTH: usize = 64;

/// The largest document a store writes: well past what the size bounds
/// upstream let through (webhook bodies, chat lines, results), so only a
/// runaway (a template that multiplies its input) meets it.
pub const DOCUMENT_BYTES: usize = 64 << 20;

/// How many containers deep `value` nests (`1` and `"a"`: 0, `[]`: 1,
/// `{"a": [1]}`: 2). Iterative: a value deeper than the stack is measured
/// too.
pub fn depth(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut deepest = 0;
    let mut todo: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, above)) = todo.pop() {
        let here = match v {
            Value::Array(items) => {
                todo.extend(items.iter().map(|i| (i, above + 1)));
                above + 1
            }
            Value::Object(map) => {
                todo.extend(map.values().map(|i| (i, above + 1)));
                above + 1
            }
            _ => above,
        };
        deepest = deepest.max(here);
    }
    deepest
}

/// Is `value` shallow enough to keep? The error says how deep it is and
/// what is allowed; the caller names the field.
pub fn check_value(value: &serde_json::Value) -> Result<(), String> {
    let d = depth(value);
    if d > VALUE_DEPTH {
        return Err(format!(
            "it nests {d} levels deep; at most {VALUE_DEPTH} are accepted"
        ));
    }
    Ok(())
}

/// How many containers deep the JSON text `json` nests, counted without
/// parsing it (brackets inside strings do not count).
pub fn text_depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Would a store read back `json`, a document about to be written? Too
/// deep for the reader, or past [`DOCUMENT_BYTES`], it is refused.
pub fn check_document(json: &str) -> Result<(), String> {
    if json.len() > DOCUMENT_BYTES {
        return Err(format!(
            "it is {} bytes; at most {DOCUMENT_BYTES} are kept",
            json.len()
        ));
    }
    let d = text_depth(json);
    if d > READ_DEPTH {
        return Err(format!(
            "it nests {d} levels deep, and it could not be read back past {READ_DEPTH}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}1{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn the_read_depth_is_serde_jsons() {
        let ok: Result<serde_json::Value, _> = serde_json::from_str(&nested(READ_DEPTH));
        assert!(ok.is_ok());
        let err = serde_json::from_str::<serde_json::Value>(&nested(READ_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    #[test]
    fn depths_are_counted_the_same_on_values_and_text() {
        for (text, d) in [
            ("1", 0),
            ("\"[[[\"", 0),
            ("[]", 1),
            (r#"{"a": [1, {"b": "]]"}]}"#, 3),
            (r#"["\"[", [[2]]]"#, 3),
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(depth(&value), d, "{text}");
            assert_eq!(text_depth(text), d, "{text}");
        }
        let deep: serde_json::Value = serde_json::from_str(&nested(100)).unwrap();
        assert_eq!(depth(&deep), 100);
        assert!(check_value(&deep).unwrap_err().contains("nests 100 levels"));
        let fine: serde_json::Value = serde_json::from_str(&nested(VALUE_DEPTH)).unwrap();
        assert!(check_value(&fine).is_ok());
    }

    #[test]
    fn a_document_the_reader_would_refuse_is_refused() {
        assert!(check_document(&nested(READ_DEPTH)).is_ok());
        let e = check_document(&nested(READ_DEPTH + 1)).unwrap_err();
        assert!(e.contains("could not be read back"), "{e}");
    }
}
