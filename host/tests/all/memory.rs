//! Skills' memory, one contract for every backend: the same cases (get, put,
//! delete, overwrite, namespacing, quotas by keys and bytes with nothing
//! written when refused, unicode, empty values, concurrent writes, usage
//! after reopening) run against SQLite on a temp file and Redis on a real
//! `redis-server` started here on a free loopback port. Then the real
//! binary: a bot whose memory is in Redis, one that finds Redis down at
//! start, one whose Redis goes away and comes back while it runs, and a
//! SQLite bot killed with SIGKILL mid-traffic that must keep every write it
//! acknowledged.
//!
//! (`::redis` below is the client crate: `redis` alone is the module of
//! Redis cases the macro makes.)

use crate::common::{ANSWER_TIMEOUT, BotDir, Running, ServerProcess, free_port, wait_for_port};
use sandbot::memory::{MemoryStore, Quota, RedisMemory, SqliteMemory, WriteError};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own: loopback, a free port, no
/// persistence, its folder a temp dir. Killed when dropped.
pub struct RedisServer {
    /// First: fields drop in order, and the server goes before its folder.
    process: ServerProcess,
    pub port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(None)
    }

    /// A server that wants `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            password,
            dir: tempfile::tempdir().unwrap(),
            process: ServerProcess::default(),
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        if let Some(p) = &self.password {
            command.args(["--requirepass", p]);
        }
        self.process.start(
            &mut command,
            "redis-server (host/tests/servers.sh installs it)",
        );
        wait_for_port(self.port);
        self.wait_for_pong();
    }

    /// Redis may accept before it serves; a PING answered means it serves.
    fn wait_for_pong(&self) {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            if let Some(p) = &self.password {
                write!(s, "AUTH {p}\r\n").unwrap();
            }
            s.write_all(b"PING\r\n").unwrap();
            let mut got = [0u8; 64];
            let n = s.read(&mut got).unwrap_or(0);
            let text = String::from_utf8_lossy(&got[..n]);
            if text.contains("PONG") || text.starts_with("+OK") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server never answered PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// A plain client, to look at what the bot wrote.
    pub fn client(&self) -> ::redis::Connection {
        ::redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts it again on the same port (empty: it keeps nothing).
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

/// Where a backend keeps its data, so a case can open it (again).
pub enum Fixture {
    Sqlite(tempfile::TempDir),
    Redis(RedisServer),
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        Fixture::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn redis() -> Fixture {
        Fixture::Redis(RedisServer::start())
    }

    pub async fn open(&self) -> Arc<dyn MemoryStore> {
        match self {
            Fixture::Sqlite(dir) => Arc::new(SqliteMemory::open(&dir.path().join("m.db")).unwrap()),
            Fixture::Redis(server) => {
                let url = server.url();
                Arc::new(RedisMemory::connect(&url, &url, "sandbot").await.unwrap())
            }
        }
    }
}

/// Every case, once per backend: `memory::sqlite::<case>` and
/// `memory::redis::<case>`.
macro_rules! for_each_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(&super::Fixture::sqlite()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(&super::Fixture::redis()).await;
                }
            )*
        }
    };
}
pub(crate) use for_each_backend;

for_each_backend!(
    get_put_delete,
    overwrite_keeps_one_key,
    skills_reach_only_their_own_keys,
    quota_by_keys_writes_nothing_when_refused,
    quota_by_bytes_writes_nothing_when_refused,
    unicode_round_trips_and_counts_bytes,
    empty_values_are_values,
    concurrent_puts_all_land,
    concurrent_puts_cannot_pass_the_quota,
    usage_is_known_after_reopening,
);

const ANY: Quota = Quota::UNLIMITED;

fn is_quota(e: &WriteError, words: &str) -> bool {
    matches!(e, WriteError::Quota(m) if m.contains(words) && m.starts_with("memory quota reached"))
}

mod cases {
    use super::*;

