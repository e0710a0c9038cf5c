//! Skills from an OCI registry, against a real one: Debian's
//! `docker-registry` (CNCF distribution 2.8, installed by
//! `host/tests/servers.sh`) on a free loopback port with its own storage
//! folder, driven by the real `sandbot skill push|install|keygen`: install
//! by tag pins the digest, by digest, a tampered blob, a wrong signature
//! and an unsigned artifact refused, two bots installing from one lock
//! file get the same bytes, and the installed skill answers. `openssl`
//! checks the signatures independently (cosign itself is not packaged).

use crate::common::{BotDir, ServerProcess, free_port, http, sandbot, skill_wasm, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `docker-registry serve` on loopback, with its storage in a temp dir.
pub(crate) struct Registry {
    port: u16,
    dir: tempfile::TempDir,
    _server: ServerProcess,
}

impl Registry {
    pub(crate) fn start() -> Registry {
        Registry::start_with(tempfile::tempdir().unwrap(), "")
    }

    /// With HTTP Basic credentials: `user` with `password` (bcrypt, by the
    /// test servers' venv's Python, which Synapse brings bcrypt into).
    fn with_credentials(user: &str, password: &str) -> Registry {
        let target = option_env!("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let out = Command::new(target.join("test-servers/venv/bin/python"))
            .args([
                "-c",
                "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=4)).decode())",
                password,
            ])
            .output()
            .expect("the test servers' venv (host/tests/servers.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("htpasswd");
        std::fs::write(
            &file,
            format!("{user}:{}", String::from_utf8_lossy(&out.stdout).trim()),
        )
        .unwrap();
        Registry::start_with(
            dir,
            &format!(
                "auth:\n  htpasswd: {{realm: test, path: {}}}\n",
                file.display()
            ),
        )
    }

    /// In `dir`, with `more` at the end of its configuration.
    pub(crate) fn start_with(dir: tempfile::TempDir, more: &str) -> Registry {
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:{port}}}\nlog: {{level: warn}}\n{more}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut server = ServerProcess::default();
        server.start(
            Command::new("docker-registry").arg("serve").arg(&config),
            "docker-registry (host/tests/servers.sh installs it)",
        );
        wait_for_port(port);
        let expected = if more.is_empty() { 200 } else { 401 };
        assert_eq!(http(port, "GET", "/v2/", &[], "").0, expected);
        Registry {
            port,
            dir,
            _server: server,
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file the registry keeps blob `digest` in.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// GET of a manifest, as JSON.
    fn manifest(&self, repo: &str, target: &str) -> serde_json::Value {
        let (status, body) = http(
            self.port,
            "GET",
            &format!("/v2/{repo}/manifests/{target}"),
            &[("accept", "application/vnd.oci.image.manifest.v1+json")],
            "",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// A folder holding built skill `built` as `NAME.wasm` and, if given, its
/// `requests.yaml`; and a signing key pair `ops.key`/`ops.pub`.
pub(crate) struct Author {
    dir: tempfile::TempDir,
}

impl Author {
    pub(crate) fn new() -> Author {
        let dir = tempfile::tempdir().unwrap();
        let (status, out, err) =
            sandbot(&["skill", "keygen", dir.path().join("ops").to_str().unwrap()]);
        assert!(status.success(), "{out}{err}");
        Author { dir }
    }

    pub(crate) fn key(&self) -> String {
        self.path("ops.key")
    }

    pub(crate) fn public(&self) -> String {
        self.path("ops.pub")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Writes built skill `built` as `<as_name>.wasm` with `requests`.
    pub(crate) fn skill(&self, built: &str, as_name: &str, requests: &str) -> String {
        let sub = self.dir.path().join(format!("{as_name}-{built}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(skill_wasm(built), sub.join(format!("{as_name}.wasm"))).unwrap();
        if !requests.is_empty() {
            std::fs::write(sub.join("requests.yaml"), requests).unwrap();
        }
        sub.join(format!("{as_name}.wasm"))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// `sandbot skill push`; the pushed digest.
    pub(crate) fn push(
        &self,
        bot: &BotDir,
        reference: &str,
        wasm: &str,
        sign: Option<&str>,
    ) -> String {
        let config = bot.config();
        let mut args = vec![
            "skill",
            "push",
            reference,
            wasm,
            "-c",
            config.to_str().unwrap(),
        ];
        if let Some(key) = sign {
            args.extend(["--sign", key]);
        }
        let (status, out, err) = sandbot(&args);
        assert!(status.success(), "push failed: {out}{err}");
        let line = out.lines().next().unwrap();
        let digest = line.split_once('@').unwrap().1;
        digest.split_whitespace().next().unwrap().to_owned()
    }
}

fn install(bot: &BotDir, args: &[&str]) -> (bool, String) {
    let config = bot.config();
    let mut all = vec!["skill", "install"];
    all.extend(args);
    all.extend(["-c", config.to_str().unwrap()]);
    let (status, out, err) = sandbot(&all);
    (status.success(), format!("{out}{err}"))
}

fn sha256_hex(path: impl AsRef<Path>) -> String {
    sandbot::registry::reference::hex_sha256(&std::fs::read(path).unwrap())
}

/// A bot trusting `ops.pub` and naming the loopback registry.
fn bot_for(registry: &Registry, author: &Author, registry_settings: &str) -> BotDir {
    BotDir::new(
        &[],
        &format!(
            "# the operator's own words\ntrust:\n  keys: [{}]\nregistries:\n  \"{}\": {registry_settings}\nsecrets:\n  gh: x\n",
            author.public(),
            registry.host()
        ),
    )
}

#[test]
fn push_signed_then_install_by_tag_pins_the_digest_grants_what_was_asked_and_the_skill_answers() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill(
        "hello",
        "hello",
        "http: [\"https://api.github.com\"]\nsend: [\"shell:#alerts\"]\nsecrets: [gh]\nmemory: 32MiB\n",
    );
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let digest = author.push(&bot, &reference, &wasm, Some(&author.key()));
    // The version hello's `describe` declares, in the standard annotation.
    let manifest = registry.manifest("skills/hello", &digest);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"], "0.1.0",
        "{manifest}"
    );
    let before = std::fs::read_to_string(bot.config()).unwrap();

    // Not a terminal and no --yes: it shows what the skill asks for and
    // installs nothing.
    let (ok, out) = install(&bot, &[&reference]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("hello 0.1.0 asks for: HTTP to https://api.github.com; send to shell:#alerts; secrets gh; memory 32MiB"),
        "{out}"
    );
    assert!(out.contains("give --yes"), "{out}");
    assert!(
        out.contains(&format!("signature verified with {}", author.public())),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(bot.config()).unwrap(), before);
    assert!(!bot.skill_path("hello").exists());

    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    let sha = sha256_hex(skill_wasm("hello"));
    assert_eq!(sha256_hex(bot.skill_path("hello")), sha);
    let after = std::fs::read_to_string(bot.config()).unwrap();
    assert!(
        after.starts_with(&before),
        "the operator's text stays as it was:\n{after}"
    );
    assert!(after.contains(&format!("    sha256: {sha}\n")), "{after}");
    assert!(after.contains(&format!("@{digest}")), "{after}");
    assert!(
        after.contains("      http: [\"https://api.github.com\"]\n"),
        "{after}"
    );
    assert!(
        after.contains("      send: [\"shell:#alerts\"]\n"),
        "{after}"
    );
    assert!(after.contains("      secrets: [\"gh\"]\n"), "{after}");
    assert!(
        after.contains("    limits: {memory: \"32MiB\"}\n"),
        "{after}"
    );
    let config = sandbot::config::load(&bot.config()).unwrap();
    let entry = &config.skills["hello"];
    assert_eq!(entry.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(entry.allow.http[0].to_string(), "https://api.github.com");
    let lock = sandbot::registry::lock::Lock::read(&bot.path().join("skills.lock")).unwrap();
    assert_eq!(lock.skills["hello"].reference, reference);
    assert_eq!(
        lock.skills["hello"].digest, digest,
        "the tag, pinned by digest"
    );
    assert_eq!(lock.skills["hello"].sha256, sha);
    assert_eq!(lock.skills["hello"].version.as_deref(), Some("0.1.0"));

    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
}

#[test]
fn install_by_digest_and_a_repeat_is_a_no_op() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill("hello", "hello", "");
    let digest = author.push(
        &bot,
        &format!("{}/skills/hello:2", registry.host()),
        &wasm,
        Some(&author.key()),
    );
    let by_digest = format!("{}/skills/hello@{digest}", registry.host());
    let (ok, out) = install(&bot, &[&by_digest, "--yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("hello 0.1.0 asks for: nothing"), "{out}");
    let lock = std::fs::read_to_string(bot.path().join("skills.lock")).unwrap();
    assert!(lock.contains(&format!("reference: {by_digest}")), "{lock}");
    let config = std::fs::read_to_string(bot.config()).unwrap();
    let (ok, out) = install(&bot, &[&by_digest, "--yes"]);
    assert!(ok && out.contains("is installed already"), "{out}");
    assert_eq!(std::fs::read_to_string(bot.config()).unwrap(), config);
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_is_written() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill("hello", "hello", "");
    let reference = format!("{}/skills/hello:1", registry.host());
    let digest = author.push(&bot, &reference, &wasm, Some(&author.key()));
    let layer = registry.manifest("skills/hello", &digest)["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another component of the same length in the registry's own file:
    // what a compromised storage would serve.
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let before = std::fs::read_to_string(bot.config()).unwrap();
    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("blob {layer} of skills/hello hashes to")),
        "{out}"
    );
    assert!(out.contains("tampered with or damaged; refused"), "{out}");
    assert_eq!(std::fs::read_to_string(bot.config()).unwrap(), before);
    assert!(!bot.skill_path("hello").exists());
    assert!(!bot.path().join("skills.lock").exists());
}

#[test]
fn a_signature_by_an_untrusted_key_is_refused_even_with_allow_unsigned() {
    let registry = Registry::start();
    let author = Author::new();
    let stranger = Author::new();
    let bot = bot_for(&registry, &author, "{allow-unsigned: true}");
    let wasm = stranger.skill("hello", "hello", "");
    let reference = format!("{}/skills/hello:1", registry.host());
    stranger.push(&bot, &reference, &wasm, Some(&stranger.key()));
    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "its signature does not verify with any trusted key ({}): refused",
            author.public()
        )),
        "{out}"
    );
    assert!(!bot.skill_path("hello").exists());
}

#[test]
fn an_unsigned_skill_is_refused_by_default_and_taken_with_allow_unsigned() {
    let registry = Registry::start();
    let author = Author::new();
    let strict = bot_for(&registry, &author, "{}");
    let wasm = author.skill("hello", "hello", "");
    let reference = format!("{}/skills/hello:1", registry.host());
    author.push(&strict, &reference, &wasm, None);
    let (ok, out) = install(&strict, &[&reference, "--yes"]);
    assert!(!ok, "{out}");
    assert!(out.contains("unsigned (no sha256-"), "{out}");
    assert!(out.contains("allow-unsigned: true"), "{out}");
    assert!(!strict.skill_path("hello").exists());

    let lenient = bot_for(&registry, &author, "{allow-unsigned: true}");
    let (ok, out) = install(&lenient, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    assert!(out.contains("UNSIGNED (accepted"), "{out}");
    let config = std::fs::read_to_string(lenient.config()).unwrap();
    assert!(
        config.contains("unsigned, accepted by allow-unsigned"),
        "{config}"
    );
}

#[test]
fn a_registry_at_an_internal_address_must_be_named_under_registries() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = BotDir::new(&[], "");
    let wasm = author.skill("hello", "hello", "");
    let (status, out, err) = sandbot(&[
        "skill",
        "push",
        &format!("{}/skills/hello:1", registry.host()),
        &wasm,
        "-c",
        bot.config().to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        err.contains("must be named under `registries:`"),
        "{out}{err}"
    );
    assert!(err.contains("an internal address"), "{out}{err}");
}

#[test]
fn a_requested_secret_the_configuration_lacks_is_refused_before_anything_is_written() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill("hello", "hello", "secrets: [deploy-token]\n");
    let reference = format!("{}/skills/hello:1", registry.host());
    author.push(&bot, &reference, &wasm, Some(&author.key()));
    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(!ok, "{out}");
    assert!(out.contains("would not load"), "{out}");
    assert!(
        out.contains("`deploy-token` is not defined under the top-level `secrets:`"),
        "{out}"
    );
    assert!(!bot.skill_path("hello").exists());
}

#[test]
fn two_bots_installing_from_one_lock_file_get_the_same_bytes_after_the_tag_moved() {
    let registry = Registry::start();
    let author = Author::new();
    let first = bot_for(&registry, &author, "{}");
    let reference = format!("{}/skills/hello:stable", registry.host());
    let v1 = author.skill("hello", "hello", "");
    author.push(&first, &reference, &v1, Some(&author.key()));
    let (ok, out) = install(&first, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    // The tag moves on to other bytes.
    let v2 = author.skill("loudnoises", "hello", "");
    author.push(&first, &reference, &v2, Some(&author.key()));

    let second = bot_for(&registry, &author, "{}");
    let lock = first.path().join("skills.lock");
    let (ok, out) = install(
        &second,
        &["--locked", "--lock", lock.to_str().unwrap(), "--yes"],
    );
    assert!(ok, "{out}");
    let one = sha256_hex(first.skill_path("hello"));
    assert_eq!(sha256_hex(second.skill_path("hello")), one);
    assert_eq!(one, sha256_hex(skill_wasm("hello")));
    assert_ne!(one, sha256_hex(skill_wasm("loudnoises")));
    assert_eq!(
        std::fs::read_to_string(second.path().join("skills.lock")).unwrap(),
        std::fs::read_to_string(&lock).unwrap()
    );
    // Without the lock, the tag now gives the other bytes.
    let third = bot_for(&registry, &author, "{}");
    let (ok, out) = install(&third, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    assert_eq!(
        sha256_hex(third.skill_path("hello")),
        sha256_hex(skill_wasm("loudnoises"))
    );
}

/// What `skill push --sign` leaves in the registry is cosign's format,
/// checked by a verifier that is not ours (`openssl dgst -verify`, the
/// check cosign's own docs use), and a key `openssl genpkey` made signs
/// for `sandbot`.
#[test]
fn openssl_verifies_the_cosign_signature_push_made_and_an_openssl_key_signs() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill("hello", "hello", "");
    let digest = author.push(
        &bot,
        &format!("{}/skills/hello:1", registry.host()),
        &wasm,
        Some(&author.key()),
    );
    let tag = format!("sha256-{}.sig", &digest[7..]);
    let sig_manifest = registry.manifest("skills/hello", &tag);
    let layer = &sig_manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = std::fs::read(registry.blob_file(layer["digest"].as_str().unwrap())).unwrap();
    let payload_json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload_json,
        serde_json::json!({"critical": {"identity": {"docker-reference": format!("{}/skills/hello", registry.host())},
            "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"}, "optional": null})
    );
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    std::fs::write(author.path("payload"), &payload).unwrap();
    std::fs::write(author.path("payload.sig"), &signature).unwrap();
    let verify = |public: &str| {
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", public, "-signature"])
            .arg(author.path("payload.sig"))
            .arg(author.path("payload"))
            .output()
            .unwrap()
    };
    let out = verify(&author.public());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
    let stranger = Author::new();
    assert!(!verify(&stranger.public()).status.success());

    // A key from openssl signs a push the bot then accepts.
    let key = author.path("openssl.key");
    let public = author.path("openssl.pub");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
        vec!["pkey", "-in", &key, "-pubout", "-out", &public],
    ] {
        assert!(
            Command::new("openssl")
                .args(&args)
                .status()
                .unwrap()
                .success()
        );
    }
    let other = BotDir::new(
        &[],
        &format!(
            "trust:\n  keys: [{public}]\nregistries:\n  \"{}\": {{}}\n",
            registry.host()
        ),
    );
    let reference = format!("{}/skills/hi:1", registry.host());
    author.push(&other, &reference, &wasm, Some(&key));
    let (ok, out) = install(&other, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("signature verified with {public}")),
        "{out}"
    );
}

#[test]
fn an_update_shows_the_grants_added_and_removed_before_it_switches() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let reference = format!("{}/skills/hello:stable", registry.host());
    let v1 = author.skill(
        "hello",
        "hello",
        "http: [\"https://a.example\"]\nsend: [\"shell:#ops\"]\n",
    );
    let old = author.push(&bot, &reference, &v1, Some(&author.key()));
    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    // hello-v2 declares version 0.2.0 (hello: 0.1.0).
    let v2 = author.skill(
        "hello-v2",
        "hello",
        "http: [\"https://a.example\", \"https://b.example\"]\nmemory: 16MiB\n",
    );
    let new = author.push(&bot, &reference, &v2, Some(&author.key()));
    let config = bot.config();
    let update = |yes: bool| {
        let mut args = vec!["skill", "update", "hello", "-c", config.to_str().unwrap()];
        if yes {
            args.push("--yes");
        }
        let (status, out, err) = sandbot(&args);
        (status.success(), format!("{out}{err}"))
    };
    let before = std::fs::read_to_string(&config).unwrap();
    let (ok, out) = update(false);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("{old} -> {new}")), "{out}");
    assert!(out.contains("  version 0.1.0 -> 0.2.0\n"), "{out}");
    assert!(out.contains("+ HTTP to https://b.example"), "{out}");
    assert!(out.contains("- send to shell:#ops"), "{out}");
    assert!(out.contains("~ memory (default) -> 16MiB"), "{out}");
    assert!(
        !out.contains("HTTP to https://a.example\n"),
        "unchanged grants are not listed: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "nothing switched before the yes"
    );
    assert_eq!(
        sha256_hex(bot.skill_path("hello")),
        sha256_hex(skill_wasm("hello"))
    );

    let (ok, out) = update(true);
    assert!(ok, "{out}");
    assert_eq!(
        sha256_hex(bot.skill_path("hello")),
        sha256_hex(skill_wasm("hello-v2"))
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(
        after.contains("      http: [\"https://a.example\", \"https://b.example\"]\n"),
        "{after}"
    );
    assert!(!after.contains("shell:#ops"), "{after}");
    assert!(
        after.contains(&format!(
            "    sha256: {}\n",
            sha256_hex(skill_wasm("hello-v2"))
        )),
        "{after}"
    );
    let loaded = sandbot::config::load(&config).unwrap();
    assert_eq!(loaded.skills["hello"].allow.http.len(), 2);
    let lock = sandbot::registry::lock::Lock::read(&bot.path().join("skills.lock")).unwrap();
    assert_eq!(lock.skills["hello"].digest, new);
    let (ok, out) = update(false);
    assert!(ok && out.contains("is up to date"), "{out}");
}

#[test]
fn in_chat_an_admin_sees_what_a_skill_asks_for_and_installs_it_with_yes_n() {
    let registry = Registry::start();
    let author = Author::new();
    let bot = bot_for(&registry, &author, "{}");
    let wasm = author.skill(
        "hello",
        "hello",
        "http: [\"https://api.github.com\"]\nsend: [\"shell:#alerts\"]\n",
    );
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let digest = author.push(&bot, &reference, &wasm, Some(&author.key()));
    let mut run = bot.start();
    let asked = run.ask(&format!("skill install {reference}"));
    assert_eq!(
        asked,
        format!(
            "hello 0.1.0 ({}/skills/hello@{}, signed) asks for: HTTP to https://api.github.com; send to shell:#alerts. Say `yes 1` to install.",
            registry.host(),
            &digest[..19]
        )
    );
    assert!(!bot.skill_path("hello").exists(), "nothing before the yes");
    assert_eq!(run.ask("yes 2"), "⚠ no install of yours waits for `yes 2`");
    let mut done = run.ask("yes 1");
    // The reload's report goes on over more lines.
    while let Some(line) = run.try_answer(std::time::Duration::from_millis(500)) {
        done.push('\n');
        done.push_str(&line);
    }
    assert!(done.starts_with("installed hello (sha256 "), "{done}");
    assert!(
        done.contains("configuration: skills.hello: added"),
        "{done}"
    );
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(
        run.ask("yes 1"),
        "⚠ no install of yours waits for `yes 1`",
        "a yes is used once"
    );
    let config = sandbot::config::load(&bot.config()).unwrap();
    assert_eq!(
        config.skills["hello"].allow.send[0].to_string(),
        "shell:#alerts"
    );
    let lock = sandbot::registry::lock::Lock::read(&bot.path().join("skills.lock")).unwrap();
    assert_eq!(lock.skills["hello"].digest, digest);

    // An update says what changed, and switches on its own yes.
    let v2 = author.skill(
        "hello-v2",
        "hello",
        "http: [\"https://api.github.com\", \"https://b.example\"]\n",
    );
    let new = author.push(&bot, &reference, &v2, Some(&author.key()));
    let asked = run.ask("skill update hello");
    assert_eq!(
        asked,
        format!(
            "hello: version 0.1.0 -> 0.2.0; {} -> {}; grants: + HTTP to https://b.example; - send to shell:#alerts. Say `yes 2` to update.",
            &digest[..19],
            &new[..19]
        )
    );
    assert_eq!(
        sha256_hex(bot.skill_path("hello")),
        sha256_hex(skill_wasm("hello"))
    );
    let done = run.ask("yes 2");
    while run
        .try_answer(std::time::Duration::from_millis(500))
        .is_some()
    {}
    assert!(done.starts_with("updated hello (sha256 "), "{done}");
    assert_eq!(
        sha256_hex(bot.skill_path("hello")),
        sha256_hex(skill_wasm("hello-v2"))
    );
    assert_eq!(
        run.ask("hello"),
        "Good day, alice",
        "the new version answers"
    );
    let config = sandbot::config::load(&bot.config()).unwrap();
    assert_eq!(config.skills["hello"].allow.http.len(), 2);
    assert!(config.skills["hello"].allow.send.is_empty());
    assert_eq!(
        run.ask("skill update hello"),
        format!("hello is up to date ({reference}).")
    );

    // An unsigned one is refused in chat as on the command line.
    author.push(
        &bot,
        &format!("{}/skills/other:1", registry.host()),
        &author.skill("hello", "other", ""),
        None,
    );
    let refused = run.ask(&format!("skill install {}/skills/other:1", registry.host()));
    assert!(
        refused.starts_with("⚠ not installed: ") && refused.contains("unsigned"),
        "{refused}"
    );
}

#[test]
fn registry_credentials_come_from_the_configuration_and_never_reach_the_output() {
    let registry = Registry::with_credentials("bot", "right-pw-4821");
    let author = Author::new();
    let settings = |password: &str| {
        format!("{{username: bot, password: \"${{REG_PW:-{password}}}\", allow-unsigned: true}}")
    };
    let pusher = bot_for(&registry, &author, &settings("right-pw-4821"));
    let reference = format!("{}/skills/hello:1", registry.host());
    let wasm = author.skill("hello", "hello", "");
    // Without credentials the registry says no, and the error says where
    // they go.
    let anonymous = bot_for(&registry, &author, "{allow-unsigned: true}");
    let (ok, out) = install(&anonymous, &[&reference, "--yes"]);
    assert!(
        !ok && out.contains("401") && out.contains("registries.<host>.username"),
        "{out}"
    );
    author.push(&pusher, &reference, &wasm, None);
    let (ok, out) = install(&pusher, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    let wrong = bot_for(&registry, &author, &settings("wrong-pw-7733"));
    let (ok, out) = install(&wrong, &[&reference, "--yes"]);
    assert!(!ok && out.contains("401 Unauthorized"), "{out}");
    assert!(!out.contains("wrong-pw-7733"), "{out}");
    assert!(!wrong.skill_path("hello").exists());
}

#[test]
fn from_the_console_an_admin_installs_with_the_same_two_commands() {
    use crate::console::{admin, log_in, request};
    let registry = Registry::start();
    let author = Author::new();
    let port = free_port();
    let bot = BotDir::new(&[], "");
    bot.write_config(&format!(
        "admins: ['console:carol']\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\ntrust:\n  keys: [{}]\nregistries:\n  \"{}\": {{}}\n",
        author.public(),
        registry.host()
    ));
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let wasm = author.skill("hello", "hello", "send: [\"shell:#alerts\"]\n");
    author.push(&bot, &reference, &wasm, Some(&author.key()));
    for name in ["carol", "dave"] {
        assert!(
            admin(
                &bot,
                &["add", name, "--role", "operator"],
                "a long password"
            )
            .0
        );
    }
    let _running = bot.start();
    wait_for_port(port);
    let say = |who: &crate::console::Login, text: &str| {
        let headers = [
            ("cookie", who.cookie.as_str()),
            ("x-csrf-token", who.csrf.as_str()),
        ];
        let body = serde_json::json!({ "text": text }).to_string();
        let (status, _, body) = request(port, "POST", "/api/v1/commands", &headers, &body);
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        answer["answers"][0].as_str().unwrap_or_default().to_owned()
    };
    let dave = log_in(port, "dave", "a long password").unwrap();
    let refused = say(&dave, &format!("skill install {reference}"));
    assert_eq!(refused, "Sorry dave, only admins may install skills.");
    let carol = log_in(port, "carol", "a long password").unwrap();
    let asked = say(&carol, &format!("skill install {reference}"));
    assert!(
        asked.ends_with("asks for: send to shell:#alerts. Say `yes 1` to install."),
        "{asked}"
    );
    assert_eq!(
        say(&dave, "yes 1"),
        "Sorry dave, only admins may confirm installs."
    );
    let done = say(&carol, "yes 1");
    assert!(done.starts_with("installed hello (sha256 "), "{done}");
    assert_eq!(say(&carol, "hello"), "Hello carol");
}

#[test]
fn the_consoles_install_section_stages_then_approves_through_chats_yes_and_checks_session_role_and_csrf()
 {
    use crate::console::{Login, admin, log_in, request};
    let registry = Registry::start();
    let author = Author::new();
    let port = free_port();
    let bot = BotDir::new(&[], "");
    bot.write_config(&format!(
        "admins: ['console:carol']\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\ntrust:\n  keys: [{}]\nregistries:\n  \"{}\": {{}}\n",
        author.public(),
        registry.host()
    ));
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let wasm = author.skill("hello", "hello", "send: [\"shell:#alerts\"]\n");
    let digest = author.push(&bot, &reference, &wasm, Some(&author.key()));
    for (name, role) in [("carol", "admin"), ("erin", "admin"), ("dave", "operator")] {
        assert!(admin(&bot, &["add", name, "--role", role], "a long password").0);
    }
    let _running = bot.start();
    wait_for_port(port);
    let post = |who: Option<&Login>, csrf: bool, path: &str, body: &str| {
        let mut headers = Vec::new();
        if let Some(who) = who {
            headers.push(("cookie", who.cookie.as_str()));
            if csrf {
                headers.push(("x-csrf-token", who.csrf.as_str()));
            }
        }
        let (status, _, body) = request(port, "POST", path, &headers, body);
        (status, body)
    };
    let asked = serde_json::json!({ "reference": reference }).to_string();
    let carol = log_in(port, "carol", "a long password").unwrap();
    let dave = log_in(port, "dave", "a long password").unwrap();
    let erin = log_in(port, "erin", "a long password").unwrap();

    // Refused: no session, an operator, no CSRF token. Nothing staged.
    assert_eq!(post(None, false, "/api/v1/installs", &asked).0, 401);
    let (status, body) = post(Some(&dave), true, "/api/v1/installs", &asked);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the admin role"), "{body}");
    let (status, body) = post(Some(&carol), false, "/api/v1/installs", &asked);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("X-CSRF-Token"), "{body}");

    // Staged: what it is and asks for; nothing written yet.
    let (status, body) = post(Some(&carol), true, "/api/v1/installs", &asked);
    assert_eq!(status, 200, "{body}");
    let staged: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(staged["name"], "hello", "{staged}");
    assert_eq!(staged["version"], "0.1.0", "{staged}");
    assert_eq!(staged["digest"], digest.as_str(), "{staged}");
    assert_eq!(
        staged["reference"],
        format!("{}/skills/hello@{digest}", registry.host()).as_str()
    );
    assert_eq!(staged["signed_by"], author.public().as_str(), "{staged}");
    assert_eq!(staged["asks_for"]["send"][0], "shell:#alerts", "{staged}");
    assert_eq!(staged["asks"], "send to shell:#alerts", "{staged}");
    assert!(!bot.skill_path("hello").exists(), "nothing before approval");
    let id = staged["id"].as_u64().unwrap();
    let approve = format!("/api/v1/installs/{id}/approve");

    // Approving needs the session, the role and the token too; another
    // admin's approval does not count (only who staged it approves, as
    // with `yes N`).
    assert_eq!(post(None, false, &approve, "").0, 401);
    assert_eq!(post(Some(&dave), true, &approve, "").0, 403);
    assert_eq!(post(Some(&carol), false, &approve, "").0, 403);
    let (status, body) = post(Some(&erin), true, &approve, "");
    assert_eq!(status, 404, "{body}");
    assert!(!bot.skill_path("hello").exists());

    let (status, body) = post(Some(&carol), true, &approve, "");
    assert_eq!(status, 200, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(done["name"], "hello", "{done}");
    assert_eq!(done["sha256"], sha256_hex(skill_wasm("hello")).as_str());
    assert!(
        done["reload"]
            .as_str()
            .unwrap()
            .contains("configuration: skills.hello: added"),
        "{done}"
    );
    assert_eq!(post(Some(&carol), true, &approve, "").0, 404, "used once");
    let config = sandbot::config::load(&bot.config()).unwrap();
    assert_eq!(
        config.skills["hello"].allow.send[0].to_string(),
        "shell:#alerts"
    );
    let lock = sandbot::registry::lock::Lock::read(&bot.path().join("skills.lock")).unwrap();
    assert_eq!(lock.skills["hello"].digest, digest);
    // The skill answers at once, with the grants approved.
    let body = serde_json::json!({ "text": "hello" }).to_string();
    let headers = [
        ("cookie", carol.cookie.as_str()),
        ("x-csrf-token", carol.csrf.as_str()),
    ];
    let (status, _, answer) = request(port, "POST", "/api/v1/commands", &headers, &body);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Hello carol"), "{answer}");

    // A staged install rejected is gone; a refused one says why.
    author.push(
        &bot,
        &format!("{}/skills/other:1", registry.host()),
        &author.skill("hello", "other", ""),
        Some(&author.key()),
    );
    let other = serde_json::json!({ "reference": format!("{}/skills/other:1", registry.host()) });
    let (status, body) = post(Some(&carol), true, "/api/v1/installs", &other.to_string());
    assert_eq!(status, 200, "{body}");
    let id: u64 = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let reject = format!("/api/v1/installs/{id}/reject");
    assert_eq!(post(Some(&dave), true, &reject, "").0, 403);
    assert_eq!(post(Some(&carol), true, &reject, "").0, 204);
    let approve = format!("/api/v1/installs/{id}/approve");
    assert_eq!(post(Some(&carol), true, &approve, "").0, 404);
    assert!(!bot.skill_path("other").exists());
    author.push(
        &bot,
        &format!("{}/skills/unsigned:1", registry.host()),
        &author.skill("hello", "unsigned", ""),
        None,
    );
    let unsigned =
        serde_json::json!({ "reference": format!("{}/skills/unsigned:1", registry.host()) });
    let (status, body) = post(
        Some(&carol),
        true,
        "/api/v1/installs",
        &unsigned.to_string(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("unsigned"), "{body}");

    // Every act is in the audit: who, what, and how it went.
    let (status, _, audit) = request(
        port,
        "GET",
        "/api/v1/executions?skill=console&text=skill%20install&limit=50",
        &[("cookie", carol.cookie.as_str())],
        "",
    );
    assert_eq!(status, 200, "{audit}");
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let acts: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap_or_default().to_owned(),
                r["text"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let has = |user: &str, text: &str, outcome: &str| {
        acts.iter()
            .any(|(u, t, o)| u == user && t.starts_with(text) && o == outcome)
    };
    assert!(
        has("carol", &format!("skill install {reference}"), "ok"),
        "{acts:?}"
    );
    assert!(has("carol", "skill install approve", "ok"), "{acts:?}");
    assert!(has("erin", "skill install approve", "error"), "{acts:?}");
    assert!(has("carol", "skill install reject", "ok"), "{acts:?}");
    assert!(has("carol", "skill install ", "denied"), "{acts:?}");
}

/// sigstore-rs's encrypted test key (tests/data/keys), password `123`.
const COSIGN_KEY: &str = "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
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
fn a_push_signs_with_cosigns_encrypted_key_and_cosign_password_and_the_install_verifies_it() {
    let registry = Registry::start();
    let author = Author::new();
    // The author's key is cosign's encrypted one now; its public half as
    // the library derives it.
    std::fs::write(author.key(), COSIGN_KEY).unwrap();
    let public = sandbot::registry::cosign::SigningKey::from_encrypted_pem(COSIGN_KEY, b"123", "k")
        .unwrap()
        .public_pem();
    std::fs::write(author.public(), public).unwrap();
    let bot = bot_for(&registry, &author, "{}");
    let reference = format!("{}/skills/hello:1", registry.host());
    let wasm = author.skill("hello", "hello", "");
    let push = |password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sandbot"));
        command
            .args([
                "skill",
                "push",
                &reference,
                &wasm,
                "--sign",
                &author.key(),
                "-c",
            ])
            .arg(bot.config())
            .env_remove("COSIGN_PASSWORD");
        if let Some(p) = password {
            command.env("COSIGN_PASSWORD", p);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &*String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, out) = push(None);
    assert!(
        !ok && out.contains("give its password in COSIGN_PASSWORD"),
        "{out}"
    );
    let (ok, out) = push(Some("123"));
    assert!(ok, "{out}");
    assert!(out.contains("signed: "), "{out}");
    let (ok, out) = install(&bot, &[&reference, "--yes"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("signature verified with {}", author.public())),
        "{out}"
    );
}
