//! Signatures in cosign's format, so `cosign verify --key` accepts what
//! `sandbot skill push --sign` makes and the bot accepts what `cosign sign
//! --key` makes: ECDSA P-256 with SHA-256 over the "simple signing" JSON
//! payload naming the manifest's digest, kept in the same repository as an
//! OCI manifest tagged `sha256-<hex>.sig` whose one layer is the payload,
//! the signature (base64 of its DER) in the layer's annotation
//! `dev.cosignproject.cosign/signature`. Keys are PEM: the public one
//! PKIX (`PUBLIC KEY`), the private one unencrypted PKCS#8 (`PRIVATE
//! KEY`); cosign's own scrypt-encrypted private keys are not read.
//! Verification needs no network beyond the registry: no transparency log.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use std::path::Path;

pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// The DER prefix of a P-256 public key's SubjectPublicKeyInfo (id-ecPublicKey,
/// prime256v1, then the BIT STRING holding the 65-byte uncompressed point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The tag a manifest's signatures are kept under.
pub fn signature_tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replacen(':', "-", 1))
}

/// The payload cosign signs for `repository` (`host/repo`) at `digest`,
/// byte for byte as cosign writes it (keys in this order, no spaces).
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    }))
    .expect("a JSON value serializes")
}

/// Which manifest a verified payload speaks for; `None` if it is not a
/// cosign image signature payload.
pub fn payload_digest(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let critical = v.get("critical")?;
    (critical.get("type")?.as_str()? == PAYLOAD_TYPE).then_some(())?;
    Some(
        critical
            .get("image")?
            .get("docker-manifest-digest")?
            .as_str()?
            .to_owned(),
    )
}

/// A private key that signs.
pub struct SigningKey(EcdsaKeyPair);

impl SigningKey {
    pub fn read(path: &Path) -> Result<SigningKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        if text.contains("ENCRYPTED SIGSTORE PRIVATE KEY") || text.contains("ENCRYPTED COSIGN") {
            bail!(
                "{}: an encrypted cosign key; sandbot reads unencrypted PKCS#8 (`sandbot skill keygen`, or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)",
                path.display()
            );
        }
        let der = pem_block(&text, "PRIVATE KEY").with_context(|| {
            format!(
                "{}: no `-----BEGIN PRIVATE KEY-----` (unencrypted PKCS#8) block",
                path.display()
            )
        })?;
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
            .map_err(|e| anyhow::anyhow!("{}: not an ECDSA P-256 key ({e})", path.display()))?;
        Ok(SigningKey(pair))
    }

    /// The DER signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let rng = ring::rand::SystemRandom::new();
        let sig = self
            .0
            .sign(&rng, payload)
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        Ok(sig.as_ref().to_vec())
    }

    pub fn public_pem(&self) -> String {
        public_pem(self.0.public_key().as_ref())
    }
}

/// A trusted public key and the file it came from.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub file: String,
    point: Vec<u8>,
}

impl PublicKey {
    pub fn read(path: &Path) -> Result<PublicKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the trusted key {}", path.display()))?;
        PublicKey::from_pem(&text, &path.display().to_string())
    }

    pub fn from_pem(text: &str, file: &str) -> Result<PublicKey> {
        let der = pem_block(text, "PUBLIC KEY")
            .with_context(|| format!("{file}: no `-----BEGIN PUBLIC KEY-----` block"))?;
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|p| p.len() == 65 && p[0] == 4)
            .with_context(|| format!("{file}: not an ECDSA P-256 public key"))?;
        Ok(PublicKey {
            file: file.to_owned(),
            point: point.to_vec(),
        })
    }

    /// Does `signature` (DER) sign `payload` with this key?
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(payload, signature)
            .is_ok()
    }
}

/// A new key pair: (PKCS#8 private key PEM, public key PEM).
pub fn generate() -> Result<(String, String)> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("generating a key failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .map_err(|_| anyhow::anyhow!("reading the new key failed"))?;
    Ok((
        pem("PRIVATE KEY", pkcs8.as_ref()),
        public_pem(pair.public_key().as_ref()),
    ))
}

fn public_pem(point: &[u8]) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(point);
    pem("PUBLIC KEY", &der)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The bytes of the first `label` block in PEM `text`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

pub fn encode_signature(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

pub fn decode_signature(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sigstore-rs's test vector (src/cosign/signature_layers.rs): a key, a
    /// payload and a signature cosign made.
    const VECTOR_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENptdY/l3nB0yqkXLBWkZWQwo6+cu
OSWS1X9vPavpiQOoTTGC0xX57OojUadxF1cdQmrsiReWg2Wn4FneJfa8xw==
-----END PUBLIC KEY-----";
    const VECTOR_SIGNATURE: &str = "MEUCIQD6q/COgzOyW0YH1Dk+CCYSt4uAhm3FDHUwvPI55zwnlwIgE0ZK58ZOWpZw8YVmBapJhBqCfdPekIknimuO0xH8Jh8=";
    const VECTOR_REPOSITORY: &str = "registry-testing.svc.lan/busybox";
    const VECTOR_DIGEST: &str =
        "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";

    #[test]
    fn a_published_cosign_signature_verifies_over_the_payload_made_here() {
        let key = PublicKey::from_pem(VECTOR_KEY, "vector").unwrap();
        let sig = decode_signature(VECTOR_SIGNATURE).unwrap();
        let made = payload(VECTOR_REPOSITORY, VECTOR_DIGEST);
        assert!(
            key.verifies(&made, &sig),
            "the payload's bytes differ from cosign's"
        );
        assert_eq!(payload_digest(&made).as_deref(), Some(VECTOR_DIGEST));
        // One byte of the payload changed, and it no longer does.
        let other = payload(VECTOR_REPOSITORY, &VECTOR_DIGEST.replace("f3c", "f3d"));
        assert!(!key.verifies(&other, &sig));
    }

    #[test]
    fn a_generated_pair_signs_and_verifies_and_another_key_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate().unwrap();
        std::fs::write(dir.path().join("k.key"), &private).unwrap();
        let signer = SigningKey::read(&dir.path().join("k.key")).unwrap();
        assert_eq!(signer.public_pem(), public);
        let key = PublicKey::from_pem(&public, "k.pub").unwrap();
        let made = payload("r.io/x", VECTOR_DIGEST);
        let sig = signer.sign(&made).unwrap();
        assert!(key.verifies(&made, &sig));
        let stranger = PublicKey::from_pem(VECTOR_KEY, "vector").unwrap();
        assert!(!stranger.verifies(&made, &sig));
        assert_eq!(
            signature_tag(VECTOR_DIGEST),
            format!("sha256-{}.sig", &VECTOR_DIGEST[7..])
        );
    }
}
