//! Firing alerts from a Prometheus-style API (`GET {url}/api/v1/alerts`),
//! answered in chat: `alerts`, or `alerts critical` for one severity.
//!
//! Settings: `url` (the API's base URL). If the configuration grants it the
//! secret `prometheus-token`, it is sent as a bearer token. The bot must
//! allow the host: `allow: {http: ["http://prometheus:9090"]}`.
use sandbot_sdk::prelude::*;
use serde_json::Value;

struct Alerts;

impl Skill for Alerts {
    fn describe() -> Manifest {
        Manifest::new("alerts", env!("CARGO_PKG_VERSION"))
            .description("Lists the alerts firing in Prometheus")
            .matcher(
                Matcher::regex("list", r"^alerts(?:\s+(?P<severity>[a-z]+))?$")
                    .case_insensitive()
                    .help("alerts [severity] — the alerts firing now"),
            )
    }

    fn settings() -> Option<Vec<Setting>> {
        Some(vec![
            Setting::new("url")
                .help("the Prometheus API's base URL, e.g. http://prometheus:9090")
                .required(),
            Setting::new("prometheus-token")
                .help("sent as a bearer token; usually granted from `secrets:`"),
        ])
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let base = config::get("url")?
            .ok_or("the `url` setting (the Prometheus API's base URL) is missing")?;
        let url = format!("{}/api/v1/alerts", base.trim_end_matches('/'));
        let token = config::get("prometheus-token")
            .ok()
            .flatten()
            .filter(|t| !t.is_empty());
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let response = http::request("GET", &url, &headers, None)
            .map_err(|e| format!("cannot reach Prometheus at {url}: {e}"))?;
        if response.status != 200 {
            return Err(format!("Prometheus answered {} for {url}", response.status));
        }
        let body: Value = response.json().map_err(|e| e.to_string())?;
        let wanted = cx.capture("severity").map(str::to_lowercase);
        cx.respond(summarize(&body, wanted.as_deref())?)
    }
}

fn summarize(body: &Value, severity: Option<&str>) -> Result<String, String> {
    let alerts = body["data"]["alerts"]
        .as_array()
        .ok_or("Prometheus's answer has no data.alerts list")?;
    let label = |a: &Value, k: &str| a["labels"][k].as_str().unwrap_or("").to_owned();
    let firing: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter(|a| severity.is_none_or(|s| label(a, "severity").eq_ignore_ascii_case(s)))
        .collect();
    let scope = severity.map(|s| format!(" {s}")).unwrap_or_default();
    if firing.is_empty() {
        return Ok(format!("No{scope} alerts firing."));
    }
    let plural = if firing.len() == 1 { "" } else { "s" };
    let mut out = format!("{}{scope} alert{plural} firing:", firing.len());
    for a in firing {
        let mut line = format!("\n• {}", label(a, "alertname"));
        let sev = label(a, "severity");
        if !sev.is_empty() {
            line.push_str(&format!(" [{sev}]"));
        }
        let instance = label(a, "instance");
        if !instance.is_empty() {
            line.push_str(&format!(" {instance}"));
        }
        if let Some(summary) = a["annotations"]["summary"].as_str() {
            line.push_str(&format!(": {summary}"));
        }
        out.push_str(&line);
    }
    Ok(out)
}

sandbot_sdk::export!(Alerts);
