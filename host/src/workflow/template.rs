//! A workflow's templates: every string in its file that holds `{{` or
//! `{%` is compiled once, at load, into the workflow's own minijinja
//! environment (Jinja syntax, as StackStorm users write it), so running a
//! task compiles nothing. A value that is one `{{ expression }}` and
//! nothing else keeps its type (a list for `with-items`, a number), as in
//! Orquesta; any other text renders to a string. Missing values render
//! empty rather than failing (`tasks.build.result.version` before `build`
//! gave one).

use minijinja::{Environment, UndefinedBehavior, Value};

/// One value of the file, ready to render.
#[derive(Debug, Clone)]
pub enum Tpl {
    /// Nothing to render.
    Literal(serde_json::Value),
    /// Renders to text: the template's name in the environment.
    Text(String),
    /// One expression, keeping its type: rendered through `tojson`.
    Native(String),
    List(Vec<Tpl>),
    Map(Vec<(String, Tpl)>),
    /// A condition: renders `1` when true.
    Condition(String),
}

pub struct Templates {
    env: Environment<'static>,
    count: usize,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        Templates { env, count: 0 }
    }

    fn compile(&mut self, source: String) -> Result<String, String> {
        let name = format!("t{}", self.count);
        self.count += 1;
        self.env
            .add_template_owned(name.clone(), source)
            .map_err(|e| e.to_string())?;
        Ok(name)
    }

    /// Compiles every template inside `value`.
    pub fn add(&mut self, value: &serde_json::Value) -> Result<Tpl, String> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) if s.contains("{{") || s.contains("{%") => match whole_expression(s) {
                Some(expr) => Tpl::Native(self.compile(format!("{{{{ ({expr}) | tojson }}}}"))?),
                None => Tpl::Text(self.compile(s.clone())?),
            },
            J::Array(items) => {
                let items: Result<Vec<Tpl>, String> = items.iter().map(|v| self.add(v)).collect();
                let items = items?;
                if items.iter().all(|t| matches!(t, Tpl::Literal(_))) {
                    Tpl::Literal(value.clone())
                } else {
                    Tpl::List(items)
                }
            }
            J::Object(map) => {
                let mut out = Vec::new();
                for (k, v) in map {
                    out.push((k.clone(), self.add(v)?));
                }
                if out.iter().all(|(_, t)| matches!(t, Tpl::Literal(_))) {
                    Tpl::Literal(value.clone())
                } else {
                    Tpl::Map(out)
                }
            }
            other => Tpl::Literal(other.clone()),
        })
    }

    /// A `when:` condition: an expression, bare or in `{{ }}`.
    pub fn add_condition(&mut self, source: &str) -> Result<Tpl, String> {
        let expr = whole_expression(source).unwrap_or(source.trim());
        Ok(Tpl::Condition(
            self.compile(format!("{{% if ({expr}) %}}1{{% endif %}}"))?,
        ))
    }

    /// Renders `tpl` over `values`.
    pub fn render(&self, tpl: &Tpl, values: &Value) -> Result<serde_json::Value, String> {
        Ok(match tpl {
            Tpl::Literal(v) => v.clone(),
            Tpl::Text(name) => serde_json::Value::String(self.run(name, values)?),
            Tpl::Native(name) => {
                let json = self.run(name, values)?;
                if json.is_empty() || json == "undefined" {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))?
                }
            }
            Tpl::List(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|t| self.render(t, values))
                    .collect::<Result<_, _>>()?,
            ),
            Tpl::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, t) in entries {
                    map.insert(k.clone(), self.render(t, values)?);
                }
                serde_json::Value::Object(map)
            }
            Tpl::Condition(name) => serde_json::Value::Bool(self.run(name, values)? == "1"),
        })
    }

    /// Renders a value the run keeps (a published variable, an output):
    /// one nested deeper than its store reads back is refused.
    pub fn render_kept(&self, tpl: &Tpl, values: &Value) -> Result<serde_json::Value, String> {
        let value = self.render(tpl, values)?;
        crate::stored::check_value(&value)?;
        Ok(value)
    }

    /// Renders `tpl` as text: strings as they are, anything else as JSON.
    pub fn render_text(&self, tpl: &Tpl, values: &Value) -> Result<String, String> {
        Ok(as_text(&self.render(tpl, values)?))
    }

    fn run(&self, name: &str, values: &Value) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        template.render(values).map_err(|e| {
            let mut text = e.to_string();
            if let Some(detail) = e.detail() {
                text = format!("{text} ({detail})");
            }
            text
        })
    }
}

/// A value as a skill's capture or a chat line: text as it is, the rest
/// as JSON.
pub fn as_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{{ expr }}` with nothing around it: the expression.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_type_and_text_renders() {
        let mut t = Templates::new();
        let list = t.add(&serde_json::json!("{{ inputs.hosts }}")).unwrap();
        let text = t.add(&serde_json::json!("to {{ inputs.env }}")).unwrap();
        let missing = t
            .add(&serde_json::json!("{{ tasks.build.result.version }}"))
            .unwrap();
        let cond = t.add_condition("{{ inputs.n > 1 }}").unwrap();
        let values = Value::from_serialize(serde_json::json!({
            "inputs": {"hosts": ["a", "b"], "env": "prod", "n": 2},
            "tasks": {},
        }));
        assert_eq!(
            t.render(&list, &values).unwrap(),
            serde_json::json!(["a", "b"])
        );
        assert_eq!(
            t.render(&text, &values).unwrap(),
            serde_json::json!("to prod")
        );
        assert_eq!(
            t.render(&missing, &values).unwrap(),
            serde_json::Value::Null
        );
        assert_eq!(t.render(&cond, &values).unwrap(), serde_json::json!(true));
    }
}
