//! A skill as an OCI artifact, in the Wasm OCI layout (`oci-wasm`, `wkg`,
//! Spin): an image manifest whose config is `application/vnd.wasm.config.v0+json`
//! and whose one layer is the component, `application/wasm`; the skill's
//! name and requested grants ride along as manifest annotations. And the
//! cosign signature manifest that points at it.

use super::client::OCI_MANIFEST;
use super::cosign;
use super::requests::{self, Requests};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
const NAME_ANNOTATION: &str = "dev.sandbot.skill.name";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The skill's own version, as its `describe` declares it.
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": super::reference::digest_of(bytes),
        "size": bytes.len(),
    })
}

/// The Wasm OCI config for a component. `created` is fixed, so the same
/// component with the same requests is the same artifact, digest and all.
pub fn wasm_config(wasm: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [super::reference::digest_of(wasm)],
    }))
    .expect("JSON serializes")
}

/// The manifest for a component with its config blob; `version` is the
/// one the component's `describe` declares.
pub fn wasm_manifest(
    name: &str,
    version: Option<&str>,
    wasm: &[u8],
    config: &[u8],
    requests: &Requests,
) -> Vec<u8> {
    let mut layer = descriptor(WASM_LAYER, wasm);
    layer["annotations"] = serde_json::json!({TITLE_ANNOTATION: format!("{name}.wasm")});
    let mut annotations = serde_json::json!({
        NAME_ANNOTATION: name,
        requests::ANNOTATION: requests.to_annotation(),
    });
    if let Some(v) = version {
        annotations[VERSION_ANNOTATION] = v.into();
    }
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(WASM_CONFIG, config),
        "layers": [layer],
        "annotations": annotations,
    }))
    .expect("JSON serializes")
}

/// What a skill's manifest says, checked: its one `application/wasm`
/// layer, its name and its requests.
pub struct SkillManifest {
    pub layer: Descriptor,
    pub name: Option<String>,
    /// `org.opencontainers.image.version`, if the push recorded one.
    pub version: Option<String>,
    pub requests: Requests,
}

pub fn read_skill_manifest(bytes: &[u8]) -> Result<SkillManifest> {
    let m: Manifest = serde_json::from_slice(bytes).context("the manifest is not OCI JSON")?;
    if m.config.media_type != WASM_CONFIG {
        bail!(
            "it is not a Wasm component artifact: its config is `{}`, not `{WASM_CONFIG}`",
            m.config.media_type
        );
    }
    let mut wasm = m.layers.iter().filter(|l| l.media_type == WASM_LAYER);
    let (Some(layer), None) = (wasm.next(), wasm.next()) else {
        bail!("it should have exactly one `{WASM_LAYER}` layer");
    };
    let requests = match m.annotations.get(requests::ANNOTATION) {
        Some(text) => Requests::from_annotation(text).map_err(anyhow::Error::msg)?,
        None => Requests::default(),
    };
    Ok(SkillManifest {
        layer: layer.clone(),
        name: m.annotations.get(NAME_ANNOTATION).cloned(),
        // Shown to the operator: bounded and printable, or not at all.
        version: m
            .annotations
            .get(VERSION_ANNOTATION)
            .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()))
            .cloned(),
        requests,
    })
}

/// The config blob of cosign's signature image (an empty image whose one
/// layer is the payload), as cosign writes it.
pub fn signature_config(payload: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [super::reference::digest_of(payload)]},
        "config": {},
    }))
    .expect("JSON serializes")
}

pub fn signature_manifest(config: &[u8], payload: &[u8], signature_der: &[u8]) -> Vec<u8> {
    let mut layer = descriptor(cosign::PAYLOAD_MEDIA_TYPE, payload);
    layer["annotations"] = serde_json::json!({
        cosign::SIGNATURE_ANNOTATION: cosign::encode_signature(signature_der),
    });
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [layer],
    }))
    .expect("JSON serializes")
}
