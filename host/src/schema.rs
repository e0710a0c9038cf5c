//! JSON Schemas of the types an API takes and answers, made from the types
//! themselves so they cannot drift: [`Schema`] for the primitives, and
//! [`with_schema!`](crate::with_schema) around a struct's definition, which
//! writes the struct as given and its schema from its fields (names as
//! serde writes them by default, a raw `r#type` as `type`; `Option`
//! fields not required: a `#[serde(rename)]` is not read). The
//! console's OpenAPI document is built from them.

use serde_json::{Value, json};

/// A type whose JSON form has a schema.
pub trait Schema {
    fn schema() -> Value;
    /// May the field be absent (an `Option`)?
    const OPTIONAL: bool = false;
}

macro_rules! primitive {
    ($($ty:ty => $json:expr),* $(,)?) => {
        $(impl Schema for $ty {
            fn schema() -> Value {
                $json
            }
        })*
    };
}

primitive! {
    String => json!({"type": "string"}),
    bool => json!({"type": "boolean"}),
    u32 => json!({"type": "integer", "minimum": 0}),
    u64 => json!({"type": "integer", "minimum": 0}),
    usize => json!({"type": "integer", "minimum": 0}),
    Value => json!({}),
}

impl<T: Schema> Schema for Option<T> {
    fn schema() -> Value {
        T::schema()
    }
    const OPTIONAL: bool = true;
}

impl<T: Schema> Schema for Vec<T> {
    fn schema() -> Value {
        json!({"type": "array", "items": T::schema()})
    }
}

/// Writes a struct as given, and its [`Schema`] from its fields.
#[macro_export]
macro_rules! with_schema {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }

        impl $crate::schema::Schema for $name {
            fn schema() -> serde_json::Value {
                let mut properties = serde_json::Map::new();
                let mut required: Vec<&str> = Vec::new();
                $(
                    // A raw name (`r#type`) is written as serde writes it.
                    let name = stringify!($field).trim_start_matches("r#");
                    properties.insert(
                        name.to_owned(),
                        <$ty as $crate::schema::Schema>::schema(),
                    );
                    if !<$ty as $crate::schema::Schema>::OPTIONAL {
                        required.push(name);
                    }
                )*
                serde_json::json!({
                    "type": "object",
                    "properties": properties,
                    "required": required,
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    with_schema! {
        #[allow(dead_code)]
        struct Probe {
            name: String,
            limit: Option<usize>,
            tags: Vec<String>,
            r#type: String,
        }
    }

    #[test]
    fn a_struct_s_schema_comes_from_its_fields() {
        assert_eq!(
            Probe::schema(),
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "type": {"type": "string"},
                },
                "required": ["name", "tags", "type"],
            })
        );
    }
}