    pub async fn get_put_delete(f: &Fixture) {
        let m = f.open().await;
        assert_eq!(m.get("s", "k").await.unwrap(), None);
        m.put("s", "k", "v", ANY).await.unwrap();
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some("v"));
        m.delete("s", "k").await.unwrap();
        assert_eq!(m.get("s", "k").await.unwrap(), None);
        // Deleting what is not there is not an error.
        m.delete("s", "k").await.unwrap();
        m.delete("nobody", "k").await.unwrap();
    }

    pub async fn overwrite_keeps_one_key(f: &Fixture) {
        let m = f.open().await;
        let one = Quota {
            keys: 1,
            bytes: 100,
        };
        m.put("s", "k", "first", one).await.unwrap();
        m.put("s", "k", "second", one).await.unwrap();
        m.put("s", "k", "third, longer", one).await.unwrap();
        assert_eq!(
            m.get("s", "k").await.unwrap().as_deref(),
            Some("third, longer")
        );
        // Still one key: another is refused.
        let e = m.put("s", "j", "x", one).await.unwrap_err();
        assert!(is_quota(&e, "1 keys"), "{e}");
    }

    pub async fn skills_reach_only_their_own_keys(f: &Fixture) {
        let m = f.open().await;
        m.put("seen", "alice", "1", ANY).await.unwrap();
        m.put("deploy", "alice", "2", ANY).await.unwrap();
        // Names that would collide if keys were joined naively.
        m.put("a", "b:c", "3", ANY).await.unwrap();
        m.put("a:b", "c", "4", ANY).await.unwrap();
        assert_eq!(m.get("seen", "alice").await.unwrap().as_deref(), Some("1"));
        assert_eq!(
            m.get("deploy", "alice").await.unwrap().as_deref(),
            Some("2")
        );
        assert_eq!(m.get("a", "b:c").await.unwrap().as_deref(), Some("3"));
        assert_eq!(m.get("a:b", "c").await.unwrap().as_deref(), Some("4"));
        assert_eq!(m.get("a", "c").await.unwrap(), None);
        m.delete("deploy", "alice").await.unwrap();
        assert_eq!(m.get("seen", "alice").await.unwrap().as_deref(), Some("1"));
        // Each skill has its own quota.
        let one = Quota {
            keys: 1,
            bytes: 100,
        };
        m.put("q1", "k", "v", one).await.unwrap();
        m.put("q2", "k", "v", one).await.unwrap();
    }

    pub async fn quota_by_keys_writes_nothing_when_refused(f: &Fixture) {
        let m = f.open().await;
        let q = Quota {
            keys: 3,
            bytes: 1000,
        };
        for k in ["a", "b", "c"] {
            m.put("s", k, "v", q).await.unwrap();
        }
        let e = m.put("s", "d", "v", q).await.unwrap_err();
        assert!(is_quota(&e, "this skill keeps 3 keys"), "{e}");
        assert!(is_quota(&e, "limits.stored-keys"), "{e}");
        assert_eq!(
            m.get("s", "d").await.unwrap(),
            None,
            "a refused write wrote"
        );
        // An existing key may still change; a delete makes room.
        m.put("s", "a", "w", q).await.unwrap();
        m.delete("s", "b").await.unwrap();
        m.put("s", "d", "v", q).await.unwrap();
        assert!(m.put("s", "e", "v", q).await.is_err());
    }

    pub async fn quota_by_bytes_writes_nothing_when_refused(f: &Fixture) {
        let m = f.open().await;
        let q = Quota {
            keys: 100,
            bytes: 20,
        };
        // Bytes are key plus value: 2 + 8.
        m.put("s", "k1", "12345678", q).await.unwrap();
        let e = m.put("s", "k2", "123456789", q).await.unwrap_err();
        assert!(is_quota(&e, "would make 21 bytes"), "{e}");
        assert!(is_quota(&e, "limit of 20 (limits.stored-bytes)"), "{e}");
        assert_eq!(
            m.get("s", "k2").await.unwrap(),
            None,
            "a refused write wrote"
        );
        // Exactly the quota fits.
        m.put("s", "k2", "12345678", q).await.unwrap();
        // Growing an existing key past it is refused and keeps the old value.
        let e = m.put("s", "k1", "123456789", q).await.unwrap_err();
        assert!(is_quota(&e, "limits.stored-bytes"), "{e}");
        assert_eq!(m.get("s", "k1").await.unwrap().as_deref(), Some("12345678"));
        // Shrinking is always allowed, and frees room.
        m.put("s", "k1", "1", q).await.unwrap();
        m.put("s", "k3", "1234", q).await.unwrap();
        // A delete frees its key's and its value's bytes.
        m.delete("s", "k2").await.unwrap();
        m.put("s", "k4", "12345678", q).await.unwrap();
    }

    pub async fn unicode_round_trips_and_counts_bytes(f: &Fixture) {
        let m = f.open().await;
        let pairs = [
            ("clé", "valeur é à ü"),
            ("鍵", "値は日本語"),
            ("🔑", "🦀 e\u{301} \u{200d}👩‍👩‍👧 🇺🇳"),
            ("tab\tand\nnewline", "nul\u{0}inside"),
        ];
        for (k, v) in pairs {
            m.put("s", k, v, ANY).await.unwrap();
        }
        for (k, v) in pairs {
            assert_eq!(m.get("s", k).await.unwrap().as_deref(), Some(v), "{k}");
        }
        // Bytes, not characters: "é" is two, "🔑" four.
        let q = Quota { keys: 10, bytes: 6 };
        m.put("u", "é", "🔑", q).await.unwrap();
        let e = m.put("u", "e", "x", q).await.unwrap_err();
        assert!(is_quota(&e, "would make 8 bytes"), "{e}");
    }

    pub async fn empty_values_are_values(f: &Fixture) {
        let m = f.open().await;
        m.put("s", "k", "", ANY).await.unwrap();
        assert_eq!(m.get("s", "k").await.unwrap().as_deref(), Some(""));
        // An empty value still takes its key's bytes and counts as a key.
        let q = Quota { keys: 1, bytes: 1 };
        m.put("t", "k", "", q).await.unwrap();
        assert!(m.put("t", "j", "", q).await.is_err());
        m.delete("s", "k").await.unwrap();
        assert_eq!(m.get("s", "k").await.unwrap(), None);
    }

    pub async fn concurrent_puts_all_land(f: &Fixture) {
        let m = f.open().await;
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let m = m.clone();
                tokio::spawn(async move {
                    for i in 0..10 {
                        m.put("s", &format!("t{t}-{i}"), &format!("{t}.{i}"), ANY)
                            .await
                            .unwrap();
                        // Every task rewrites one shared key too.
                        m.put("s", "shared", &t.to_string(), ANY).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for t in 0..64 {
            for i in 0..10 {
                let got = m.get("s", &format!("t{t}-{i}")).await.unwrap();
                assert_eq!(got, Some(format!("{t}.{i}")));
            }
        }
        assert!(m.get("s", "shared").await.unwrap().is_some());
        // 641 keys: one more than that is still counted right.
        let q = Quota {
            keys: 641,
            bytes: u64::MAX,
        };
        assert!(m.put("s", "one-more", "x", q).await.is_err());
    }

    /// Many writers at once, each a new key, against a quota of ten: exactly
    /// ten land, whatever the interleaving.
    pub async fn concurrent_puts_cannot_pass_the_quota(f: &Fixture) {
        let m = f.open().await;
        let q = Quota {
            keys: 10,
            bytes: 10_000,
        };
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let m = m.clone();
                tokio::spawn(async move { m.put("s", &format!("k{i}"), "v", q).await.is_ok() })
            })
            .collect();
        let mut landed = 0;
        for t in tasks {
            landed += usize::from(t.await.unwrap());
        }
        assert_eq!(landed, 10);
        let mut stored = 0;
        for i in 0..100 {
            stored += usize::from(m.get("s", &format!("k{i}")).await.unwrap().is_some());
        }
        assert_eq!(stored, 10, "refused writes must write nothing");
    }

    pub async fn usage_is_known_after_reopening(f: &Fixture) {
        let q = Quota { keys: 3, bytes: 40 };
        {
            let m = f.open().await;
            for k in ["a", "b", "c"] {
                m.put("s", k, "0123456789", q).await.unwrap();
            }
            m.delete("s", "c").await.unwrap();
        }
        let m = f.open().await;
        m.put("s", "c", "x", q).await.unwrap();
        let e = m.put("s", "d", "x", q).await.unwrap_err();
        assert!(is_quota(&e, "3 keys"), "{e}");
        // 11 + 11 + 2 = 24 bytes kept; `c` grown to 19 would make 41.
        let e = m.put("s", "c", &"y".repeat(18), q).await.unwrap_err();
        assert!(is_quota(&e, "would make 41 bytes"), "{e}");
        assert_eq!(
            m.get("s", "a").await.unwrap().as_deref(),
            Some("0123456789")
        );
    }
}

