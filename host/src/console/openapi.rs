//! The console's routes, each declared once ([`Route`]: its method, path,
//! role, what it takes and answers, and its handler), and the OpenAPI 3.1
//! document made from the same list the router is: a route cannot be
//! served and missing from the document, or listed and not served. The
//! bodies' schemas come from their types ([`crate::schema`]).

use super::accounts::Role;
use super::api::Console;
use crate::schema::Schema;
use axum::routing::MethodRouter;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// What a route takes as its body.
pub(super) enum Takes {
    Nothing,
    /// JSON of this schema.
    Json(fn() -> Value),
    /// Bytes of this content type.
    Bytes(&'static str),
}

/// What a route answers with.
pub(super) enum Gives {
    /// JSON of this schema.
    Json(fn() -> Value),
    /// JSON, its shape told in the route's words.
    Described,
    NoContent,
    /// The page's files.
    File(&'static str),
    /// Server-sent events.
    Events,
}

/// One route, declared once.
pub(super) struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The role it needs; `None`: no login (logging in, the page, this
    /// document).
    pub role: Option<Role>,
    pub summary: &'static str,
    pub takes: Takes,
    /// Its query string's fields.
    pub query: Option<fn() -> Value>,
    pub gives: Gives,
    pub handler: MethodRouter<Arc<Console>>,
}

impl Route {
    pub(super) fn get(path: &'static str, handler: MethodRouter<Arc<Console>>) -> Route {
        Route::new("get", path, handler)
    }

    pub(super) fn post(path: &'static str, handler: MethodRouter<Arc<Console>>) -> Route {
        Route::new("post", path, handler)
    }

    fn new(method: &'static str, path: &'static str, handler: MethodRouter<Arc<Console>>) -> Route {
        Route {
            method,
            path,
            role: None,
            summary: "",
            takes: Takes::Nothing,
            query: None,
            gives: Gives::Described,
            handler,
        }
    }

    pub(super) fn role(mut self, role: Role) -> Route {
        self.role = Some(role);
        self
    }

    pub(super) fn says(mut self, summary: &'static str) -> Route {
        self.summary = summary;
        self
    }

    pub(super) fn takes<T: Schema>(mut self) -> Route {
        self.takes = Takes::Json(T::schema);
        self
    }

    pub(super) fn takes_bytes(mut self, content_type: &'static str) -> Route {
        self.takes = Takes::Bytes(content_type);
        self
    }

    pub(super) fn query<T: Schema>(mut self) -> Route {
        self.query = Some(T::schema);
        self
    }

    pub(super) fn gives<T: Schema>(mut self) -> Route {
        self.gives = Gives::Json(T::schema);
        self
    }

    pub(super) fn gives_nothing(mut self) -> Route {
        self.gives = Gives::NoContent;
        self
    }

    pub(super) fn gives_file(mut self, content_type: &'static str) -> Route {
        self.gives = Gives::File(content_type);
        self
    }

    pub(super) fn gives_events(mut self) -> Route {
        self.gives = Gives::Events;
        self
    }
}

fn error_response(why: &str) -> Value {
    json!({
        "description": why,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        }}},
    })
}

fn operation(route: &Route) -> Value {
    let mut parameters = Vec::new();
    for part in route.path.split('/') {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "schema": {"type": "string"},
            }));
        }
    }
    if let Some(query) = route.query {
        let schema = query();
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        if let Some(fields) = schema["properties"].as_object() {
            for (name, field) in fields {
                parameters.push(json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&&Value::from(name.as_str())),
                    "schema": field,
                }));
            }
        }
    }
    let changes = route.method != "get";
    if changes && route.role.is_some() {
        parameters.push(json!({
            "name": "X-CSRF-Token", "in": "header", "required": false,
            "description": "The `csrf` the login answered; needed with a session, not with an API token.",
            "schema": {"type": "string"},
        }));
    }
    let ok = match &route.gives {
        Gives::Json(schema) => json!({"200": {
            "description": "done",
            "content": {"application/json": {"schema": schema()}},
        }}),
        Gives::Described => json!({"200": {
            "description": "done (see the summary)",
            "content": {"application/json": {"schema": {}}},
        }}),
        Gives::NoContent => json!({"204": {"description": "done"}}),
        Gives::File(content_type) => json!({"200": {
            "description": "the file",
            "content": {*content_type: {"schema": {"type": "string"}}},
        }}),
        Gives::Events => json!({"200": {
            "description": "server-sent events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }}),
    };
    let mut responses: Map<String, Value> = ok.as_object().cloned().unwrap_or_default();
    responses.insert(
        "400".into(),
        error_response("the request is not understood"),
    );
    if let Some(role) = route.role {
        responses.insert(
            "401".into(),
            error_response("not logged in, or not a valid API token"),
        );
        let why = format!(
            "the account's role is below {}{}",
            role.as_str(),
            if changes {
                ", or the CSRF token is missing or wrong"
            } else {
                ""
            }
        );
        responses.insert("403".into(), error_response(&why));
    }
    let mut op = json!({
        "operationId": format!("{}{}", route.method, route.path.replace(['/', '{', '}', '.'], "_")),
        "summary": route.summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(role) = route.role {
        op["x-role"] = json!(role.as_str());
        op["security"] = json!([{"session": []}, {"token": []}]);
    } else {
        op["security"] = json!([]);
    }
    match &route.takes {
        Takes::Nothing => {}
        Takes::Json(schema) => {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": schema()}},
            });
        }
        Takes::Bytes(content_type) => {
            op["requestBody"] = json!({
                "required": true,
                "content": {*content_type: {"schema": {"type": "string", "format": "binary"}}},
            });
        }
    }
    op
}

/// The OpenAPI 3.1 document of `routes`.
pub(super) fn document(routes: &[Route]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in routes {
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sandbot console",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operator's console's API (docs/console.md).",
        },
        "paths": paths,
        "components": {"securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": super::COOKIE},
            "token": {"type": "http", "scheme": "bearer"},
        }},
    })
}
