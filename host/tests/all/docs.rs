//! The manual cannot drift from the code: every configuration sample in
//! README.md and docs/ is checked with `sandbot config validate`, every
//! workflow sample is loaded as a workflow file, and every link between the
//! pages leads to a file (and a heading) that exists.
//!
//! A fenced block's info string says what it is: ```` ```yaml ```` is a
//! configuration (or a part of one: everything it leaves out has a
//! default), ```` ```yaml workflow ```` a workflow file, and any other word
//! after `yaml` (```` ```yaml cases ````) a file of another kind, which only
//! has to be YAML.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// README.md and every Markdown page under docs/, sorted.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs/ is readable") {
            let path = entry.expect("a docs/ entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = vec![repo().join("README.md")];
    walk(&repo().join("docs"), &mut out);
    out.sort();
    out
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A fenced code block: its info string, its first line's number and text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize, String)> = None; // (fence indent, info, line, text)
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        match &mut open {
            None if trimmed.starts_with("```") => {
                open = Some((
                    indent.to_string(),
                    trimmed.trim_start_matches('`').trim().to_string(),
                    i + 2,
                    String::new(),
                ));
            }
            None => {}
            Some((_, info, first, text)) if trimmed.starts_with("```") => {
                out.push(Block {
                    info: std::mem::take(info),
                    line: *first,
                    text: std::mem::take(text),
                });
                open = None;
            }
            Some((fence_indent, _, _, text)) => {
                // A block inside a list item is indented with the item.
                text.push_str(line.strip_prefix(fence_indent.as_str()).unwrap_or(line));
                text.push('\n');
            }
        }
    }
    out
}

/// Every `${VAR}` a sample uses, so the check can give each a value.
fn variables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let tail = &rest[at + 2..];
        let end = tail.find(['}', ':']).unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn validate(config: &Path, vars: &BTreeSet<String>) -> Result<(), String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbot"));
    command.args(["config", "validate", "-c"]).arg(config);
    for var in vars {
        command.env(var, "sample-value");
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot run sandbot: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', "\n    "))
    }
}

#[test]
fn every_configuration_and_workflow_sample_in_the_manual_is_valid() {
    let scratch = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for page in pages() {
        let markdown = std::fs::read_to_string(&page).unwrap();
        for (n, block) in blocks(&markdown).into_iter().enumerate() {
            let mut words = block.info.split_whitespace();
            if words.next() != Some("yaml") {
                continue;
            }
            let kind = words.next().unwrap_or("configuration");
            let dir = scratch
                .path()
                .join(format!("{}-{n}", shown(&page).replace('/', "_")));
            std::fs::create_dir_all(&dir).unwrap();
            let vars = variables(&block.text);
            let result = match kind {
                "configuration" => {
                    let file = dir.join("configuration.yaml");
                    std::fs::write(&file, &block.text).unwrap();
                    validate(&file, &vars)
                }
                "workflow" => {
                    // A workflow file alone, in the folder of a configuration
                    // that says nothing else.
                    std::fs::create_dir_all(dir.join("workflows")).unwrap();
                    std::fs::write(dir.join("workflows/sample.yaml"), &block.text).unwrap();
                    let file = dir.join("configuration.yaml");
                    std::fs::write(&file, "workflows-dir: workflows\n").unwrap();
                    validate(&file, &vars)
                }
                _ => serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&block.text)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            };
            checked += 1;
            if let Err(e) = result {
                wrong.push(format!(
                    "{}:{} ({kind}):\n    {e}",
                    shown(&page),
                    block.line
                ));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} YAML samples found: is the manual where it was?"
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} samples in the manual are not valid:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A heading's anchor as mdBook and GitHub make it: lower case, spaces to
/// `-`, everything but letters, digits, `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every `[text](target)` outside code, with its line.
fn links(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Inline code is not a link.
        let prose: String = line
            .split('`')
            .enumerate()
            .map(|(k, part)| if k % 2 == 0 { part } else { "" })
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push((i + 1, tail[..end].to_string()));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_link_in_the_manual_leads_to_a_page_and_heading_that_exist() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for page in pages() {
        let markdown = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&markdown) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !path.exists() {
                wrong.push(format!("{}:{line}: `{target}`: no such file", shown(&page)));
                continue;
            }
            if let Some(fragment) = fragment
                && path.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&path).unwrap()).contains(fragment)
            {
                wrong.push(format!(
                    "{}:{line}: `{target}`: no such heading",
                    shown(&page)
                ));
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} links found: is the manual where it was?"
    );
    assert!(
        wrong.is_empty(),
        "broken links in the manual:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_page_of_the_manual_is_in_the_book_and_the_readme_stays_short() {
    let docs = repo().join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|(_, t)| docs.join(t))
        .collect();
    let missing: Vec<String> = pages()
        .into_iter()
        .filter(|p| p.starts_with(&docs) && !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .map(|p| shown(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "pages not in docs/SUMMARY.md: {missing:?}"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; the manual's place is docs/"
    );
}
