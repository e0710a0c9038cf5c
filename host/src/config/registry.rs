//! `trust:` and `registries:`: whose signatures a skill installed from an
//! OCI registry must carry, and how each registry is reached (its
//! credentials, whether unsigned skills from it are accepted).

use super::Secret;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::PathBuf;

/// `trust:`: the public keys (PEM, `-----BEGIN PUBLIC KEY-----`, as
/// `cosign generate-key-pair` and `sandbot skill keygen` write them) a
/// skill's signature must verify against.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustSettings {
    /// Relative to the configuration file.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
}

/// `registries.<host[:port]>`: one registry's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// Basic credentials, sent only to this registry.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Accept skills from this registry that carry no signature
    /// [default: false]. A signature that does not verify is refused
    /// whatever this says.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// Is `key` a registry's name as a reference spells it, `host[:port]`?
pub fn check_registry_key(key: &str) -> Result<(), String> {
    let (host, port) = match key.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (key, None),
    };
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return Err(format!("registries: `{key}`: port `{p}` is not a number"));
    }
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!(
            "registries: `{key}` is not a registry's host[:port] (as in `registry.example.com` or `127.0.0.1:5000`; no scheme, no path)"
        ));
    }
    Ok(())
}

pub type Registries = IndexMap<String, RegistrySettings>;
