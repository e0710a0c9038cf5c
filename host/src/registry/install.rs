//! Putting a fetched skill in place: the component into the skills folder
//! (written aside, then renamed over, as any drop should be), its entry
//! into configuration.yaml, and its line into `skills.lock`. The entry is
//! added to the operator's file as text, after the last entry under
//! `skills:`, so every comment and every other line stays as it was; the
//! new text must load as a configuration before anything is written.

use super::lock::{Lock, Locked};
use super::{Fetched, write_over};
use crate::config;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// What an install wrote.
pub struct Installed {
    pub name: String,
    pub file: PathBuf,
    /// False when the same skill (same SHA-256) was already there.
    pub new: bool,
}

/// Installs `fetched` for the bot configured by `config_path`, granting
/// exactly what it requested.
pub fn apply(config_path: &Path, fetched: &Fetched) -> Result<Installed> {
    let name = fetched.name.as_str();
    crate::names::check(name).map_err(|e| {
        anyhow::anyhow!(
            "`{}` cannot be a skill's name: {e}",
            crate::names::shown(name)
        )
    })?;
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let current = config::load(config_path)?;
    let dir = current.skills_dir.clone().with_context(|| {
        format!(
            "{}: no `skills-dir:`; the skill's file goes into the skills folder",
            config_path.display()
        )
    })?;
    let sha256 = fetched.sha256();
    let file = dir.join(format!("{name}.wasm"));
    let new = match current.skills.get(name) {
        Some(entry) if entry.sha256.as_deref() == Some(sha256.as_str()) => false,
        Some(_) => bail!(
            "{}: skills.{name} is already there (another version, or a skill of that name); remove it first",
            config_path.display()
        ),
        None => true,
    };
    if new && file.exists() && std::fs::read(&file).ok().as_deref() != Some(&fetched.wasm[..]) {
        bail!(
            "{} exists and is another skill; remove it first",
            file.display()
        );
    }
    let new_text = if new {
        let added = add_entry(&text, &|indent| entry(indent, fetched, &sha256))?;
        // Refused before anything is written if it would not load (a
        // requested secret the configuration does not define, say).
        config::parse(&added, &std::path::absolute(config_path)?).map_err(|e| {
            anyhow::anyhow!("not installed: with its entry the configuration would not load: {e}")
        })?;
        Some(added)
    } else {
        None
    };
    write_over(&file, &fetched.wasm)?;
    if let Some(text) = new_text {
        write_over(config_path, text.as_bytes())?;
    }
    record(&current, fetched, sha256)?;
    Ok(Installed {
        name: name.to_owned(),
        file,
        new,
    })
}

/// Switches installed skill `fetched.name` to `fetched`: its file, and in
/// its entry the lines install wrote (the pin, `allow`, the memory limit),
/// replaced by the new ones; the operator's other keys stay.
pub fn update(config_path: &Path, fetched: &Fetched) -> Result<Installed> {
    let name = fetched.name.as_str();
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let current = config::load(config_path)?;
    if !current.skills.contains_key(name) {
        bail!(
            "{}: there is no skills.{name} to update",
            config_path.display()
        );
    }
    let dir = current
        .skills_dir
        .clone()
        .with_context(|| format!("{}: no `skills-dir:`", config_path.display()))?;
    let sha256 = fetched.sha256();
    let new_text = replace_entry(&text, name, &|indent| entry(indent, fetched, &sha256))?;
    config::parse(&new_text, &std::path::absolute(config_path)?).map_err(|e| {
        anyhow::anyhow!("not updated: with the new entry the configuration would not load: {e}")
    })?;
    let file = dir.join(format!("{name}.wasm"));
    write_over(&file, &fetched.wasm)?;
    write_over(config_path, new_text.as_bytes())?;
    record(&current, fetched, sha256)?;
    Ok(Installed {
        name: name.to_owned(),
        file,
        new: true,
    })
}

fn record(current: &config::Config, fetched: &Fetched, sha256: String) -> Result<()> {
    let lock_path = super::lock_path(current);
    let mut lock = Lock::read(&lock_path)?;
    lock.version = 1;
    lock.skills.insert(
        fetched.name.clone(),
        Locked {
            reference: as_asked(fetched),
            digest: fetched.digest.clone(),
            sha256,
            version: fetched.version.clone(),
            requests: fetched.requests.clone(),
        },
    );
    lock.write(&lock_path)
}

/// `text` with the lines install wrote in entry `name` replaced by
/// `entry(indent)`'s.
fn replace_entry(text: &str, name: &str, entry: &dyn Fn(&str) -> String) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let at = lines
        .iter()
        .position(|l| {
            l.strip_prefix("skills:")
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
        })
        .context("the configuration has no `skills:` block")?;
    let head = format!("{name}:");
    let e = (at + 1..lines.len())
        .take_while(|&i| lines[i].trim().is_empty() || lines[i].starts_with([' ', '#']))
        .find(|&i| lines[i].trim_start() == head || lines[i].trim_start().starts_with(&format!("{head} #")))
        .with_context(|| format!("skills.{name} is not written as a block (`{name}:` on a line of its own, its keys below): update it by hand"))?;
    let unit = &lines[e][..indent_of(lines[e])];
    let end = (e + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && indent_of(lines[i]) <= unit.len())
        .unwrap_or(lines.len());
    let child = format!("{unit}{unit}");
    let mut kept = Vec::new();
    let mut skipping_allow = false;
    for line in &lines[e + 1..end] {
        let trimmed = line.trim_start();
        let at_child = indent_of(line) == child.len();
        if skipping_allow && (line.trim().is_empty() || indent_of(line) > child.len()) {
            continue;
        }
        skipping_allow = false;
        if trimmed.starts_with("# `sandbot skill install`")
            || (at_child
                && (trimmed.starts_with("sha256:") || trimmed.starts_with("limits: {memory:")))
        {
            continue;
        }
        if at_child && trimmed.starts_with("allow:") {
            skipping_allow = true;
            continue;
        }
        kept.push(*line);
    }
    let body = entry(unit);
    let body = body.split_once('\n').map(|(_, b)| b).unwrap_or("");
    let mut out = String::new();
    for line in &lines[..=e] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(body);
    for line in kept.iter().chain(&lines[end..]) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The reference as asked for (its tag, if it had one), without the pin.
