//! The history's unit tests: writing, finding and pruning records, the byte
//! budget, batches, the writer's gathering, and shared records.
use super::writer::latest_only;
use super::*;
use crate::event::EventId;

fn record(n: u64, skill: &str, user: &str, outcome: Outcome) -> Execution {
    Execution {
        id: format!("e{n}"),
        event_id: EventId(n),
        skill: skill.into(),
        version: "1".into(),
        sha256: "ab".into(),
        matcher: "m".into(),
        alias: None,
        connector: Some("shell".into()),
        room: Some("shell".into()),
        thread: None,
        user: Some(user.into()),
        user_id: Some(user.into()),
        text: Some("hi".into()),
        captures: vec![("app".into(), "web".into())],
        started_at: crate::event::now_ms() - 1000 + n,
        ended_at: crate::event::now_ms(),
        micros: 5,
        outcome,
        error: None,
        denials: Vec::new(),
        responses: Vec::new(),
        parent: None,
        undelivered: None,
        trigger: None,
        host: None,
        notified: Vec::new(),
    }
}

#[test]
fn records_are_written_found_and_pruned_by_count() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_age: Duration::from_secs(3600),
        max_count: 3,
        ..Retention::default()
    };
    let history = History::open(&dir.path().join("h.db"), retention).unwrap();
    history.record(&record(1, "deploy", "alice", Outcome::Ok));
    history.record(&record(2, "hello", "bob", Outcome::Error));
    history.record(&record(3, "deploy", "bob", Outcome::Denied));
    assert!(history.flush(Duration::from_secs(5)));
    let all = history
        .find(&Filter {
            limit: 10,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e3", "e2", "e1"]
    );
    assert_eq!(
        all[2],
        record(1, "deploy", "alice", Outcome::Ok).clone_with_times(&all[2])
    );
    let bobs_deploys = Filter {
        skill: Some("deploy".into()),
        user: Some("bob".into()),
        limit: 10,
        ..Filter::default()
    };
    assert_eq!(history.find(&bobs_deploys).unwrap()[0].id, "e3");
    let errors = Filter {
        outcome: Some(Outcome::Error),
        limit: 10,
        ..Filter::default()
    };
    assert_eq!(history.find(&errors).unwrap().len(), 1);
    assert_eq!(history.get("e2").unwrap().unwrap().skill, "hello");
    assert!(history.get("nope").unwrap().is_none());
    // Over the count: the oldest goes (pruning runs at most once a second).
    std::thread::sleep(Duration::from_millis(1100));
    history.record(&record(4, "hello", "carol", Outcome::Ok));
    assert!(history.flush(Duration::from_secs(5)));
    let all = history
        .find(&Filter {
            limit: 10,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e4", "e3", "e2"]
    );
}

/// Texts are cut and marked as they are queued; the oldest records go
/// once the total is over the budget; a record that is not JSON is
/// skipped by a search.
#[test]
fn records_are_cut_and_kept_within_a_byte_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let retention = Retention {
        max_bytes: 20_000,
        ..Retention::default()
    };
    let history = History::open(&path, retention).unwrap().keeping_texts(1000);
    let mut big = record(1, "hello", "alice", Outcome::Ok);
    big.text = Some("x".repeat(65_536));
    big.captures = vec![("y".repeat(5000), "z".repeat(5000))];
    big.error = Some("e\n".repeat(3000));
    history.record(&big);
    assert!(history.flush(Duration::from_secs(5)));
    let kept = history.get("e1").unwrap().unwrap();
    let text = kept.text.unwrap();
    assert!(text.len() <= 1000, "{}", text.len());
    assert!(
        text.ends_with(&format!("[{} bytes cut]", 65_536 - 960)),
        "{text}"
    );
    assert!(kept.captures[0].0.len() <= 1000 && kept.captures[0].1.len() <= 1000);
    assert!(kept.error.unwrap().contains("bytes cut]"));
    // 40 records of about 2 KiB each: only the newest fit in 20 kB.
    std::thread::sleep(Duration::from_millis(1100));
    for n in 2..42 {
        let mut e = record(n, "hello", "alice", Outcome::Ok);
        e.text = Some("y".repeat(5000));
        history.record(&e);
    }
    assert!(history.flush(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(1100));
    history.record(&record(42, "hello", "alice", Outcome::Ok));
    assert!(history.flush(Duration::from_secs(5)));
    let conn = Connection::open(&path).unwrap();
    let (total, sum, rows): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT bytes FROM history_size),
                    (SELECT sum(octet_length(record)) FROM executions),
                    (SELECT count(*) FROM executions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(total, sum, "the kept total is the table's");
    assert!(total <= 20_000, "{total} bytes kept");
    assert!((5..=20).contains(&rows), "{rows} records kept");
    assert!(history.get("e42").unwrap().is_some(), "the newest stays");
    assert!(history.get("e1").unwrap().is_none(), "the oldest went");
    // A record damaged by hand is skipped, the others found.
    conn.execute(
        "UPDATE executions SET record = '{not json' WHERE id = 'e41'",
        [],
    )
    .unwrap();
    let found = history
        .find(&Filter {
            limit: 100,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(found.len() as i64, rows - 1);
    assert!(
        history
            .find(&Filter {
                parent: Some("wf-1".into()),
                limit: 10,
                ..Filter::default()
            })
            .unwrap()
            .is_empty()
    );
}

/// A run's `running` row and its record in one batch: one write, the
/// record's, whose size alone is counted; records of other ids keep
/// their order; every record queued counts as written.
#[test]
fn a_batch_writes_only_the_last_record_of_an_id() {
    let mut running = record(1, "hello", "alice", Outcome::Running);
    running.text = Some("a running row, longer than the record's text".into());
    let done = record(1, "hello", "alice", Outcome::Ok);
    let other = record(2, "deploy", "bob", Outcome::Ok);
    let mut batch = vec![
        Arc::new(running.clone()),
        Arc::new(other.clone()),
        Arc::new(done.clone()),
    ];
    latest_only(&mut batch);
    assert_eq!(batch, [Arc::new(other.clone()), Arc::new(done.clone())]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let history = History::open_abandoning(&path, Retention::default()).unwrap();
    history.started(&running);
    history.record(&other);
    history.record(&done);
    assert!(
        history.flush(Duration::from_secs(5)),
        "every record counts as written"
    );
    let kept = history.get("e1").unwrap().unwrap();
    assert_eq!(kept.outcome, Outcome::Ok);
    assert_eq!(kept.text, done.text);
    let conn = Connection::open(&path).unwrap();
    let (total, sum, rows): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT bytes FROM history_size),
                    (SELECT sum(octet_length(record)) FROM executions),
                    (SELECT count(*) FROM executions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((total, rows), (sum, 2), "the kept total is the table's");
}

/// A run's `running` row and then its record, in two batches, count as
/// one row: retention by count keeps `max-count` runs, not half as many.
#[test]
fn retention_by_count_counts_a_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let retention = Retention {
        max_count: 4,
        ..Retention::default()
    };
    let history = History::open_abandoning(&path, retention).unwrap();
    for n in 1..=6 {
        history.started(&record(n, "hello", "alice", Outcome::Running));
        assert!(history.flush(Duration::from_secs(5)));
        history.record(&record(n, "hello", "alice", Outcome::Ok));
        assert!(history.flush(Duration::from_secs(5)));
    }
    // Pruning runs at most once a second, after a write.
    std::thread::sleep(Duration::from_millis(1100));
    history.record(&record(7, "hello", "alice", Outcome::Ok));
    assert!(history.flush(Duration::from_secs(5)));
    let kept = history
        .find(&Filter {
            limit: 100,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(
        kept.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e7", "e6", "e5", "e4"]
    );
    // Each record replaced its `running` row (a failed INSERT, then
    // the replacement) and its size.
    let conn = Connection::open(&path).unwrap();
    let (total, sum): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT bytes FROM history_size),
                    (SELECT sum(octet_length(record)) FROM executions)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(total, sum, "the kept total is the table's");
}

/// The writer gathers records for [`writer::LINGER`], but one who
/// waits for them (a search, a stop) wakes it: a record is findable at
/// once.
#[test]
fn a_reader_does_not_wait_for_the_writers_gathering() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("h.db"), Retention::default()).unwrap();
    let fastest = (1..=5)
        .map(|n| {
            let queued = std::time::Instant::now();
            history.record(&record(n, "hello", "alice", Outcome::Ok));
            assert!(history.get(&format!("e{n}")).unwrap().is_some());
            queued.elapsed()
        })
        .min()
        .unwrap();
    assert!(fastest < writer::LINGER / 2, "{fastest:?}");
}

/// A run shared with the history: its `running` row is written (cut
/// to `max-text`) only if the run is still going when its batch is; a
/// run that ended first leaves only its record, and nothing is copied.
#[test]
fn a_shared_run_is_kept_as_running_only_while_it_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::open_abandoning(&dir.path().join("h.db"), Retention::default())
        .unwrap()
        .keeping_texts(100);
    let mut long = record(1, "deploy", "alice", Outcome::Ok);
    long.text = Some("x".repeat(1000));
    let long = Arc::new(long);
    history.started_shared(&long);
    assert!(history.flush(Duration::from_secs(5)));
    let row = history.get("e1").unwrap().expect("a running row");
    assert_eq!(row.outcome, Outcome::Running);
    assert!(row.text.unwrap().len() <= 100);
    let done = Arc::try_unwrap(long).expect("the history keeps no copy of a run");
    history.record(&done);
    assert!(history.flush(Duration::from_secs(5)));
    assert_eq!(history.get("e1").unwrap().unwrap().outcome, Outcome::Ok);

    // A run that ends before its batch is written (as the history
    // sees it: its record no longer there).
    let short = record(2, "hello", "bob", Outcome::Ok);
    let ended = Arc::downgrade(&Arc::new(short.clone()));
    history.queue(Queued::Started(ended));
    assert!(history.flush(Duration::from_secs(5)), "counted as written");
    assert!(history.get("e2").unwrap().is_none(), "no running row");
    history.record(&short);
    assert!(history.flush(Duration::from_secs(5)));
    assert_eq!(history.get("e2").unwrap().unwrap().outcome, Outcome::Ok);
}

/// A record is queued as it is (shared, not copied) only if no text
/// needs cutting: each text `cut_texts` cuts, made too long in turn,
/// makes `fits_texts` say no.
#[test]
fn a_record_is_shared_only_when_no_text_must_be_cut() {
    use crate::event::{Response, ResponseBody, Target};
    let long = || "x".repeat(200);
    let answer = |body| Response {
        target: Target {
            connector: "shell".into(),
            room: "shell".into(),
            thread: Some("t".into()),
        },
        body,
        in_reply_to: None,
    };
    let mut base = record(1, "hello", "alice", Outcome::Ok);
    base.responses = vec![
        answer(ResponseBody::Text("hi".into())),
        answer(ResponseBody::Reaction {
            message_id: "m".into(),
            emoji: "👍".into(),
        }),
    ];
    base.denials = vec!["no".into()];
    type Lengthen = fn(&mut Execution, String);
    let each: [Lengthen; 24] = [
        |e, s| e.skill = s,
        |e, s| e.version = s,
        |e, s| e.sha256 = s,
        |e, s| e.matcher = s,
        |e, s| e.alias = Some(s),
        |e, s| e.connector = Some(s),
        |e, s| e.room = Some(s),
        |e, s| e.thread = Some(s),
        |e, s| e.user = Some(s),
        |e, s| e.user_id = Some(s),
        |e, s| e.text = Some(s),
        |e, s| e.error = Some(s),
        |e, s| e.parent = Some(s),
        |e, s| e.undelivered = Some(s),
        |e, s| e.captures[0].0 = s,
        |e, s| e.captures[0].1 = s,
        |e, s| e.denials[0] = s,
        |e, s| e.responses[0].target.connector = s,
        |e, s| e.responses[0].target.room = s,
        |e, s| e.responses[0].target.thread = Some(s),
        |e, s| e.responses[0].body = ResponseBody::Text(s),
        |e, s| {
            e.responses[1].body = ResponseBody::Reaction {
                message_id: s,
                emoji: "👍".into(),
            }
        },
        |e, s| {
            e.responses[1].body = ResponseBody::Reaction {
                message_id: "m".into(),
                emoji: s,
            }
        },
        |e, s| e.captures.push((s, "v".into())),
    ];
    assert!(fits_texts(&base, 100));
    let mut cut = base.clone();
    cut_texts(&mut cut, 100);
    assert_eq!(cut, base, "nothing to cut");
    for (n, lengthen) in each.iter().enumerate() {
        let mut e = base.clone();
        lengthen(&mut e, long());
        assert!(!fits_texts(&e, 100), "text {n} too long, said to fit");
        let mut cut = e.clone();
        cut_texts(&mut cut, 100);
        assert_ne!(cut, e, "text {n} not cut");
    }

    // Through the history: a shared record is the one written.
    let dir = tempfile::tempdir().unwrap();
    let history = History::open(&dir.path().join("h.db"), Retention::default())
        .unwrap()
        .keeping_texts(100);
    let mut e = base.clone();
    e.text = Some(long());
    history.record_shared(&Arc::new(e));
    history.record_shared(&Arc::new(record(2, "hello", "bob", Outcome::Ok)));
    assert!(history.get("e1").unwrap().unwrap().text.unwrap().len() <= 100);
    assert_eq!(
        history.get("e2").unwrap().unwrap().user.as_deref(),
        Some("bob")
    );
}

impl Execution {
    /// This record with `other`'s clock readings, to compare the rest.
    fn clone_with_times(&self, other: &Execution) -> Execution {
        Execution {
            started_at: other.started_at,
            ended_at: other.ended_at,
            ..self.clone()
        }
    }
}
