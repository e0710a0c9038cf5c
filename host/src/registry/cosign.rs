//! Signatures in cosign's format, so `cosign verify --key` accepts what
//! `sandbot skill push --sign` makes and the bot accepts what `cosign sign
//! --key` makes: ECDSA P-256 with SHA-256 over the "simple signing" JSON
//! payload naming the manifest's digest, kept in the same repository as an
//! OCI manifest tagged `sha256-<hex>.sig` whose one layer is the payload,
//! the signature (base64 of its DER) in the layer's annotation
//! `dev.cosignproject.cosign/signature`. Keys are PEM: the public one
//! PKIX (`PUBLIC KEY`), the private one unencrypted PKCS#8 (`PRIVATE
//! KEY`) or cosign's own (`ENCRYPTED SIGSTORE PRIVATE KEY`, `ENCRYPTED
//! COSIGN PRIVATE KEY`): JSON naming scrypt's parameters and salt and
//! NaCl secretbox's nonce, around the PKCS#8 key sealed with the key
//! scrypt derives from the password (`COSIGN_PASSWORD`, as cosign reads
//! it). Verification needs no network beyond the registry: no
//! transparency log.

use anyhow::{Context, Result};
use base64::Engine as _;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::Deserialize;
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
    /// Reads a PKCS#8 key, or cosign's encrypted one with the password in
    /// `COSIGN_PASSWORD`.
    pub fn read(path: &Path) -> Result<SigningKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        let file = path.display().to_string();
        if ENCRYPTED_LABELS.iter().any(|l| text.contains(l)) {
            let password = std::env::var("COSIGN_PASSWORD").map_err(|_| {
                anyhow::anyhow!(
                    "{file}: cosign's encrypted key; give its password in COSIGN_PASSWORD (as cosign reads it)"
                )
            })?;
            return SigningKey::from_encrypted_pem(&text, password.as_bytes(), &file);
        }
        let der = pem_block(&text, "PRIVATE KEY").with_context(|| {
            format!(
                "{file}: no `-----BEGIN PRIVATE KEY-----` (PKCS#8) or cosign `ENCRYPTED SIGSTORE PRIVATE KEY` block"
            )
        })?;
        SigningKey::from_pkcs8(&der, &file)
    }

    fn from_pkcs8(der: &[u8], file: &str) -> Result<SigningKey> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|e| anyhow::anyhow!("{file}: not an ECDSA P-256 key ({e})"))?;
        Ok(SigningKey(pair))
    }

    /// cosign's encrypted key in PEM `text`, opened with `password`.
    pub fn from_encrypted_pem(text: &str, password: &[u8], file: &str) -> Result<SigningKey> {
        let json = ENCRYPTED_LABELS
            .iter()
            .find_map(|l| pem_block(text, l))
            .with_context(|| format!("{file}: its encrypted key block is not base64"))?;
        let der = decrypt(&json, password).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        SigningKey::from_pkcs8(&der, file)
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

/// The PEM labels of cosign's encrypted private keys: cosign's today,
/// and the older one sigstore-rs still writes.
const ENCRYPTED_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// scrypt's work at most: 128·r·N·p bytes of memory. cosign uses N = 2¹⁵
/// or 2¹⁶ with r = 8, p = 1 (32 or 64 MiB); a file asking far more is
/// refused rather than obeyed.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;

/// cosign's (go-securesystemslib's) encrypted key: JSON.
#[derive(Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 key sealed in cosign's JSON `sealed`, with `password`.
fn decrypt(sealed: &[u8], password: &[u8]) -> Result<Vec<u8>, String> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let sealed: Sealed = serde_json::from_slice(sealed)
        .map_err(|e| format!("not cosign's encrypted key JSON: {e}"))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(format!(
            "encrypted with {} and {}; cosign's keys use scrypt and nacl/secretbox",
            sealed.kdf.name, sealed.cipher.name
        ));
    }
    let ScryptParams { n, r, p } = sealed.kdf.params;
    if !n.is_power_of_two()
        || n < 2
        || 128 * n.saturating_mul(u64::from(r)).saturating_mul(u64::from(p)) > MAX_SCRYPT_BYTES
    {
        return Err(format!(
            "scrypt parameters N={n} r={r} p={p} are not cosign's (N a power of two, at most {} MiB of work)",
            MAX_SCRYPT_BYTES >> 20
        ));
    }
    let b64 = |what: &str, text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("its {what} is not base64: {e}"))
    };
    let salt = b64("salt", &sealed.kdf.salt)?;
    let nonce = b64("nonce", &sealed.cipher.nonce)?;
    let ciphertext = b64("ciphertext", &sealed.ciphertext)?;
    if nonce.len() != 24 {
        return Err(format!("its nonce is {} bytes, not 24", nonce.len()));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, 32)
        .map_err(|e| format!("scrypt parameters: {e}"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| format!("scrypt: {e}"))?;
    let sealer = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    sealer
        .decrypt(crypto_secretbox::Nonce::from_slice(&nonce), &ciphertext[..])
        .map_err(|_| "wrong password (COSIGN_PASSWORD), or the file is damaged".to_owned())
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

    /// sigstore-rs's encrypted keys (tests/data/keys): one written by
    /// `cosign generate-key-pair` with an empty password (N = 2¹⁶), one by
    /// sigstore-rs with the password `123` (N = 2¹⁵, the older label).
    const COSIGN_GENERATED: &str = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJFY3pJR3Z0bnpFcCsxaEpudERnbGI1UnoxN3gwQVMy
YklvWGRNcDQrU1NJPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJtSVVKbG1OMzNINExvZ0dhaG5MamdmK3R4SmJwci93MCJ9LCJj
aXBoZXJ0ZXh0IjoiM3FtS2FidXRuYm1WT1IvTkZGM2NDaUErTXp1WWQ5L0VERDVI
MVlUSGhQVzZsSzAvdjVqdDZCQzlsME12NGV5am9qZkl0d3B6a2JJOXQrZGx5VXZ3
VUgvMWZjbkFZT2dEdXRLQzkvSkNiOE02SVY2VHpVaDF5c0ZFWDFzeG9xb1FzeUpL
bjM0UVlldFNlaVdDaGtmUHUyZXByQjFEV0pwekdzTGZIakxNVTkzOEdmNk1xM1A0
N0ZSd2syZzY1cFZnSGMwVWV1L1N1OUs0Zmc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
";
    const SIGSTORE_RS_ENCRYPTED: &str = "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiIrRFJrTXNRZmNUNTNKNCs1Y3VkUnlnWTUyWUMrK0RW
TmxaSTN4VnlwWFlvPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJnNTFORnBqQUxlemhvbGVWTWVjUFJUNUErMVhMcDAxeiJ9LCJj
aXBoZXJ0ZXh0Ijoib0YvN09mOGlQRDlkNlc2Mk5SWGVibEszWXZmNFFucTZORm16
Q0VyV2FTVUJOZTNXSFJiRVNYK2dJOCszejg4TDBDVXlWdm9LTHhuR0xhVnhnczVD
YUdyekcrMWxFTEI1cGRMVmZXd1VlQzlLelNab0hxZHZLaUsvUmNodVhpS0VqYmdv
ajNGd2pMcmhEYkY5a2lVWk93REpuT01kUkoxNnI3emxjRHdwT3htOXFrbWFDWDlB
VjQ4b1RXVG0rQXExOHlDZE50MDYybGdudVE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
";

    #[test]
    fn cosigns_encrypted_keys_open_with_their_password_and_sign_what_the_verifier_accepts() {
        let made = payload("r.io/x", VECTOR_DIGEST);
        for (text, password) in [(COSIGN_GENERATED, ""), (SIGSTORE_RS_ENCRYPTED, "123")] {
            let signer = SigningKey::from_encrypted_pem(text, password.as_bytes(), "cosign.key")
                .unwrap_or_else(|e| panic!("{e:#}"));
            let key = PublicKey::from_pem(&signer.public_pem(), "cosign.pub").unwrap();
            let sig = signer.sign(&made).unwrap();
            assert!(key.verifies(&made, &sig));
            let stranger = PublicKey::from_pem(VECTOR_KEY, "vector").unwrap();
            assert!(!stranger.verifies(&made, &sig));
        }
        let wrong = SigningKey::from_encrypted_pem(SIGSTORE_RS_ENCRYPTED, b"124", "cosign.key")
            .err()
            .unwrap();
        assert_eq!(
            wrong.to_string(),
            "cosign.key: wrong password (COSIGN_PASSWORD), or the file is damaged"
        );
        // A file that asks scrypt for gigabytes is refused, not obeyed.
        let greedy = base64::engine::general_purpose::STANDARD.encode(
            r#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":""},"ciphertext":""}"#,
        );
        let greedy = format!(
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{greedy}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
        );
        let e = SigningKey::from_encrypted_pem(&greedy, b"", "big.key")
            .err()
            .unwrap();
        assert!(e.to_string().contains("are not cosign's"), "{e}");
    }
}
