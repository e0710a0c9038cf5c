//! The store's own tests: retention and the recent runs in both backends, ownership in a
//! shared one, and what is refused or cannot be read back.

use super::*;
use crate::event::{Event, EventId, Message};

fn run_doc(started_at: u64) -> RunDoc {
    RunDoc {
        workflow: "w".into(),
        sha256: String::new(),
        inputs: serde_json::Map::new(),
        event: Event::Message(Message {
            id: "m1".into(),
            connector: "shell".into(),
            user: "alice".into(),
            user_id: "alice".into(),
            room: "shell".into(),
            thread: None,
            text: "go".into(),
            addressed: false,
            received_at: started_at,
        }),
        event_id: EventId(1),
        alias: None,
        started_at,
        vars: serde_json::Map::new(),
        failed: false,
        room: None,
        parent: None,
        depth: 0,
        error: None,
    }
}

/// Ended runs go by age, then by count; running runs stay; what a run
/// kept goes with it.
fn prunes(store: &Store) {
    let now = crate::event::now_ms();
    let task = [("t".to_owned(), TaskDoc::new(Status::Succeeded))];
    // 1: ended long ago; 2, 3, 4: ended now; 5: still running, and old.
    let ids: Vec<u64> = [
        now - 10 * 86_400_000,
        now,
        now + 1,
        now + 2,
        now - 10 * 86_400_000,
    ]
    .into_iter()
    .map(|at| store.create(&run_doc(at), &task).unwrap())
    .collect();
    for &id in &ids[..4] {
        store.commit(id, None, &[], RunStatus::Succeeded).unwrap();
    }
    let week = Duration::from_secs(7 * 86_400);
    // By age: run 1 goes.
    assert_eq!(store.prune(week, 100).unwrap(), 1);
    assert!(store.get(ids[0]).unwrap().is_none());
    // By count: of 2, 3, 4 the newest two stay.
    assert_eq!(store.prune(week, 2).unwrap(), 1);
    assert!(store.get(ids[1]).unwrap().is_none());
    for &id in &ids[2..] {
        let kept = store.get(id).unwrap().expect("kept");
        assert_eq!(kept.tasks.len(), 1);
    }
    let left: Vec<u64> = store
        .resumable(RunsToClaim {
            own: true,
            orphans: true,
            alive: vec!["a".into()],
        })
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_ref().map_or(0, |k| k.id))
        .collect();
    assert_eq!(left, [ids[4]]);
    // The console's list: the newest kept, running or ended, first.
    let recent = |limit| -> Vec<u64> {
        store
            .recent(limit)
            .unwrap()
            .iter()
            .map(|r| r.as_ref().map_or(0, |k| k.id))
            .collect()
    };
    assert_eq!(recent(10), [ids[4], ids[3], ids[2]]);
    assert_eq!(recent(2), [ids[4], ids[3]]);
}

#[test]
fn pruning_keeps_running_runs_and_the_newest_ended_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    prunes(&Store::sqlite(&path).unwrap());
    // The gone runs' tasks went with them.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tasks: i64 = conn
        .query_row("SELECT count(*) FROM workflow_tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tasks, 3);
}

/// A task's result deeper than the reader takes is refused before it
/// is written (the step with it), and the run reads back as it was.
#[test]
fn a_document_too_deep_to_read_back_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(&dir.path().join("h.db")).unwrap();
    let task = [("t".to_owned(), TaskDoc::new(Status::Scheduled))];
    let id = store.create(&run_doc(1), &task).unwrap();
    let mut deep = TaskDoc::new(Status::Succeeded);
    deep.result = serde_json::from_str(&format!("{}{}", "[".repeat(127), "]".repeat(127))).unwrap();
    let e = store
        .commit(id, None, &[("t".to_owned(), deep)], RunStatus::Running)
        .unwrap_err();
    assert!(e.to_string().contains("could not be read back"), "{e}");
    let kept = store.get(id).unwrap().unwrap();
    assert_eq!(kept.tasks[0].1.status, Status::Scheduled);
    // The same for a new run whose inputs are too deep.
    let mut doc = run_doc(2);
    doc.inputs.insert(
        "x".into(),
        serde_json::from_str(&format!("{}{}", "[".repeat(126), "]".repeat(126))).unwrap(),
    );
    assert!(store.create(&doc, &task).is_err());
}

