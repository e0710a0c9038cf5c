//! Skills uploaded through the console and waiting for an admin's
//! approval: the bytes, checked, with what the admin was shown. Bounded:
//! a few at a time, dropped after an hour, and one per skill name (a new
//! upload of a name replaces the one waiting).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Uploads waiting at once.
const MAX_STAGED: usize = 4;
/// How long an upload waits for its approval.
const STAGED_FOR: Duration = Duration::from_secs(3600);

pub struct Upload {
    pub name: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
    /// Who uploaded it.
    pub by: String,
    at: Instant,
}

#[derive(Default)]
pub struct Staged {
    uploads: Mutex<HashMap<String, Upload>>,
}

impl Staged {
    /// Keeps an upload; its id (the first 16 hex digits of its SHA-256).
    pub fn keep(&self, name: &str, sha256: &str, bytes: Vec<u8>, by: &str) -> String {
        let id = sha256[..16.min(sha256.len())].to_owned();
        let mut all = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, u| u.at.elapsed() < STAGED_FOR && u.name != name);
        if all.len() >= MAX_STAGED
            && let Some(oldest) = all.iter().min_by_key(|(_, u)| u.at).map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(
            id.clone(),
            Upload {
                name: name.to_owned(),
                sha256: sha256.to_owned(),
                bytes,
                by: by.to_owned(),
                at: Instant::now(),
            },
        );
        id
    }

    /// Takes the upload `id` out, if it is still waiting.
    pub fn take(&self, id: &str) -> Option<Upload> {
        let mut all = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        all.remove(id).filter(|u| u.at.elapsed() < STAGED_FOR)
    }
}