/// Two bots (two connections) writing for one skill at once still cannot
/// pass its quota together: the check and the write are one Lua script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_cannot_race_past_a_quota() {
    let server = RedisServer::start();
    let url = server.url();
    let a = Arc::new(RedisMemory::connect(&url, &url, "sandbot").await.unwrap());
    let b = Arc::new(RedisMemory::connect(&url, &url, "sandbot").await.unwrap());
    let q = Quota {
        keys: 25,
        bytes: 1 << 20,
    };
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { m.put("s", &format!("k{i}"), "value", q).await.is_ok() })
        })
        .collect();
    let mut landed = 0;
    for t in tasks {
        landed += usize::from(t.await.unwrap());
    }
    assert_eq!(landed, 25);
    // The layout docs/configuration.md documents: one hash per skill, `prefix:skill`,
    // with the bytes kept in its empty field.
    let mut c = server.client();
    let fields: BTreeMap<String, String> = ::redis::cmd("HGETALL")
        .arg("sandbot:s")
        .query(&mut c)
        .unwrap();
    assert_eq!(fields.len(), 26, "25 keys and the usage field");
    let bytes: usize = fields
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| k.len() + v.len())
        .sum();
    assert_eq!(fields[""], bytes.to_string());
    // A hash written by hand (or by an older bot) is measured once.
    let _: () = ::redis::cmd("HDEL")
        .arg("sandbot:s")
        .arg("")
        .query(&mut c)
        .unwrap();
    let e = a.put("s", "one-more", "x", q).await.unwrap_err();
    assert!(
        matches!(&e, WriteError::Quota(m) if m.contains("25 keys")),
        "{e}"
    );
    let _: () = ::redis::cmd("DEL").arg("sandbot:s").query(&mut c).unwrap();
    a.put("s", "fresh", "x", q).await.unwrap();
}

