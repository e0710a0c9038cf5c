//! The Docker token flow against the real registry: Debian's
//! `docker-registry` (distribution 2.8) with `auth: token`, whose tokens
//! come from a token service run here on loopback. The service checks the
//! Basic credentials it is sent and signs an ES256 JWT with `ring` under a
//! self-signed P-256 certificate the `openssl` CLI makes (the same file is
//! the registry's `rootcertbundle`, and rides in the JWT's `x5c`), with the
//! claims distribution 2.8 checks (`iss`, `aud` = service, `exp`, `nbf`,
//! and `access` for the repository's actions). Driven by the real
//! `sandbot skill push|install`.

use crate::common::{BotDir, sandbot, skill_wasm};
use crate::registry::{Author, Registry};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

const SERVICE: &str = "sandbot-test-registry";
const ISSUER: &str = "sandbot-test-issuer";

/// Every request to the token service: (the scope asked, the Basic
/// `user:password` sent).
type Asked = Vec<(String, Option<String>)>;

/// A token service on loopback: `user`:`password` gets the actions its
/// scope asks for; no credentials get a token granting nothing; wrong
/// ones get 401.
struct TokenService {
    port: u16,
    asked: Arc<Mutex<Asked>>,
    /// The certificate (PEM) the registry trusts.
    cert_pem: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TokenService {
    fn start(user: &'static str, password: &'static str) -> TokenService {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.pem",
            ],
            d,
        );
        openssl(
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ec.pem",
                "-subj",
                "/CN=sandbot test tokens",
                "-days",
                "2",
                "-out",
                "cert.pem",
            ],
            d,
        );
        openssl(
            &[
                "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
            ],
            d,
        );
        openssl(
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-outform", "DER", "-out", "key.p8",
            ],
            d,
        );
        let cert = STANDARD.encode(std::fs::read(d.join("cert.der")).unwrap());
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &std::fs::read(d.join("key.p8")).unwrap(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
                let param = |k: &str| {
                    url.query_pairs()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.into_owned())
                };
                let scope = param("scope").unwrap_or_default();
                let basic = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let value = value.trim();
                    (name.eq_ignore_ascii_case("authorization") && value.starts_with("Basic "))
                        .then(|| String::from_utf8(STANDARD.decode(&value[6..]).unwrap()).unwrap())
                });
                log.lock().unwrap().push((scope.clone(), basic.clone()));
                let (status, body) = match basic.as_deref() {
                    Some(b) if b != format!("{user}:{password}") => (
                        "401 Unauthorized",
                        r#"{"errors":"bad credentials"}"#.to_owned(),
                    ),
                    _ if param("service").as_deref() != Some(SERVICE) => {
                        ("400 Bad Request", "{}".to_owned())
                    }
                    who => {
                        // repository:NAME:a,b -> that name and those actions,
                        // for the right credentials; nothing for none.
                        let mut parts = scope.splitn(3, ':');
                        let (kind, name, actions) =
                            (parts.next(), parts.next(), parts.next().unwrap_or(""));
                        let access = match (who, kind, name) {
                            (Some(_), Some("repository"), Some(name)) => serde_json::json!([{
                                "type": "repository", "name": name,
                                "actions": actions.split(',').collect::<Vec<_>>(),
                            }]),
                            _ => serde_json::json!([]),
                        };
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs();
                        let header =
                            serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [cert]});
                        let claims = serde_json::json!({
                            "iss": ISSUER, "sub": who.map(|w| w.split(':').next().unwrap().to_owned()).unwrap_or_default(),
                            "aud": SERVICE, "exp": now + 300, "nbf": now - 5, "iat": now,
                            "jti": format!("{now}-{}", log.lock().unwrap().len()),
                            "access": access,
                        });
                        let signed = format!(
                            "{}.{}",
                            URL_SAFE_NO_PAD.encode(header.to_string()),
                            URL_SAFE_NO_PAD.encode(claims.to_string())
                        );
                        let signature = key
                            .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
                            .unwrap();
                        let jwt = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature));
                        // Both spellings of the answer: `token`, and
                        // OAuth's `access_token` for the anonymous.
                        let body = if who.is_some() {
                            serde_json::json!({"token": jwt, "expires_in": 300})
                        } else {
                            serde_json::json!({"access_token": jwt})
                        };
                        ("200 OK", body.to_string())
                    }
                };
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        TokenService {
            port,
            asked,
            cert_pem: d.join("cert.pem"),
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn asked(&self) -> Asked {
        self.asked.lock().unwrap().clone()
    }
}

/// The registry, asking for tokens from `realm`, trusting `tokens`' certificate.
fn registry_with_tokens(tokens: &TokenService, realm: &str) -> Registry {
    Registry::start_with(
        tempfile::tempdir().unwrap(),
        &format!(
            "auth:\n  token: {{realm: \"{realm}\", service: {SERVICE}, issuer: {ISSUER}, rootcertbundle: {}}}\n",
            tokens.cert_pem.display()
        ),
    )
}

/// A bot naming the registry (with `settings`) and the token service.
fn bot_naming(
    registry: &Registry,
    tokens: &TokenService,
    author: &Author,
    settings: &str,
) -> BotDir {
    BotDir::new(
        &[],
        &format!(
            "trust:\n  keys: [{}]\nregistries:\n  \"{}\": {settings}\n  \"{}\": {{}}\n",
            author.public(),
            registry.host(),
            tokens.host()
        ),
    )
}

