//! A WebDriver client for the browser tests: the handful of W3C WebDriver
//! commands they use (new session, navigate, execute script, find an
//! element, send keys, screenshot, delete session), as JSON over HTTP with
//! the reqwest the bot already links. A crate for this (fantoccini) forked
//! the dependency graph of `make test` from `make run` (its webdriver,
//! cookie and ICU crates turn on features in shared ones), so every test
//! build after `make run` recompiled ~200 crates.

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session on a WebDriver server (chromedriver).
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// An element of the page, by its WebDriver reference.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Session {
    /// Starts a browser through the WebDriver server at `driver` (its base
    /// URL) with these `alwaysMatch` capabilities.
    pub async fn start(driver: &str, capabilities: Value) -> Result<Session, String> {
        let http = reqwest::Client::new();
        let answer = call(
            &http,
            reqwest::Method::POST,
            &format!("{driver}/session"),
            json!({ "capabilities": { "alwaysMatch": capabilities } }),
        )
        .await?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {answer}"))?;
        Ok(Session {
            http,
            base: format!("{driver}/session/{id}"),
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.base), body).await
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    /// Runs `script` (a function body: `return …;`) in the page.
    pub async fn execute(&self, script: &str) -> Result<Value, String> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// The element with this CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element<'_>, String> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        let id = v[ELEMENT]
            .as_str()
            .ok_or_else(|| format!("no element for {css}: {v}"))?;
        Ok(Element {
            session: self,
            id: id.to_owned(),
        })
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let b64 = v.as_str().ok_or_else(|| format!("no screenshot: {v}"))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("screenshot is not base64: {e}"))
    }

    /// Ends the session (the browser closes).
    pub async fn close(self) -> Result<(), String> {
        self.command(reqwest::Method::DELETE, "", Value::Null)
            .await
            .map(drop)
    }
}

impl Element<'_> {
    /// Types `text` into the element; a `\n` is the Enter key.
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        let text = text.replace('\n', "\u{E007}");
        self.session
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
            )
            .await
            .map(drop)
    }
}

/// One WebDriver command: its `value`, or the server's error and message.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> Result<Value, String> {
    let mut request = http.request(method, url);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let v: Value = response
        .json()
        .await
        .map_err(|e| format!("{url}: not JSON: {e}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {} {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or("")
        ));
    }
    Ok(value)
}