fn redis_config(url: &str) -> String {
    format!(
        "databases:\n  redis: {{url: \"{url}\", prefix: bot1}}\nskills:\n  hello: {{}}\n  seen: {{}}\n  deploy: {{}}\n"
    )
}

/// The real binary with its memory in Redis: `seen` remembers through a
/// restart, the keys are `bot1:seen`'s fields, and no SQLite file is made.
#[test]
fn redis_memory_through_the_real_bot() {
    let server = RedisServer::start();
    let bot = BotDir::new(&["hello", "seen", "deploy"], &redis_config(&server.url()));
    let mut first = bot.start();
    assert_eq!(first.ask("hello"), "Hello alice");
    assert_eq!(
        first.ask("deploy api to prod"),
        "Deploying api to prod for alice."
    );
    let (_, status, log) = first.finish();
    assert!(status.success(), "{log}");
    assert!(log.contains("memory is in Redis"), "{log}");

    let mut second = bot.start();
    assert_eq!(
        second.ask("seen alice"),
        "alice was last seen just now in shell"
    );
    assert_eq!(
        second.ask("status of api"),
        "api was last deployed to prod."
    );
    drop(second);
    assert!(!bot.path().join("data/memory.db").exists());

    let mut c = server.client();
    let seen: Option<String> = ::redis::cmd("HGET")
        .arg("bot1:seen")
        .arg("seen:alice")
        .query(&mut c)
        .unwrap();
    assert!(seen.unwrap().contains("\"room\":\"shell\""));
    let deploy: Option<String> = ::redis::cmd("HGET")
        .arg("bot1:deploy")
        .arg("last:api")
        .query(&mut c)
        .unwrap();
    assert_eq!(deploy.as_deref(), Some("prod"));
}

