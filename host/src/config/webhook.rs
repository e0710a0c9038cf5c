//! `skills.<name>.webhook`: how the bot takes requests for a skill's webhook
//! matchers, `POST /skill/<name>/<path>`: the largest body it reads, and an
//! optional secret that a request must prove before the skill runs.
//!
//! ```yaml
//! skills:
//!   webhook-alert:
//!     webhook:
//!       max-body: 64KiB          # default 1MiB; a bigger body is refused (413)
//!       secret: ${ALERT_SECRET}  # an X-Hub-Signature-256 HMAC, or the token itself
//! ```

use super::Secret;
use crate::limits::ByteSize;
use serde::Deserialize;

/// The body cap when the configuration gives none.
pub const DEFAULT_MAX_BODY: ByteSize = ByteSize(1 << 20);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebhookSettings {
    /// The largest request body read; a bigger one is answered 413.
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// When set, a request must carry `X-Hub-Signature-256: sha256=<hex
    /// HMAC-SHA256 of the body>` (GitHub's way), or the secret itself as
    /// `X-Sandbot-Token` or `Authorization: Bearer`; otherwise 401.
    #[serde(default)]
    pub secret: Option<Secret>,
}

fn default_max_body() -> ByteSize {
    DEFAULT_MAX_BODY
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_body: DEFAULT_MAX_BODY,
            secret: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn webhook_settings_sit_beside_the_skills_own() {
        let c = parse(
            "skills:\n  hook:\n    room: ops\n    webhook: {max-body: 64KiB, secret: s3cret}\n  other:\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let hook = &c.skills["hook"];
        assert_eq!(hook.webhook.max_body.0, 64 << 10);
        assert_eq!(hook.webhook.secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(hook.settings["room"], "ops");
        assert!(!hook.settings.contains_key("webhook"));
        assert_eq!(c.skills["other"].webhook.max_body.0, 1 << 20);
        let e = parse(
            "skills:\n  hook:\n    webhook: {max_body: 1KiB}\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `max_body`"), "{e}");
    }
}
