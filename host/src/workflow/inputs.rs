//! A run's inputs: each declared with a type in the workflow's file
//! (`inputs: {app: {type: string}, n: {type: integer, default: 1}}`), given
//! as text from chat (`key=value`, converted to the type) or as JSON (a
//! webhook's body, a parent task's input, a crontab entry: checked against
//! it), defaults filled in. A value is kept with the run, so one nested
//! deeper than its store reads back (`crate::stored`) is refused here, to
//! whoever gave it, with the input's name.

use indexmap::IndexMap;
use serde::Deserialize;

/// What an input must be; text from chat is converted to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

/// An input as its file declares it.
pub struct Input {
    pub kind: InputType,
    pub default: Option<serde_json::Value>,
    pub description: String,
}

pub(super) fn typed_inputs(
    workflow: &str,
    inputs: &IndexMap<String, Input>,
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    for (name, value) in given {
        let Some(input) = inputs.get(name) else {
            return Err(format!("`{workflow}` has no input `{name}`"));
        };
        if !fits(input.kind, value) {
            return Err(format!(
                "input `{name}`: {} is not {}",
                shown_value(value),
                input.kind.described()
            ));
        }
        crate::stored::check_value(value).map_err(|e| format!("input `{name}`: {e}"))?;
        out.insert(name.clone(), value.clone());
    }
    defaults(inputs, &mut out)?;
    Ok(out)
}

/// Fills in the defaults of inputs not given; an input with none is needed.
pub(super) fn defaults(
    inputs: &IndexMap<String, Input>,
    out: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    for (name, input) in inputs {
        if !out.contains_key(name) {
            match &input.default {
                Some(d) => {
                    out.insert(name.clone(), d.clone());
                }
                None => return Err(format!("input `{name}` is needed")),
            }
        }
    }
    Ok(())
}

impl InputType {
    fn described(self) -> &'static str {
        match self {
            InputType::String => "a string",
            InputType::Integer => "an integer",
            InputType::Number => "a number",
            InputType::Boolean => "true or false",
            InputType::Array => "an array",
            InputType::Object => "an object",
        }
    }
}

/// Is JSON `value` of type `kind`?
pub(super) fn fits(kind: InputType, value: &serde_json::Value) -> bool {
    use serde_json::Value;
    matches!(
        (kind, value),
        (InputType::String, Value::String(_))
            | (InputType::Number, Value::Number(_))
            | (InputType::Boolean, Value::Bool(_))
            | (InputType::Array, Value::Array(_))
            | (InputType::Object, Value::Object(_))
    ) || (kind == InputType::Integer && (value.is_i64() || value.is_u64()))
}

/// Text from chat as an input of type `kind`.
pub(super) fn convert(
    name: &str,
    kind: InputType,
    text: &str,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let bad = |what: &str| {
        let shown = crate::text::cut(text, 80);
        let more = if shown.len() < text.len() { "…" } else { "" };
        format!("input `{name}`: `{shown}{more}` is not {what}")
    };
    Ok(match kind {
        InputType::String => Value::String(text.to_owned()),
        InputType::Integer => {
            Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer"))?)
        }
        InputType::Number => {
            let n: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| bad("a number"))?
        }
        InputType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Value::Bool(true),
            "false" | "no" | "off" | "0" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        InputType::Array => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Array(_)) => v,
            // `a,b,c` is a list too.
            _ => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            ),
        },
        InputType::Object => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(bad("a JSON object")),
        },
    })
    .and_then(|v| {
        // Kept with the run: what its reader could not take back is
        // refused now, to whoever said it.
        crate::stored::check_value(&v).map_err(|e| format!("input `{name}`: {e}"))?;
        Ok(v)
    })
}

/// A value in an error message: short (a webhook's body may be a MiB).
fn shown_value(value: &serde_json::Value) -> String {
    const SHOWN: usize = 80;
    let text = value.to_string();
    let cut = crate::text::cut(&text, SHOWN);
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        text
    }
}