/// A Redis that is not there when the bot starts: it refuses to start, and
/// says which URL, without the password in it.
#[test]
fn redis_down_at_start_stops_the_bot_with_its_url() {
    let port = free_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let bot = BotDir::new(&["hello"], &redis_config(&url));
    let (_, status, log) = bot.start().finish();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "cannot reach Redis at redis://:***@127.0.0.1:{port}/0 (databases.redis.url)"
        )),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "the password leaked:\n{log}");
}

/// Redis goes away while the bot runs: the skill's call fails and it says
/// so, other skills keep answering, and memory works again once Redis is
/// back. The password never reaches the log.
#[test]
fn redis_going_away_fails_the_call_not_the_bot() {
    let mut server = RedisServer::with_password("hunter2");
    let bot = BotDir::new(&["hello", "seen", "deploy"], &redis_config(&server.url()));
    let mut run = bot.start();
    assert_eq!(run.ask("deploy api"), "Deploying api to staging for alice.");

    server.stop();
    assert_eq!(
        run.ask("deploy web to prod"),
        "⚠ deploy: memory put failed; the bot's log has the details"
    );
    assert_eq!(
        run.ask("status of api"),
        "⚠ deploy: memory get failed; the bot's log has the details"
    );
    assert_eq!(run.ask("hello"), "Hello alice");

    // Back, empty (it keeps nothing): the next calls reconnect.
    server.restart();
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let answer = run.ask("deploy web to prod");
        if answer == "Deploying web to prod for alice." {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "memory never came back: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(run.ask("status of web"), "web was last deployed to prod.");
    assert_eq!(run.ask("hello"), "Hello alice");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    assert!(log.contains("memory put failed"), "{log}");
    assert!(!log.contains("hunter2"), "the password leaked:\n{log}");
}

/// SQLite: every write the bot acknowledged (the skill answered after its
/// put returned) is there after `kill -9` mid-traffic and a restart. A put
/// is answered after its batch's COMMIT; in WAL mode with
/// `synchronous = NORMAL` a commit is in the WAL file (the OS's page cache)
/// when it returns, which a killed process cannot take back. (Power loss
/// can: NORMAL fsyncs at checkpoints only.)
#[test]
fn sqlite_keeps_every_acknowledged_write_through_kill_9() {
    let bot = BotDir::new(&["deploy"], "skills:\n  deploy: {}\n");
    let mut run = bot.start();
    let mut acked: BTreeMap<usize, String> = BTreeMap::new();
    let record = |acked: &mut BTreeMap<usize, String>, line: &str| {
        // "Deploying app17 to env17 for alice."
        let rest = line
            .strip_prefix("Deploying app")
            .unwrap_or_else(|| panic!("not an acknowledgement: {line}"));
        let (n, rest) = rest.split_once(" to ").unwrap();
        let env = rest.strip_suffix(" for alice.").unwrap();
        acked.insert(n.parse().unwrap(), env.to_owned());
    };
    let say = |run: &mut Running, i: usize| run.say(&format!("deploy app{i} to env{i}"));
    let mut sent = 0;
    // Steady traffic first: bursts of 40, each answered.
    for _ in 0..5 {
        for _ in 0..40 {
            say(&mut run, sent);
            sent += 1;
        }
        for line in run.answers(40) {
            record(&mut acked, &line);
        }
    }
    // Then a burst, and the kill while it is being handled.
    for _ in 0..60 {
        say(&mut run, sent);
        sent += 1;
    }
    for line in run.answers(3) {
        record(&mut acked, &line);
    }
    for line in run.kill() {
        record(&mut acked, &line);
    }
    assert!(acked.len() >= 203);
    assert!(
        acked.len() < sent,
        "every write was answered before the kill: nothing was in flight"
    );

    let mut again = bot.start();
    for (i, env) in &acked {
        assert_eq!(
            again.ask(&format!("status of app{i}")),
            format!("app{i} was last deployed to {env}."),
            "an acknowledged write was lost ({} acknowledged of {sent} sent)",
            acked.len()
        );
    }
}
