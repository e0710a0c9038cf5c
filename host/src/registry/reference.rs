//! A skill's reference in a registry: `HOST[:PORT]/NAME[:TAG][@sha256:HEX]`,
//! as Docker and OCI tools spell it. The registry is always named (there is
//! no default registry a bare `hello` would go to).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, as the `registries:` section is keyed.
    pub registry: String,
    /// The repository, `skills/hello`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, String> {
        let bad = |why: &str| format!("`{text}` is not a registry reference: {why}");
        if text.contains("://") {
            return Err(bad(
                "give no scheme (HTTPS is used, plain HTTP only on loopback): HOST[:PORT]/NAME[:TAG]",
            ));
        }
        let (registry, rest) = text.split_once('/').ok_or_else(|| {
            bad("write it as HOST[:PORT]/NAME[:TAG] or HOST[:PORT]/NAME@sha256:DIGEST")
        })?;
        crate::config::check_registry_key(registry).map_err(|e| bad(&e))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                check_digest(d).map_err(|e| bad(&e))?;
                (r, Some(d.to_owned()))
            }
            None => (rest, None),
        };
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) => (r, Some(t.to_owned())),
            None => (rest, None),
        };
        if repository.is_empty()
            || repository.split('/').any(|part| {
                part.is_empty()
                    || !part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || !part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            })
        {
            return Err(bad(
                "the repository is lower-case letters, digits, `.`, `_`, `-` and `/`",
            ));
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || t.starts_with(['.', '-'])
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(bad(&format!(
                "tag `{t}` is not letters, digits, `.`, `_` and `-` (at most 128)"
            )));
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// What the registry is asked for: the digest when there is one, else
    /// the tag, else `latest`.
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `host/repo`, the name a signature's payload carries.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same skill pinned: `host/repo@sha256:…`.
    pub fn pinned(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The skill's default name: the repository's last part.
    pub fn skill_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lower-case hex digits: the only digest accepted.
pub fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "digest `{d}` is not `sha256:` and 64 lower-case hex digits"
        )),
    }
}

/// The digest of `bytes`, `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_sha256(bytes))
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print() {
        let r = Reference::parse("127.0.0.1:5000/skills/hello:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "skills/hello");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.target(), "1.0");
        assert_eq!(r.skill_name(), "hello");
        let d = format!("sha256:{}", "a".repeat(64));
        let p = Reference::parse(&format!("ghcr.io/o/hello@{d}")).unwrap();
        assert_eq!(p.target(), d);
        assert_eq!(p.to_string(), format!("ghcr.io/o/hello@{d}"));
        assert_eq!(Reference::parse("r.io/x").unwrap().target(), "latest");
    }

    #[test]
    fn bad_references_say_why() {
        for (text, why) in [
            ("hello", "HOST[:PORT]/NAME"),
            ("https://r.io/x", "no scheme"),
            ("r.io/Hello", "lower-case"),
            ("r.io/x@sha256:abc", "64 lower-case hex"),
            ("r.io/x:-bad", "tag `-bad`"),
        ] {
            let e = Reference::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
