//! Outbound HTTP through `wasi:http`, as far as the bot's configuration
//! grants (`allow.http` in the skill's entry). A skill that uses this module
//! imports `wasi:http`; the bot refuses to load it without such a grant.
//!
//! Calls block the skill until the answer is in; the bot is not blocked.

use std::fmt;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::streams::StreamError;

/// A response, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Invalid(format!("the response is not the JSON expected: {e}")))
    }
}

/// Why a request failed.
#[derive(Debug, Clone)]
pub enum Error {
    /// The bot refused it: the host is not in the skill's `allow.http`.
    Denied,
    /// The bot refused it: the host resolves to an internal address
    /// (loopback, private, link-local) that no grant names exactly.
    InternalAddress,
    /// The response body was larger than the skill may read.
    TooLarge,
    /// Any other `wasi:http` error code.
    Http(String),
    /// The URL or the response could not be used.
    Invalid(String),
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::HttpRequestDenied => Error::Denied,
            ErrorCode::DestinationIpProhibited => Error::InternalAddress,
            ErrorCode::HttpResponseBodySize(_) => Error::TooLarge,
            other => Error::Http(format!("{other:?}").replace("ErrorCode::", "")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Denied => f.write_str("denied: the host is not in this skill's allow.http"),
            Error::InternalAddress => {
                f.write_str("denied: the host is an internal address no grant names")
            }
            Error::TooLarge => f.write_str("the response is larger than this skill may read"),
            Error::Http(code) => write!(f, "HTTP error {code}"),
            Error::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, Error> {
    request("GET", url, &[], None)
}

/// Any request. `headers` are name/value pairs; `body` is sent as is.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, Error> {
    let (scheme, authority, path) = split_url(url)?;
    let fields = Fields::new();
    for (k, v) in headers {
        fields
            .append(k, v.as_bytes())
            .map_err(|e| Error::Invalid(format!("header `{k}`: {e:?}")))?;
    }
    let req = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_owned()),
    };
    let invalid = |what: &str| Error::Invalid(format!("{what} of `{url}` was refused"));
    req.set_method(&method).map_err(|_| invalid("the method"))?;
    req.set_scheme(Some(&scheme))
        .map_err(|_| invalid("the scheme"))?;
    req.set_authority(Some(authority))
        .map_err(|_| invalid("the host"))?;
    req.set_path_with_query(Some(path))
        .map_err(|_| invalid("the path"))?;
    let out_body = req.body().map_err(|_| invalid("the body"))?;

    let pending = outgoing_handler::handle(req, None)?;
    if let Some(bytes) = body {
        let stream = out_body.write().map_err(|_| invalid("the body"))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| stream_error(e, "sending the body"))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(out_body, None)?;

    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| Error::Invalid("no response".into()))?
        .map_err(|_| Error::Invalid("the response was taken twice".into()))??;

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|_| Error::Invalid("the body was taken twice".into()))?;
    let body = read_all(&incoming)?;
    IncomingBody::finish(incoming);
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_all(incoming: &IncomingBody) -> Result<Vec<u8>, Error> {
    let stream = incoming
        .stream()
        .map_err(|_| Error::Invalid("the body stream was taken twice".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(e) => return Err(stream_error(e, "reading the body")),
        }
    }
}

fn stream_error(e: StreamError, doing: &str) -> Error {
    match e {
        StreamError::LastOperationFailed(err) => match wasi::http::types::http_error_code(&err) {
            Some(code) => code.into(),
            None => Error::Http(format!("{doing}: {}", err.to_debug_string())),
        },
        StreamError::Closed => Error::Http(format!("{doing}: the stream closed")),
    }
}

/// `http://host:port/path?q` → (scheme, `host:port`, `/path?q`).
fn split_url(url: &str) -> Result<(Scheme, &str, &str), Error> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Error::Invalid(format!("`{url}` is not an http(s) URL")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(Error::Invalid(format!("scheme `{other}` is not http(s)"))),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(Error::Invalid(format!("`{url}` has no host")));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}
