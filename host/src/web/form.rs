//! A form-encoded webhook body (`application/x-www-form-urlencoded`, as
//! GitHub sends when its content type is set so, and as Slack sends slash
//! commands and interactions) made into the JSON the skill or workflow
//! reads, as StackStorm parses it into the trigger's payload: the fields
//! as a JSON object of strings (a field sent more than once keeps the
//! last), and when the only field is `payload` holding a JSON object
//! (GitHub's and Slack's way), that object. The content type then says
//! `application/json`. Any other body passes as it came.

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;

const FORM: &str = "application/x-www-form-urlencoded";

/// `body` as JSON if `headers` say it is a form (and `headers` then say
/// JSON); else `body` untouched. A form that is not UTF-8 once decoded is
/// an error to answer 400 with.
pub fn to_json(headers: &mut HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM));
    if !is_form {
        return Ok(body);
    }
    let mut fields = serde_json::Map::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        fields.insert(decode(key)?, serde_json::Value::String(decode(value)?));
    }
    let json = match fields.get("payload").and_then(|p| p.as_str()) {
        Some(payload) if fields.len() == 1 => {
            match serde_json::from_str::<serde_json::Value>(payload) {
                Ok(object @ serde_json::Value::Object(_)) => object,
                _ => serde_json::Value::Object(fields),
            }
        }
        _ => serde_json::Value::Object(fields),
    };
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Bytes::from(json.to_string()))
}

/// One name or value of a form: `+` is a space, `%XX` a byte; the bytes
/// must make UTF-8. A `%` not followed by two hex digits stays as it is.
fn decode(text: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hex = |at: usize| text.get(at).and_then(|&c| (c as char).to_digit(16));
        match text[i] {
            b'+' => out.push(b' '),
            b'%' if hex(i + 1).is_some() && hex(i + 2).is_some() => {
                out.push((hex(i + 1).unwrap_or(0) * 16 + hex(i + 2).unwrap_or(0)) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the form-encoded body is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<serde_json::Value, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let json = to_json(&mut headers, Bytes::from(body.to_owned()))?;
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        Ok(serde_json::from_slice(&json).unwrap())
    }

    #[test]
    fn forms_become_json_objects() {
        // A Slack slash command.
        assert_eq!(
            form("command=%2Fdeploy&text=web+to+prod&user_name=ada").unwrap(),
            serde_json::json!({"command": "/deploy", "text": "web to prod", "user_name": "ada"})
        );
        // GitHub's form: the JSON payload in one field.
        assert_eq!(
            form("payload=%7B%22action%22%3A%22opened%22%2C%22n%22%3A1%7D").unwrap(),
            serde_json::json!({"action": "opened", "n": 1})
        );
        // `payload` that is not a JSON object stays a field.
        assert_eq!(
            form("payload=hi").unwrap(),
            serde_json::json!({"payload": "hi"})
        );
        assert_eq!(form("").unwrap(), serde_json::json!({}));
        assert_eq!(form("a=%E2%82%AC").unwrap(), serde_json::json!({"a": "€"}));
        assert!(form("a=%FF%FE").unwrap_err().contains("not UTF-8"));
        // Not a form: untouched.
        let mut headers = HeaderMap::new();
        let body = to_json(&mut headers, Bytes::from_static(b"a=1")).unwrap();
        assert_eq!(&body[..], b"a=1");
    }
}
