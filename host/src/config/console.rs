//! `console:`: the operator's console and its API under `/api/v1`. Off
//! unless this section is there; on an address other than loopback it
//! needs HTTPS (`web.cert`, `web.key`) or an explicit `insecure-http: true`.
//!
//! ```yaml
//! console:
//!   session-ttl: 12h          # a login lasts this long
//!   # insecure-http: true     # only behind a proxy that speaks TLS
//! ```

use crate::limits::HumanDuration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleSettings {
    /// Serve the console over plain HTTP on an address other than
    /// loopback (its cookies and passwords then cross the network as
    /// they are): for a proxy in front that speaks TLS.
    #[serde(default)]
    pub insecure_http: bool,
    /// How long a login lasts.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: HumanDuration,
}

fn default_session_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(12 * 3600))
}
