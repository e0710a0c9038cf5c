//! Memory's atomic operations (`increment`, `compare-and-swap`, `batch`):
//! the contract on both backends (SQLite on a temp file, a real
//! `redis-server`), then the real binary with the `count` example skill:
//! ten websocket clients counting one key fifty times each end at exactly
//! 500, on SQLite, on Redis, with two bots sharing one Redis, and with a
//! connector host and two workers on NATS; the compare-and-swap path
//! (`recount`) ends there too.

use crate::common::{BotDir, free_port, http, wait_for_port};
use crate::memory::{Fixture, RedisServer, for_each_backend};
use futures::{SinkExt, StreamExt};
use sandbot::memory::{Quota, Write, WriteError};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const ANY: Quota = Quota::UNLIMITED;

fn put(key: &str, value: &str) -> Write {
    Write::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn delete(key: &str) -> Write {
    Write::Delete { key: key.into() }
}

for_each_backend!(
    increment_counts_from_zero_and_stores_text,
    increment_refuses_text_and_overflow_writing_nothing,
    increment_is_under_the_quota,
    concurrent_increments_lose_nothing,
    compare_and_swap_writes_only_on_a_match,
    concurrent_compare_and_swap_retries_lose_nothing,
    compare_and_swap_is_under_the_quota,
    batch_applies_every_write_in_order,
    batch_over_the_quota_writes_nothing,
);

mod cases {
    use super::*;

    pub async fn increment_counts_from_zero_and_stores_text(f: &Fixture) {
        let m = f.open().await;
        assert_eq!(m.increment("s", "n", 1, ANY).await.unwrap(), 1);
        assert_eq!(m.increment("s", "n", 41, ANY).await.unwrap(), 42);
        assert_eq!(m.increment("s", "n", -50, ANY).await.unwrap(), -8);
        assert_eq!(m.get("s", "n").await.unwrap().as_deref(), Some("-8"));
        // A value put as text counts on from there.
        m.put("s", "p", "9007199254740993", ANY).await.unwrap();
        // Past 2^53: no rounding through a double anywhere.
        assert_eq!(
            m.increment("s", "p", 2, ANY).await.unwrap(),
            9_007_199_254_740_995
        );
        // Another skill's key of the same name is its own.
        assert_eq!(m.increment("t", "n", 1, ANY).await.unwrap(), 1);
    }

    pub async fn increment_refuses_text_and_overflow_writing_nothing(f: &Fixture) {
        let m = f.open().await;
        for text in ["ten", "1.5", " 7", "07", "+7", ""] {
            m.put("s", "k", text, ANY).await.unwrap();
            let e = m.increment("s", "k", 1, ANY).await.unwrap_err();
            assert!(
                matches!(&e, WriteError::Invalid(why) if why.starts_with("cannot increment: the value stored is not an integer")),
                "{text:?}: {e}"
            );
            assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some(text));
        }
        m.put("s", "k", &i64::MAX.to_string(), ANY).await.unwrap();
        let e = m.increment("s", "k", 1, ANY).await.unwrap_err();
        assert!(
            matches!(&e, WriteError::Invalid(why) if why.contains("does not fit in a 64-bit integer")),
            "{e}"
        );
        assert_eq!(
            m.get("s", "k").await.unwrap(),
            Some(i64::MAX.to_string()),
            "a refused increment wrote"
        );
    }

    pub async fn increment_is_under_the_quota(f: &Fixture) {
        let m = f.open().await;
        // "n" + "9" is 2 bytes; "n" + "10" would be 3.
        let q = Quota { keys: 1, bytes: 2 };
        assert_eq!(m.increment("s", "n", 9, q).await.unwrap(), 9);
        let e = m.increment("s", "n", 1, q).await.unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("would make 3 bytes")),
            "{e}"
        );
        assert_eq!(m.get("s", "n").await.unwrap().as_deref(), Some("9"));
        // A second key is past the key count.
        let e = m.increment("s", "other", 1, q).await.unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("1 keys")),
            "{e}"
        );
        assert_eq!(m.get("s", "other").await.unwrap(), None);
        // Shrinking is allowed, as for a put.
        assert_eq!(m.increment("s", "n", -8, q).await.unwrap(), 1);
    }

    pub async fn concurrent_increments_lose_nothing(f: &Fixture) {
        let m = f.open().await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..25 {
                        seen.push(m.increment("s", "hits", 1, ANY).await.unwrap());
                    }
                    seen
                })
            })
            .collect();
        let mut all = BTreeSet::new();
        for t in tasks {
            for n in t.await.unwrap() {
                assert!(all.insert(n), "{n} was returned twice");
            }
        }
        assert_eq!(all, (1..=500).collect::<BTreeSet<i64>>());
        assert_eq!(m.get("s", "hits").await.unwrap().as_deref(), Some("500"));
    }

    pub async fn compare_and_swap_writes_only_on_a_match(f: &Fixture) {
        let m = f.open().await;
        // None: only if absent.
        assert!(m.compare_and_swap("s", "k", None, "a", ANY).await.unwrap());
        assert!(!m.compare_and_swap("s", "k", None, "b", ANY).await.unwrap());
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some("a"));
        // A conflict: the value changed since it was read.
        assert!(
            !m.compare_and_swap("s", "k", Some("stale"), "c", ANY)
                .await
                .unwrap()
        );
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some("a"));
        assert!(
            m.compare_and_swap("s", "k", Some("a"), "d", ANY)
                .await
                .unwrap()
        );
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some("d"));
        // Expecting a value where there is none is a conflict, not a write.
        assert!(
            !m.compare_and_swap("s", "gone", Some(""), "x", ANY)
                .await
                .unwrap()
        );
        assert_eq!(m.get("s", "gone").await.unwrap(), None);
        // The empty value is a value, not an absence.
        m.put("s", "e", "", ANY).await.unwrap();
        assert!(!m.compare_and_swap("s", "e", None, "x", ANY).await.unwrap());
        assert!(
            m.compare_and_swap("s", "e", Some(""), "x", ANY)
                .await
                .unwrap()
        );
    }

    pub async fn concurrent_compare_and_swap_retries_lose_nothing(f: &Fixture) {
        let m = f.open().await;
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    let mut conflicts = 0;
                    for _ in 0..20 {
                        loop {
                            let old = m.get("s", "n").await.unwrap();
                            let n: i64 = old.as_deref().map_or(0, |v| v.parse().unwrap());
                            let new = (n + 1).to_string();
                            if m.compare_and_swap("s", "n", old.as_deref(), &new, ANY)
                                .await
                                .unwrap()
                            {
                                break;
                            }
                            conflicts += 1;
                        }
                    }
                    conflicts
                })
            })
            .collect();
        let mut conflicts = 0;
        for t in tasks {
            conflicts += t.await.unwrap();
        }
        assert_eq!(m.get("s", "n").await.unwrap().as_deref(), Some("200"));
        println!("200 increments by compare-and-swap: {conflicts} conflicts retried");
    }

    pub async fn compare_and_swap_is_under_the_quota(f: &Fixture) {
        let m = f.open().await;
        let q = Quota { keys: 1, bytes: 4 };
        assert!(m.compare_and_swap("s", "k", None, "v", q).await.unwrap());
        let e = m
            .compare_and_swap("s", "j", None, "v", q)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("1 keys")),
            "{e}"
        );
        let e = m
            .compare_and_swap("s", "k", Some("v"), "long", q)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("would make 5 bytes")),
            "{e}"
        );
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(m.get("s", "j").await.unwrap(), None);
    }

    pub async fn batch_applies_every_write_in_order(f: &Fixture) {
        let m = f.open().await;
        m.put("s", "old", "x", ANY).await.unwrap();
        m.batch(
            "s",
            vec![
                put("a", "1"),
                put("b", "2"),
                put("a", "3"),
                delete("old"),
                put("c", "4"),
                delete("c"),
                delete("never-there"),
            ],
            ANY,
        )
        .await
        .unwrap();
        assert_eq!(m.get("s", "a").await.unwrap().as_deref(), Some("3"));
        assert_eq!(m.get("s", "b").await.unwrap().as_deref(), Some("2"));
        assert_eq!(m.get("s", "c").await.unwrap(), None);
        assert_eq!(m.get("s", "old").await.unwrap(), None);
        // The usage it leaves is exact: keys a and b, 4 bytes.
        let q = Quota { keys: 2, bytes: 4 };
        let e = m.put("s", "d", "", q).await.unwrap_err();
        assert!(matches!(&e, WriteError::Quota(_)), "{e}");
        m.put("s", "a", "9", q).await.unwrap();
        // An empty batch is no write at all.
        m.batch("s", Vec::new(), q).await.unwrap();
        // Deleting everything leaves nothing behind.
        m.batch("s", vec![delete("a"), delete("b")], q)
            .await
            .unwrap();
        m.batch("s", vec![put("x", "1"), put("y", "1")], q)
            .await
            .unwrap();
    }

    pub async fn batch_over_the_quota_writes_nothing(f: &Fixture) {
        let m = f.open().await;
        let q = Quota {
            keys: 3,
            bytes: 100,
        };
        m.put("s", "a", "1", q).await.unwrap();
        // Three new keys on top of one: over, and none of them lands.
        let e = m
            .batch(
                "s",
                vec![put("b", "1"), put("c", "1"), put("d", "1"), put("a", "2")],
                q,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("this batch would make 4 keys, over this skill's limit of 3 (limits.stored-keys)")),
            "{e}"
        );
        for k in ["b", "c", "d"] {
            assert_eq!(m.get("s", k).await.unwrap(), None, "{k} was written");
        }
        assert_eq!(m.get("s", "a").await.unwrap().as_deref(), Some("1"));
        // The same with a delete in it fits: the quota is on what is left.
        m.batch(
            "s",
            vec![put("b", "1"), put("c", "1"), put("d", "1"), delete("a")],
            q,
        )
        .await
        .unwrap();
        assert_eq!(m.get("s", "a").await.unwrap(), None);
        // Bytes: one big value sinks the whole batch.
        let e = m
            .batch("s", vec![delete("b"), put("c", &"x".repeat(200))], q)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, WriteError::Quota(why) if why.contains("limits.stored-bytes")),
            "{e}"
        );
        assert_eq!(m.get("s", "b").await.unwrap().as_deref(), Some("1"));
        assert_eq!(m.get("s", "c").await.unwrap().as_deref(), Some("1"));
    }
}

