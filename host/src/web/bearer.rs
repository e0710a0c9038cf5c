//! A route that wants `Authorization: Bearer <token>`: the history API
//! (`history.token`) and `/metrics` (`metrics.token`). The token is compared
//! in constant time, so an answer's timing says nothing about how much of a
//! guess was right; an empty token (an unset `${VAR}`) admits no one.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

pub struct Bearer {
    token: String,
    /// Where the token is configured, for the refusal's text.
    field: &'static str,
}

impl Bearer {
    pub fn new(token: impl Into<String>, field: &'static str) -> Bearer {
        Bearer {
            token: token.into(),
            field,
        }
    }

    /// Does the request carry the token?
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        !self.token.is_empty() && bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// The answer to a request without it: 401, saying which token.
    pub fn refuse(&self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            format!("a bearer token ({}) is needed\n", self.field),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn only_the_token_itself_is_admitted() {
        let b = Bearer::new("t0ken", "metrics.token");
        assert!(b.admits(&with("Bearer t0ken")));
        for wrong in [
            "Bearer t0ke",
            "Bearer t0ken2",
            "bearer t0ken",
            "t0ken",
            "Bearer ",
        ] {
            assert!(!b.admits(&with(wrong)), "{wrong}");
        }
        assert!(!b.admits(&HeaderMap::new()));
        let empty = Bearer::new("", "metrics.token");
        assert!(!empty.admits(&HeaderMap::new()));
        assert!(!empty.admits(&with("Bearer ")));
    }
}
