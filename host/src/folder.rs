//! Reading a watched folder, the same way for skills (`.wasm`) and
//! workflows (`.yaml`, `.yml`): the files with one of the endings, hidden
//! ones (an editor's or an atomic write's temporary `.name`) left out, in
//! name order so what loads first does not depend on the file system.

use std::path::{Path, PathBuf};

/// Is `path` one of the folder's files: one of `endings`, not hidden?
pub fn holds(path: &Path, endings: &[&str]) -> bool {
    path.extension()
        .is_some_and(|e| endings.iter().any(|ending| e == *ending))
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The files of `dir` with one of `endings`, by name; none if it cannot
/// be read.
pub fn files(dir: &Path, endings: &[&str]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| holds(p, endings))
        .collect();
    found.sort();
    found
}
