//! What a skill asks for: the grants it needs to work (HTTP hosts, rooms it
//! sends to, secrets it reads) and the memory it expects. Written by its
//! author in `requests.yaml` beside the project, carried in the artifact's
//! manifest, shown to the operator before an install. A request grants
//! nothing: the configuration entry the operator approves does.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The manifest annotation that carries the requests, as JSON.
pub const ANNOTATION: &str = "dev.sandbot.skill.requests";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Requests {
    /// `allow.http` patterns: `https://api.github.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// `allow.send` patterns: `slack:#alerts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<String>,
    /// Names under the top-level `secrets:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// `limits.memory`: `64MiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

impl Requests {
    /// Reads a `requests.yaml`, each entry checked as the configuration
    /// checks the grant it asks for.
    pub fn read(path: &Path) -> Result<Requests> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let requests: Requests = serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!(crate::config::yaml_error(path, &e).to_string()))?;
        requests
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(requests)
    }

    /// Reads the JSON a manifest carries.
    pub fn from_annotation(text: &str) -> Result<Requests, String> {
        let requests: Requests = serde_json::from_str(text)
            .map_err(|e| format!("its requested grants ({ANNOTATION}) are unreadable: {e}"))?;
        requests.check()?;
        Ok(requests)
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("requests serialize")
    }

    fn check(&self) -> Result<(), String> {
        for h in &self.http {
            crate::outbound::HostPattern::parse(h).map_err(|e| format!("http: {e}"))?;
        }
        for s in &self.send {
            crate::grants::RoomPattern::parse(s).map_err(|e| format!("send: {e}"))?;
        }
        for s in &self.secrets {
            crate::names::check(s)
                .map_err(|e| format!("secrets: `{}` is not a name: {e}", crate::names::shown(s)))?;
        }
        if let Some(m) = &self.memory {
            serde_yaml_ng::from_str::<crate::limits::ByteSize>(m)
                .map_err(|e| format!("memory: `{m}`: {e}"))?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == Requests::default()
    }

    /// What `new` asks for that `self` did not, and what it no longer asks
    /// for, a line each.
    pub fn changes_to(&self, new: &Requests) -> Vec<String> {
        let mut lines = Vec::new();
        for (what, old, new) in [
            ("HTTP to", &self.http, &new.http),
            ("send to", &self.send, &new.send),
            ("secret", &self.secrets, &new.secrets),
        ] {
            for n in new.iter().filter(|n| !old.contains(n)) {
                lines.push(format!("+ {what} {n}"));
            }
            for o in old.iter().filter(|o| !new.contains(o)) {
                lines.push(format!("- {what} {o}"));
            }
        }
        if self.memory != new.memory {
            lines.push(format!(
                "~ memory {} -> {}",
                self.memory.as_deref().unwrap_or("(default)"),
                new.memory.as_deref().unwrap_or("(default)")
            ));
        }
        lines
    }
}

/// One line: "HTTP to https://api.github.com; send to slack:#alerts; …".
impl fmt::Display for Requests {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing (no HTTP, no other rooms, no secrets)");
        }
        let mut parts = Vec::new();
        if !self.http.is_empty() {
            parts.push(format!("HTTP to {}", self.http.join(", ")));
        }
        if !self.send.is_empty() {
            parts.push(format!("send to {}", self.send.join(", ")));
        }
        if !self.secrets.is_empty() {
            parts.push(format!("secrets {}", self.secrets.join(", ")));
        }
        if let Some(m) = &self.memory {
            parts.push(format!("memory {m}"));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_as_grants_are() {
        let r = Requests::from_annotation(
            r#"{"http":["https://api.github.com"],"send":["slack:#alerts"],"memory":"64MiB"}"#,
        )
        .unwrap();
        assert_eq!(
            r.to_string(),
            "HTTP to https://api.github.com; send to slack:#alerts; memory 64MiB"
        );
        let e = Requests::from_annotation(r#"{"http":["api.github.com"]}"#).unwrap_err();
        assert!(e.contains("scheme://host"), "{e}");
        let e = Requests::from_annotation(r#"{"htp":[]}"#).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let newer = Requests {
            http: vec!["https://api.github.com".into(), "https://x.io".into()],
            ..Requests::default()
        };
        assert_eq!(
            r.changes_to(&newer),
            [
                "+ HTTP to https://x.io",
                "- send to slack:#alerts",
                "~ memory 64MiB -> (default)"
            ]
        );
    }
}
