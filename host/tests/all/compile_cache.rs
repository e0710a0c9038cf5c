//! The compilation cache: a second load of the same bytes (in this process
//! or the next) skips Cranelift; `no-cache: true` never uses it.

use sandbot::bus::Outboxes;
use sandbot::memory::SqliteMemory;
use sandbot::runtime::{Options, Runtime, Services, SkillSource};
use std::sync::Arc;

fn runtime(dir: &std::path::Path) -> Runtime {
    let services = Services {
        memory: Arc::new(SqliteMemory::open(&dir.join("memory.db")).unwrap()),
        responses: Arc::new(Outboxes::default()),
    };
    let options = Options {
        cache_dir: Some(dir.join("cache")),
        ..Options::default()
    };
    Runtime::new(options, services).unwrap()
}

#[tokio::test]
async fn a_compiled_skill_is_reused_across_runtimes_unless_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let hello = || SkillSource::new("hello", crate::common::skill_wasm("hello"));

    let first = runtime(dir.path());
    let cold = first.load(hello()).await.unwrap();
    assert!(!cold.compiled.from_cache);
    let again = first.load(hello()).await.unwrap();
    assert!(
        again.compiled.from_cache,
        "the same bytes come from the cache"
    );
    drop(first);

    // A new process (here: a new engine of the same configuration) finds
    // the artifact on disk.
    let second = runtime(dir.path());
    let warm = second.load(hello()).await.unwrap();
    assert!(warm.compiled.from_cache, "the cache survives a restart");
    let fresh = second
        .load(SkillSource {
            no_cache: true,
            ..hello()
        })
        .await
        .unwrap();
    assert!(!fresh.compiled.from_cache, "no-cache compiles afresh");

    let artifacts: Vec<_> = walk(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