/// Two bots' connections incrementing one skill's key at once: every
/// increment lands, and each value is handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_increment_one_key_without_losing_any() {
    let redis = Fixture::redis();
    let (m1, m2) = (redis.open().await, redis.open().await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let m = if i % 2 == 0 { m1.clone() } else { m2.clone() };
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..25 {
                    got.push(m.increment("s", "n", 1, ANY).await.unwrap());
                }
                got
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 500, "a value was handed out twice");
    assert_eq!(m1.get("s", "n").await.unwrap().as_deref(), Some("500"));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket client of the bot on `port`: its socket and socket id.
async fn client(port: u16) -> (Socket, String) {
    let (status, body) =
        tokio::task::spawn_blocking(move || http(port, "POST", "/connector/websocket", &[], ""))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = json["socket"].as_str().unwrap().to_string();
    let url = format!("ws://127.0.0.1:{port}/connector/websocket/{id}");
    (tokio_tungstenite::connect_async(url).await.unwrap().0, id)
}

async fn answer(ws: &mut Socket) -> String {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("an answer within 30 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// `clients` sockets spread over `ports`, each sending `per_client` copies
/// of `text` at once and reading as many answers; returns every answer.
async fn count_concurrently(
    ports: &[u16],
    clients: usize,
    per_client: usize,
    text: &str,
) -> Vec<String> {
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (port, text) = (ports[c % ports.len()], text.to_owned());
            tokio::spawn(async move {
                let (mut ws, id) = client(port).await;
                for _ in 0..per_client {
                    let frame =
                        serde_json::json!({"message": text, "user": format!("user{c}"), "socket": id});
                    ws.send(Message::text(frame.to_string())).await.unwrap();
                }
                let mut got = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    got.push(answer(&mut ws).await);
                }
                let _ = ws.close(None).await;
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    println!(
        "{} × `{text}` over {clients} sockets answered in {:?}",
        all.len(),
        started.elapsed()
    );
    all
}

/// Configuration for a bot with the websocket connector on `port`, the
/// `count` skill with room for every message to queue, and `memory` (a
/// `databases:` block, or nothing for SQLite).
fn count_bot(port: u16, memory: &str) -> BotDir {
    BotDir::with_connectors(
        &["count"],
        &format!(
            "  websocket: {{max-connections: 50, max-connections-per-client: 50}}\nweb: {{port: {port}}}\n{memory}skills:\n  count: {{limits: {{queue: 1000}}}}\n"
        ),
    )
}

/// The answers `hits: N` must be 1..=500, each once: every increment saw
/// the one before it.
fn assert_each_count_once(answers: &[String], name: &str) {
    let counts: BTreeSet<i64> = answers
        .iter()
        .map(|a| {
            a.strip_prefix(&format!("{name}: "))
                .unwrap_or_else(|| panic!("not a count: {a}"))
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(counts.len(), answers.len(), "a count was answered twice");
    assert_eq!(counts, (1..=answers.len() as i64).collect::<BTreeSet<_>>());
}

async fn ten_clients_count_to_500(memory: &str) {
    let port = free_port();
    let bot = count_bot(port, memory);
    let mut run = bot.start();
    wait_for_port(port);
    let answers = count_concurrently(&[port], 10, 50, "count hits").await;
    assert_each_count_once(&answers, "hits");
    let answers = count_concurrently(&[port], 10, 50, "recount cas").await;
    assert_each_count_once(&answers, "cas");
    assert_eq!(run.ask("how many hits"), "hits: 500");
    assert_eq!(run.ask("how many cas"), "cas: 500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_websocket_clients_count_one_key_to_exactly_500_on_sqlite() {
    ten_clients_count_to_500("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_websocket_clients_count_one_key_to_exactly_500_on_redis() {
    let server = RedisServer::start();
    ten_clients_count_to_500(&format!(
        "databases:\n  redis: {{url: \"{}\"}}\n",
        server.url()
    ))
    .await;
    let mut c = server.client();
    let stored: Option<String> = ::redis::cmd("HGET")
        .arg("sandbot:count")
        .arg("count:hits")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored.as_deref(), Some("500"));
}

/// Two bots, one Redis: five clients on each, one key, 500 in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_on_one_redis_count_one_key_to_exactly_500() {
    let server = RedisServer::start();
    let memory = format!("databases:\n  redis: {{url: \"{}\"}}\n", server.url());
    let (p1, p2) = (free_port(), free_port());
    let (b1, b2) = (count_bot(p1, &memory), count_bot(p2, &memory));
    let (mut r1, _r2) = (b1.start(), b2.start());
    wait_for_port(p1);
    wait_for_port(p2);
    let answers = count_concurrently(&[p1, p2], 10, 50, "count hits").await;
    assert_each_count_once(&answers, "hits");
    assert_eq!(r1.ask("how many hits"), "hits: 500");
}

/// Through the real skill: a batch past the quota writes none of its keys,
/// and the skill is told why.
#[test]
fn a_batch_past_the_quota_writes_nothing_through_the_skill() {
    let bot = BotDir::new(&["count"], "skills:\n  count: {limits: {stored-keys: 5}}\n");
    let mut run = bot.start();
    assert_eq!(run.ask("count coffee"), "coffee: 1");
    assert_eq!(
        run.ask("fill 5"),
        "⚠ count: memory quota reached: this batch would make 6 keys, over this skill's limit of 5 (limits.stored-keys)"
    );
    assert_eq!(run.ask("how many fill1"), "fill1: 0");
    assert_eq!(run.ask("how many fill5"), "fill5: 0");
    // The size bound is checked before the backend sees anything.
    assert_eq!(
        run.ask("fill 1001"),
        "⚠ count: a memory batch holds at most 1000 writes; this one has 1001"
    );
    assert_eq!(run.ask("how many fill1"), "fill1: 0");
    assert_eq!(run.ask("fill 4"), "filled 4 keys");
    assert_eq!(run.ask("how many fill4"), "fill4: 100");
    assert_eq!(
        run.ask("reset fill1 fill2 coffee"),
        "reset fill1, fill2, coffee"
    );
    assert_eq!(run.ask("how many coffee"), "coffee: 0");
    assert_eq!(run.ask("count coffee by 41"), "coffee: 41");
    assert_eq!(run.ask("count fill3 by 1"), "fill3: 101");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
}

/// Several hosts: a connector host and two workers on NATS, memory in one
/// Redis. Only the workers run skills (the connector host's role is
/// `connectors`), so the increments come from two processes at once; ten clients counting fifty times
/// each end at exactly 500, each count handed out once. (A long ack wait:
/// this is about memory, not about redelivery, which is at-least-once for
/// a skill's side effects by design.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_host_and_two_workers_count_one_key_to_exactly_500() {
    let nats = crate::cluster::NatsServer::start();
    let redis = RedisServer::start();
    let host = |name: &str, roles: &str, connectors: &str, extra: &str| {
        BotDir::with_connectors(
            &["count"],
            &format!(
                "{connectors}bus:\n  type: nats\n  url: {}\n  host: {name}\n  ack-wait: 30s\nroles: [{roles}]\ndatabases:\n  redis: {{url: '{}'}}\nskills:\n  count: {{limits: {{queue: 1000}}}}\n{extra}",
                nats.url(),
                redis.url()
            ),
        )
    };
    let port = free_port();
    let conn_dir = host(
        "conn",
        "connectors",
        "  websocket: {max-connections: 50, max-connections-per-client: 50}\n",
        &format!("web: {{port: {port}}}\n"),
    );
    let (w1_dir, w2_dir) = (host("w1", "workers", "", ""), host("w2", "workers", "", ""));
    let _conn = conn_dir.start();
    let (w1, w2) = (w1_dir.start(), w2_dir.start());
    w1.wait_for_log("on the NATS bus");
    w2.wait_for_log("on the NATS bus");
    wait_for_port(port);
    let answers = count_concurrently(&[port], 10, 50, "count hits").await;
    assert_each_count_once(&answers, "hits");
    let answers = count_concurrently(&[port], 10, 50, "recount cas").await;
    assert_each_count_once(&answers, "cas");
    let mut c = redis.client();
    for key in ["count:hits", "count:cas"] {
        let stored: Option<String> = ::redis::cmd("HGET")
            .arg("sandbot:count")
            .arg(key)
            .query(&mut c)
            .unwrap();
        assert_eq!(stored.as_deref(), Some("500"), "{key}");
    }
}
