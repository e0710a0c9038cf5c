//! `skills.<name>.webhook`: how the bot takes requests for a skill's webhook
//! matchers, `POST /skill/<name>/<path>`: the largest body it reads, and the
//! secret a request must prove before the skill runs. A webhook has a
//! secret, or says `public: true` out loud: a `webhook:` written with
//! neither is a configuration error, and a skill (or workflow) with a
//! webhook but no such entry does not load (`runtime::load`,
//! `workflow::defs`), so no endpoint is open to anyone by default.
//!
//! ```yaml
//! skills:
//!   webhook-alert:
//!     webhook:
//!       max-body: 64KiB          # default 1MiB; a bigger body is refused (413)
//!       secret: ${ALERT_SECRET}  # an X-Hub-Signature-256 HMAC, or the token itself
//!   status-page:
//!     webhook: {public: true}    # anyone who reaches the server may call it
//!   github:
//!     webhook:
//!       secret: ${GITHUB_SECRET}
//!       delivery-header: X-GitHub-Delivery  # a delivery seen before runs once
//!       delivery-window: 1h                 # how long an id is remembered
//! ```

use super::Secret;
use crate::limits::{ByteSize, HumanDuration};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The body cap when the configuration gives none.
pub const DEFAULT_MAX_BODY: ByteSize = ByteSize(1 << 20);

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The largest request body read; a bigger one is answered 413.
    pub max_body: ByteSize,
    /// When set, a request must carry `X-Hub-Signature-256: sha256=<hex
    /// HMAC-SHA256 of the body>` (GitHub's way), or the secret itself as
    /// `X-Sandbot-Token` or `Authorization: Bearer`; otherwise 401.
    pub secret: Option<Secret>,
    /// `public: true`: no secret, on purpose.
    pub public: bool,
    /// The header naming a delivery (`X-GitHub-Delivery`, `X-Request-Id`),
    /// lowercase: a delivery seen within `delivery_window` is answered
    /// "duplicate" and does not run again.
    pub delivery_header: Option<String>,
    pub delivery_window: HumanDuration,
}

/// How long a delivery id is remembered when the configuration does not say.
pub const DEFAULT_DELIVERY_WINDOW: HumanDuration =
    HumanDuration(std::time::Duration::from_secs(3600));

/// The section as written, checked into [`WebhookSettings`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Written {
    #[serde(default = "default_max_body")]
    max_body: ByteSize,
    #[serde(default, deserialize_with = "super::secret::present")]
    secret: Option<Secret>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    delivery_header: Option<String>,
    #[serde(default)]
    delivery_window: Option<HumanDuration>,
}

impl TryFrom<Written> for WebhookSettings {
    type Error = &'static str;
    fn try_from(w: Written) -> Result<Self, Self::Error> {
        match (&w.secret, w.public) {
            (None, false) => Err(
                "no `secret`: anyone who can reach the server could call this webhook; give `secret: ${SOME_VAR}`, or write `public: true` if that is what you want",
            ),
            (Some(_), true) => Err(
                "`public: true` and a `secret`: a public webhook has no secret; keep one of the two",
            ),
            _ if w.delivery_window.is_some() && w.delivery_header.is_none() => Err(
                "`delivery-window` without `delivery-header`: name the header that carries the delivery id",
            ),
            _ if w
                .delivery_header
                .as_deref()
                .is_some_and(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()) =>
            {
                Err("`delivery-header` is not a header name")
            }
            _ => Ok(WebhookSettings {
                max_body: w.max_body,
                secret: w.secret,
                public: w.public,
                delivery_header: w.delivery_header.map(|h| h.to_ascii_lowercase()),
                delivery_window: w.delivery_window.unwrap_or(DEFAULT_DELIVERY_WINDOW),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for WebhookSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SettingsVisitor)
    }
}

/// Checks inside the mapping, so that an error carries the section's own
/// place and path (`skills.<name>.webhook`).
struct SettingsVisitor;

impl<'de> Visitor<'de> for SettingsVisitor {
    type Value = WebhookSettings;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of max-body, secret, public, delivery-header, delivery-window")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WebhookSettings, A::Error> {
        let written = Written::deserialize(de::value::MapAccessDeserializer::new(map))?;
        WebhookSettings::try_from(written).map_err(de::Error::custom)
    }
}

fn default_max_body() -> ByteSize {
    DEFAULT_MAX_BODY
}

impl WebhookSettings {
    /// Does the operator stand behind this webhook: a secret, or `public:
    /// true` written? Only the default (no `webhook:` at all) is not.
    pub fn guarded(&self) -> bool {
        self.secret.is_some() || self.public
    }
}

impl Default for WebhookSettings {
    /// No `webhook:` written: a webhook under these settings is refused at
    /// load.
    fn default() -> Self {
        WebhookSettings {
            max_body: DEFAULT_MAX_BODY,
            secret: None,
            public: false,
            delivery_header: None,
            delivery_window: DEFAULT_DELIVERY_WINDOW,
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
            "skills:\n  hook:\n    room: ops\n    webhook: {max-body: 64KiB, secret: s3cret}\n  open:\n    webhook: {public: true}\n  other:\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let hook = &c.skills["hook"];
        assert_eq!(hook.webhook.max_body.0, 64 << 10);
        assert_eq!(hook.webhook.secret.as_ref().unwrap().expose(), "s3cret");
        assert!(hook.webhook.guarded());
        assert_eq!(hook.settings["room"], "ops");
        assert!(!hook.settings.contains_key("webhook"));
        assert!(c.skills["open"].webhook.public && c.skills["open"].webhook.guarded());
        assert_eq!(c.skills["other"].webhook.max_body.0, 1 << 20);
        assert!(!c.skills["other"].webhook.guarded());
        let e = parse(
            "skills:\n  hook:\n    webhook: {max_body: 1KiB}\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `max_body`"), "{e}");
    }

    #[test]
    fn a_webhook_without_a_secret_must_say_it_is_public() {
        for (text, field, why) in [
            (
                "skills:\n  hook:\n    webhook: {max-body: 1KiB}\n",
                "skills.hook.webhook",
                "no `secret`",
            ),
            (
                "workflows:\n  release:\n    webhook:\n      max-body: 1KiB\n",
                "workflows.release.webhook",
                "write `public: true`",
            ),
            (
                "skills:\n  hook:\n    webhook: {public: true, secret: x}\n",
                "skills.hook.webhook",
                "keep one of the two",
            ),
        ] {
            let e = parse(text, Path::new("/c.yaml")).unwrap_err();
            assert!(
                e.message.starts_with(field) && e.message.contains(why),
                "{e}"
            );
            assert!(e.line.is_some(), "{e}");
        }
        // An empty secret (an unset `${VAR}`, quoted or not) is a secret:
        // every request is refused.
        for text in [
            "workflows:\n  release:\n    webhook: {secret: ''}\n",
            "workflows:\n  release:\n    webhook:\n      secret:\n",
        ] {
            let c = parse(text, Path::new("/c.yaml")).unwrap();
            let hook = &c.workflows["release"].webhook;
            assert!(hook.guarded() && hook.secret.as_ref().unwrap().is_empty());
        }
    }
}