fn as_asked(fetched: &Fetched) -> String {
    let r = &fetched.reference;
    if r.tag.is_some() {
        super::Reference {
            digest: None,
            ..r.clone()
        }
        .to_string()
    } else {
        r.to_string()
    }
}

/// The entry's lines, `indent` being one level of the file's indentation.
fn entry(indent: &str, fetched: &Fetched, sha256: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let list = |items: &[String]| items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
    let r = &fetched.requests;
    let signed = match &fetched.signed_by {
        Some(key) => format!("signature verified with {key}"),
        None => "unsigned, accepted by allow-unsigned".to_owned(),
    };
    let mut out = format!(
        "{indent}{}:\n{indent}{indent}# `sandbot skill install` {}@{} ({signed})\n{indent}{indent}sha256: {sha256}\n",
        fetched.name,
        fetched.reference.repository_path(),
        fetched.digest,
    );
    if !(r.http.is_empty() && r.send.is_empty() && r.secrets.is_empty()) {
        out.push_str(&format!("{indent}{indent}allow:\n"));
        for (key, items) in [
            ("http", &r.http),
            ("send", &r.send),
            ("secrets", &r.secrets),
        ] {
            if !items.is_empty() {
                out.push_str(&format!(
                    "{indent}{indent}{indent}{key}: [{}]\n",
                    list(items)
                ));
            }
        }
    }
    if let Some(m) = &r.memory {
        out.push_str(&format!("{indent}{indent}limits: {{memory: {}}}\n", q(m)));
    }
    out
}

/// `text` with `entry(indent)` added as the last entry under the top-level
/// `skills:` (which is added at the end when there is none).
fn add_entry(text: &str, entry: &dyn Fn(&str) -> String) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.iter().position(|l| {
        l.strip_prefix("skills:")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    }) else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("skills:\n");
        out.push_str(&entry("  "));
        return Ok(out);
    };
    let rest = lines[at]["skills:".len()..].trim();
    let empty_flow = rest.starts_with("{}");
    if !(rest.is_empty() || rest.starts_with('#') || empty_flow) {
        bail!(
            "`skills:` is written on one line (line {}); write it as a block, an entry per line, for install to add to it",
            at + 1
        );
    }
    let indented = |l: &&str| l.starts_with([' ', '\t']) && !l.trim().is_empty();
    let block_end = (at + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && !lines[i].starts_with([' ', '\t', '#']))
        .unwrap_or(lines.len());
    let last = (at + 1..block_end)
        .rev()
        .find(|&i| indented(&lines[i]))
        .unwrap_or(at);
    let indent = lines[at + 1..block_end]
        .iter()
        .find(|l| indented(l) && !l.trim_start().starts_with('#'))
        .map(|l| &l[..l.len() - l.trim_start().len()])
        .unwrap_or("  ");
    if indent.contains('\t') {
        bail!("`skills:` is indented with tabs, which YAML does not allow");
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == at && empty_flow {
            out.push_str("skills:");
            let comment = rest["{}".len()..].trim();
            if !comment.is_empty() {
                out.push(' ');
                out.push_str(comment);
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
        if i == last {
            out.push_str(&entry(indent));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(text: &str) -> String {
        add_entry(text, &|i| format!("{i}new:\n{i}{i}sha256: x\n")).unwrap()
    }

    #[test]
    fn an_entry_goes_after_the_last_one_and_nothing_else_moves() {
        let text = "# my bot\nskills:   # in order\n    hello: {}\n    # the deploy one\n    deploy:\n        url: x\n\n# the end\nsecrets: {}\n";
        assert_eq!(
            add(text),
            "# my bot\nskills:   # in order\n    hello: {}\n    # the deploy one\n    deploy:\n        url: x\n    new:\n        sha256: x\n\n# the end\nsecrets: {}\n"
        );
        assert_eq!(
            add("skills: {}  # none yet\nx: 1"),
            "skills: # none yet\n  new:\n    sha256: x\nx: 1\n"
        );
        assert_eq!(
            add("admins: [a]"),
            "admins: [a]\nskills:\n  new:\n    sha256: x\n"
        );
        assert!(add_entry("skills: {a: {}}\n", &|_| String::new()).is_err());
    }

    #[test]
    fn an_update_replaces_what_install_wrote_and_keeps_the_operators_keys() {
        let text = "skills:\n  hello:\n    # `sandbot skill install` r/x@sha256:1 (…)\n    sha256: old\n    allow:\n      http: [\"https://a\"]\n      send: [\"x:y\"]\n    aliases:\n      - {format: hi, matcher: hello}\n    limits: {memory: \"8MiB\"}\n  other: {}\nsecrets: {}\n";
        let out = replace_entry(text, "hello", &|i| {
            format!("{i}hello:\n{i}{i}sha256: new\n")
        })
        .unwrap();
        assert_eq!(
            out,
            "skills:\n  hello:\n    sha256: new\n    aliases:\n      - {format: hi, matcher: hello}\n  other: {}\nsecrets: {}\n"
        );
        assert!(replace_entry("skills:\n  hello: {}\n", "hello", &|_| String::new()).is_err());
    }
}