/// A run whose row cannot be read (written by hand) comes back as
/// unreadable; the others resume; once failed it is not claimed again.
#[test]
fn a_run_that_cannot_be_read_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let store = Store::sqlite(&path).unwrap();
    let task = [("t".to_owned(), TaskDoc::new(Status::Scheduled))];
    let ids: Vec<u64> = (1..=4)
        .map(|at| store.create(&run_doc(at), &task).unwrap())
        .collect();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let deep = format!(
        "{{\"inputs\": {{\"x\": {}{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    conn.execute(
        "UPDATE workflow_runs SET doc = ? WHERE id = ?",
        rusqlite::params![deep, ids[1] as i64],
    )
    .unwrap();
    conn.execute(
        "UPDATE workflow_tasks SET doc = x'ff00' WHERE run = ?",
        [ids[2] as i64],
    )
    .unwrap();
    let all = RunsToClaim {
        own: true,
        orphans: true,
        alive: Vec::new(),
    };
    let found = store.resumable(all.clone()).unwrap();
    let read: Vec<u64> = found
        .iter()
        .filter_map(|(k, _)| Some(k.as_ref().ok()?.id))
        .collect();
    assert_eq!(read, [ids[0], ids[3]]);
    let unread: Vec<&Unreadable> = found.iter().filter_map(|(k, _)| k.as_ref().err()).collect();
    assert_eq!(unread.len(), 2);
    assert_eq!((unread[0].id, unread[0].workflow.as_str()), (ids[1], "w"));
    assert!(
        unread[0].error.contains("recursion limit"),
        "{}",
        unread[0].error
    );
    assert!(
        unread[1].error.contains("its task `t`"),
        "{}",
        unread[1].error
    );
    for u in unread {
        store.fail_unread(u.id).unwrap();
    }
    assert_eq!(store.resumable(all).unwrap().len(), 2);
    // Pruning does not choke on a document that is not JSON.
    conn.execute(
        "UPDATE workflow_runs SET doc = '{not json' WHERE id = ?",
        [ids[1] as i64],
    )
    .unwrap();
    assert_eq!(store.prune(Duration::from_secs(60), 100).unwrap(), 2);
}

/// A redis-server of this test's own on a free loopback port (`make
/// test` installs it; the integration tests' harness does the same).
struct Redis(std::process::Child, u16);

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (host/tests/servers.sh installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child, port)
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pruning_in_redis_keeps_running_runs_and_the_newest_ended_ones() {
    let redis = Redis::start();
    prunes(&Store::redis(&redis.url(), "redis", "t", "a").unwrap());
}

#[test]
fn a_host_in_redis_writes_only_the_runs_it_owns_and_claims_a_silent_hosts_runs() {
    let redis = Redis::start();
    let a = Store::redis(&redis.url(), "redis", "t", "a").unwrap();
    let b = Store::redis(&redis.url(), "redis", "t", "b").unwrap();
    let task = [("t".to_owned(), TaskDoc::new(Status::Scheduled))];
    let one = a.create(&run_doc(1), &task).unwrap();
    let child = a
        .create_child(
            &run_doc(2),
            &task,
            Some((one, "t", &TaskDoc::new(Status::Scheduled), None)),
        )
        .unwrap();
    assert_eq!(a.get(one).unwrap().unwrap().tasks[0].1.child, Some(child));
    assert_eq!(a.get(one).unwrap().unwrap().owner.as_deref(), Some("a"));
    // `a` is alive: `b` takes nothing, not even with `own`.
    let both = vec!["a".to_owned(), "b".to_owned()];
    assert!(
        b.resumable(RunsToClaim {
            own: true,
            orphans: true,
            alive: both,
        })
        .unwrap()
        .is_empty()
    );
    // `b` may not write a's run.
    let done = [("t".to_owned(), TaskDoc::new(Status::Succeeded))];
    assert!(
        matches!(b.commit(one, None, &done, RunStatus::Running), Err(StepError::Lost(n)) if n == one)
    );
    // `a` falls silent: `b` claims both, and `a`'s next step is refused.
    let only_b = vec!["b".to_owned()];
    // A host that takes no orphans (connectors only) takes nothing.
    let none = RunsToClaim {
        own: true,
        orphans: false,
        alive: only_b.clone(),
    };
    assert!(b.resumable(none).unwrap().is_empty());
    let claimed: Vec<(u64, Option<String>)> = b
        .resumable(RunsToClaim {
            own: false,
            orphans: true,
            alive: only_b,
        })
        .unwrap()
        .into_iter()
        .map(|(k, before)| (k.map_or(0, |k| k.id), before))
        .collect();
    assert_eq!(
        claimed,
        [(one, Some("a".into())), (child, Some("a".into()))]
    );
    assert!(matches!(
        a.commit(one, None, &done, RunStatus::Running),
        Err(StepError::Lost(_))
    ));
    b.commit(one, None, &done, RunStatus::Succeeded).unwrap();
    let kept = b.get(one).unwrap().unwrap();
    assert_eq!(
        (kept.status, kept.tasks[0].1.status),
        (RunStatus::Succeeded, Status::Succeeded)
    );
    assert_eq!(kept.owner.as_deref(), Some("b"));
}