fn install(bot: &BotDir, reference: &str) -> (bool, String) {
    let config = bot.config();
    let (status, out, err) = sandbot(&[
        "skill",
        "install",
        reference,
        "--yes",
        "-c",
        config.to_str().unwrap(),
    ]);
    (status.success(), format!("{out}{err}"))
}

#[test]
fn the_token_flow_pushes_and_installs_with_credentials_the_token_service_checks() {
    let tokens = TokenService::start("bot", "tok-pw-5521");
    let registry = registry_with_tokens(&tokens, &format!("http://{}/token", tokens.host()));
    let author = Author::new();
    let bot = bot_naming(
        &registry,
        &tokens,
        &author,
        "{username: bot, password: tok-pw-5521}",
    );
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let wasm = author.skill("hello", "hello", "");
    author.push(&bot, &reference, &wasm, Some(&author.key()));
    // One token for the whole push (blobs, manifest, signature), for
    // pull,push, asked with the configured credentials.
    let push_scope = "repository:skills/hello:pull,push".to_owned();
    assert_eq!(
        tokens.asked(),
        vec![(push_scope.clone(), Some("bot:tok-pw-5521".to_owned()))]
    );

    let (ok, out) = install(&bot, &reference);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(bot.skill_path("hello")).unwrap(),
        std::fs::read(skill_wasm("hello")).unwrap()
    );
    assert!(out.contains("signature verified with"), "{out}");
    // One more token, for pull, kept for the manifest, signature and blob.
    let asked = tokens.asked();
    assert_eq!(
        asked[1..],
        [(
            "repository:skills/hello:pull".to_owned(),
            Some("bot:tok-pw-5521".to_owned())
        )]
    );
    assert!(
        !out.contains("tok-pw-5521") && !out.contains("eyJ"),
        "{out}"
    );

    // Without credentials the service grants an anonymous token nothing:
    // the registry refuses that fresh token, and that is the end of it
    // (one token asked, no loop), said with the registry's name.
    let anonymous = bot_without_credentials(&registry, &tokens, &author);
    let (ok, out) = install(&anonymous, &reference);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&registry.host())
            && out.contains("refused (401 Unauthorized) the fresh token")
            && out.contains("may not pull"),
        "{out}"
    );
    assert!(!out.contains("eyJ"), "{out}");
    let asked = tokens.asked();
    assert_eq!(
        asked[2..],
        [("repository:skills/hello:pull".to_owned(), None)],
        "{asked:?}"
    );
    assert!(!anonymous.skill_path("hello").exists());
}

fn bot_without_credentials(registry: &Registry, tokens: &TokenService, author: &Author) -> BotDir {
    bot_naming(registry, tokens, author, "{}")
}

#[test]
fn a_wrong_password_is_refused_by_the_token_service_naming_the_registry() {
    let tokens = TokenService::start("bot", "tok-pw-5521");
    let registry = registry_with_tokens(&tokens, &format!("http://{}/token", tokens.host()));
    let author = Author::new();
    let wrong = bot_naming(
        &registry,
        &tokens,
        &author,
        "{username: bot, password: wrong-pw-9182}",
    );
    let (ok, out) = install(&wrong, &format!("{}/skills/hello:1.0", registry.host()));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("registry {}", registry.host()))
            && out.contains(&format!(
                "its token realm http://{}/token refused",
                tokens.host()
            ))
            && out.contains("401 Unauthorized")
            && out.contains("wrong credentials?"),
        "{out}"
    );
    assert!(!out.contains("wrong-pw-9182"), "{out}");
    assert_eq!(tokens.asked().len(), 1, "asked once, no loop");
    assert!(!wrong.skill_path("hello").exists());
}

#[test]
fn a_token_realm_the_address_rule_forbids_is_refused_without_a_packet() {
    let tokens = TokenService::start("bot", "tok-pw-5521");
    let author = Author::new();
    // On loopback but not named under `registries:`: a listener there
    // shows that nothing connected.
    let unnamed = TcpListener::bind("127.0.0.1:0").unwrap();
    unnamed.set_nonblocking(true).unwrap();
    let realm = format!("http://{}/token", unnamed.local_addr().unwrap());
    let registry = registry_with_tokens(&tokens, &realm);
    let bot = bot_naming(
        &registry,
        &tokens,
        &author,
        "{username: bot, password: tok-pw-5521}",
    );
    let (ok, out) = install(&bot, &format!("{}/skills/hello:1.0", registry.host()));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("registry {}", registry.host()))
            && out.contains("must itself be named under `registries:`"),
        "{out}"
    );
    assert_eq!(
        unnamed.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing may reach a realm the rule refuses"
    );

    // A public address over plain HTTP: refused before any connection
    // (an address literal: no DNS either).
    let registry = registry_with_tokens(&tokens, "http://93.184.215.14/token");
    let bot = bot_naming(&registry, &tokens, &author, "{}");
    let (ok, out) = install(&bot, &format!("{}/skills/hello:1.0", registry.host()));
    assert!(!ok, "{out}");
    assert!(
        out.contains("its token realm http://93.184.215.14/token is plain HTTP to an address that is not loopback: refused"),
        "{out}"
    );
    assert!(tokens.asked().is_empty());
}
