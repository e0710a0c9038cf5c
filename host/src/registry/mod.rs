//! Skills from an OCI registry: `sandbot skill push` publishes a built
//! component as a Wasm OCI artifact (signed in cosign's format with
//! `--sign`), `sandbot skill install` resolves a tag to a digest, pulls,
//! checks every digest and the signature against `trust.keys`, shows what
//! the skill asks for, and on the operator's yes writes the component into
//! the skills folder, an entry granting what was asked (pinned by its
//! `sha256`) into configuration.yaml, and a line into `skills.lock`.

pub mod artifact;
pub mod auth;
pub mod client;
pub mod cosign;
pub mod install;
pub mod lock;
pub mod reference;
pub mod requests;

pub use reference::Reference;
pub use requests::Requests;

use crate::config::Config;
use anyhow::{Context, Result, bail};
use client::Registry;
use std::path::{Path, PathBuf};

/// A signature's blob is small; anything larger is not one.
const MAX_PAYLOAD: u64 = 64 << 10;

/// What `push` put where.
pub struct Pushed {
    pub reference: Reference,
    pub digest: String,
    pub signature: Option<String>,
}

/// Pushes `wasm` under `reference` (which names a tag), with `requests`
/// and the skill's own `version` (its `describe`'s), signed with `key` if
/// given.
pub async fn push(
    config: Option<&Config>,
    reference: &Reference,
    wasm: &Path,
    requests: &Requests,
    version: Option<&str>,
    key: Option<&Path>,
) -> Result<Pushed> {
    if reference.digest.is_some() {
        bail!(
            "push to a tag ({}:TAG), not to a digest",
            reference.repository_path()
        );
    }
    let signer = key.map(cosign::SigningKey::read).transpose()?;
    let file = crate::skill_file::SkillFile::read_now(wasm)
        .with_context(|| format!("reading {}", wasm.display()))?;
    let bytes = file.bytes.to_vec();
    if !bytes.starts_with(b"\0asm") || wasmparser::Parser::is_core_wasm(&bytes) {
        bail!("{} is not a WebAssembly component", wasm.display());
    }
    let name = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| reference.skill_name().to_owned());
    let registry = Registry::connect(reference, config.map(|c| &c.registries)).await?;
    let repo = &reference.repository;
    let config_blob = artifact::wasm_config(&bytes);
    let manifest = artifact::wasm_manifest(&name, version, &bytes, &config_blob, requests);
    registry.push_blob(repo, bytes).await?;
    registry.push_blob(repo, config_blob).await?;
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let digest = registry.push_manifest(repo, tag, manifest).await?;
    let signature = match signer {
        Some(signer) => {
            let payload = cosign::payload(&reference.repository_path(), &digest);
            let sig = signer.sign(&payload)?;
            let config = artifact::signature_config(&payload);
            let manifest = artifact::signature_manifest(&config, &payload, &sig);
            registry.push_blob(repo, payload).await?;
            registry.push_blob(repo, config).await?;
            let tag = cosign::signature_tag(&digest);
            registry.push_manifest(repo, &tag, manifest).await?;
            Some(tag)
        }
        None => None,
    };
    Ok(Pushed {
        reference: reference.clone(),
        digest,
        signature,
    })
}

/// A recorded version, or what is said when none was.
pub fn shown_version(version: Option<&str>) -> &str {
    version.unwrap_or("(no version)")
}

/// "version 0.1.0 -> 0.2.0", or "version 0.1.0 (unchanged)".
pub fn version_change(old: Option<&str>, new: Option<&str>) -> String {
    if old == new {
        format!("version {} (unchanged)", shown_version(new))
    } else {
        format!("version {} -> {}", shown_version(old), shown_version(new))
    }
}

fn settings<'a>(
    config: Option<&'a Config>,
    reference: &Reference,
) -> Option<&'a crate::config::RegistrySettings> {
    config.and_then(|c| c.registries.get(&reference.registry))
}

/// A skill pulled and checked, not yet installed.
pub struct Fetched {
    /// As asked for, and pinned: `host/repo:tag@sha256:…`.
    pub reference: Reference,
    pub digest: String,
    pub name: String,
    /// The version its push recorded (the component's own), if any.
    pub version: Option<String>,
    pub wasm: Vec<u8>,
    pub requests: Requests,
    /// The trusted key file that verified it; `None`: unsigned, accepted
    /// by `allow-unsigned`.
    pub signed_by: Option<String>,
}

impl Fetched {
    /// Its version for a person to read: `0.2.0`, or `(no version)`.
    pub fn version_shown(&self) -> &str {
        shown_version(self.version.as_deref())
    }

    /// The component's SHA-256, as a `sha256:` pin in configuration wants it.
    pub fn sha256(&self) -> String {
        reference::hex_sha256(&self.wasm)
    }
}

/// Resolves `reference` to a digest, pulls the manifest and the component
/// (each checked against its digest) and checks its signature.
pub async fn fetch(config: &Config, reference: &Reference) -> Result<Fetched> {
    let registry = Registry::connect(reference, Some(&config.registries)).await?;
    let repo = &reference.repository;
    let (manifest, digest) = registry
        .manifest(repo, reference.target())
        .await?
        .with_context(|| format!("{reference}: no such skill in the registry"))?;
    let skill = artifact::read_skill_manifest(&manifest)
        .with_context(|| format!("{reference}@{digest}"))?;
    let signed_by = check_signature(config, &registry, reference, &digest).await?;
    let wasm = registry
        .blob(
            repo,
            &skill.layer.digest,
            crate::skill_file::MAX_COMPONENT_BYTES,
        )
        .await?;
    if !wasm.starts_with(b"\0asm") || wasmparser::Parser::is_core_wasm(&wasm) {
        bail!("{reference}: its layer is not a WebAssembly component");
    }
    let name = skill
        .name
        .filter(|n| crate::names::check(n).is_ok())
        .unwrap_or_else(|| reference.skill_name().to_owned());
    Ok(Fetched {
        reference: Reference {
            digest: Some(digest.clone()),
            ..reference.clone()
        },
        digest,
        name,
        version: skill.version,
        wasm,
        requests: skill.requests,
        signed_by,
    })
}

/// `Ok(Some(key file))` when a trusted key verifies a signature of
/// `digest`; `Ok(None)` when there is none and the registry allows
/// unsigned skills; an error otherwise, saying why.
async fn check_signature(
    config: &Config,
    registry: &Registry,
    reference: &Reference,
    digest: &str,
) -> Result<Option<String>> {
    let keys = trusted_keys(config)?;
    let allow_unsigned = settings(Some(config), reference).is_some_and(|s| s.allow_unsigned);
    let repo = &reference.repository;
    let tag = cosign::signature_tag(digest);
    let Some((manifest, _)) = registry.manifest(repo, &tag).await? else {
        if allow_unsigned {
            return Ok(None);
        }
        bail!(
            "{reference}: unsigned (no {tag} in the registry): refused; sign it with `sandbot skill push --sign KEY`, or accept unsigned skills from this registry with `registries: {{{}: {{allow-unsigned: true}}}}`",
            reference.registry
        );
    };
    let manifest: artifact::Manifest =
        serde_json::from_slice(&manifest).context("the signature manifest is not OCI JSON")?;
    if keys.is_empty() {
        bail!(
            "{reference}: signed, but the configuration trusts no key (`trust: {{keys: [FILE.pub]}}`): refused"
        );
    }
    for layer in &manifest.layers {
        if layer.media_type != cosign::PAYLOAD_MEDIA_TYPE {
            continue;
        }
        let Some(sig) = layer
            .annotations
            .get(cosign::SIGNATURE_ANNOTATION)
            .and_then(|s| cosign::decode_signature(s))
        else {
            continue;
        };
        let payload = registry.blob(repo, &layer.digest, MAX_PAYLOAD).await?;
        for key in &keys {
            if key.verifies(&payload, &sig) {
                // A valid signature of some other artifact proves nothing.
                if cosign::payload_digest(&payload).as_deref() == Some(digest) {
                    return Ok(Some(key.file.clone()));
                }
            }
        }
    }
    bail!(
        "{reference}@{digest}: its signature does not verify with any trusted key ({}): refused",
        keys.iter()
            .map(|k| k.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn trusted_keys(config: &Config) -> Result<Vec<cosign::PublicKey>> {
    config
        .trust
        .keys
        .iter()
        .map(|p| cosign::PublicKey::read(p).context("trust.keys"))
        .collect()
}

/// Where the lock file of the configuration at `config` is.
pub fn lock_path(config: &Config) -> PathBuf {
    config.base_dir().join("skills.lock")
}

/// Writes `bytes` beside `path`, then renames the copy over it: a reader
/// (the bot watching its folder) sees the old file or the new, never half.
/// The new file keeps the old one's permissions.
pub fn write_over(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
