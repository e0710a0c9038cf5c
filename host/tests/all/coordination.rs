//! The one contract of several hosts' coordination (`sandbot::coordination`),
//! held by both backends against real servers: a nats-server with
//! JetStream and a redis-server on loopback, each case once per backend
//! (`coordination::nats::<case>`, `coordination::redis::<case>`). Two or
//! three "hosts" are coordinations of their own, with their own
//! connections, in one process: a lease is one holder's until given back
//! or expired, a host that stops beating is seen gone within the TTL and
//! one that leaves at once, an ask is answered, and an ask to a host
//! nobody hears for fails at once rather than after its wait.

use crate::cluster::NatsServer;
use crate::memory::RedisServer;
use sandbot::coordination::{Answerer, AskError, Coordination, Renewal, alive};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The TTL every case runs with.
const TTL: Duration = Duration::from_secs(1);

pub enum Fixture {
    Nats(NatsServer),
    Redis(RedisServer),
}

impl Fixture {
    fn nats() -> Fixture {
        Fixture::Nats(NatsServer::start())
    }

    fn redis() -> Fixture {
        Fixture::Redis(RedisServer::start())
    }

    /// The coordination of host `host`, on a connection of its own.
    async fn host(&self, host: &str) -> Arc<dyn Coordination> {
        match self {
            Fixture::Nats(server) => {
                let settings: sandbot::config::NatsSettings = serde_yaml_ng::from_str(&format!(
                    "url: {}\nhost: {host}\nprefix: t\nlease-ttl: 1s\n",
                    server.url()
                ))
                .unwrap();
                let cluster = sandbot::nats::Cluster::connect(&settings).await.unwrap();
                Arc::new(
                    sandbot::nats::coordination::NatsCoordination::open(cluster)
                        .await
                        .unwrap(),
                )
            }
            Fixture::Redis(server) => {
                let url = server.url();
                Arc::new(
                    sandbot::coordination::redis::RedisCoordination::connect(
                        &url, &url, "t", host, TTL,
                    )
                    .await
                    .unwrap(),
                )
            }
        }
    }
}

/// Every case, once per backend.
macro_rules! for_each_backend {
    ($($case:ident),* $(,)?) => {
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(&super::Fixture::nats()).await;
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

for_each_backend!(
    a_lease_has_one_holder_until_given_back_or_expired,
    a_host_that_stops_beating_is_gone_within_the_ttl_and_one_that_leaves_at_once,
    an_ask_is_answered_and_an_ask_nobody_hears_fails_at_once,
);

/// Polls `check` until it holds, for at most `within`; how long it took.
async fn within(within: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

mod cases {
    use super::*;

    pub async fn a_lease_has_one_holder_until_given_back_or_expired(f: &Fixture) {
        let (a, b) = (f.host("a").await, f.host("b").await);
        let token = a.take("cron").await.unwrap().expect("nobody holds it");
        assert_eq!(b.take("cron").await.unwrap(), None, "a holds it");
        assert_eq!(a.holder("cron").await.as_deref(), Some("a"));
        // Renewed past its TTL, it is still a's.
        let mut token = token;
        for _ in 0..4 {
            tokio::time::sleep(TTL / 2).await;
            token = match a.renew("cron", token).await.unwrap() {
                Renewal::Renewed(next) => next,
                Renewal::Lost => panic!("a lost a lease it renewed in time"),
            };
            assert_eq!(b.take("cron").await.unwrap(), None, "a still holds it");
        }
        // Given back: b takes it at once.
        a.release("cron", token).await;
        let token_b = b.take("cron").await.unwrap().expect("given back");
        assert_eq!(b.holder("cron").await.as_deref(), Some("b"));
        // b dies (no renewal): it expires, a takes it, and b's late
        // renewal finds it lost.
        let took = within(TTL * 5, async || a.take("cron").await.unwrap().is_some()).await;
        let took = took.expect("an unrenewed lease expires");
        assert!(took >= TTL / 2, "taken before its TTL ran out: {took:?}");
        assert_eq!(a.holder("cron").await.as_deref(), Some("a"));
        assert_eq!(b.renew("cron", token_b).await.unwrap(), Renewal::Lost);
        // Leases are by name: another is free.
        assert!(b.take("connector-irc").await.unwrap().is_some());
    }

    pub async fn a_host_that_stops_beating_is_gone_within_the_ttl_and_one_that_leaves_at_once(
        f: &Fixture,
    ) {
        let (a, b, c) = (f.host("a").await, f.host("b").await, f.host("c").await);
        a.beat(b"from a".to_vec()).await.unwrap();
        b.beat(b"from b".to_vec()).await.unwrap();
        c.beat(Vec::new()).await.unwrap();
        let mut seen = alive(&*b).await.unwrap();
        seen.sort();
        assert_eq!(seen, ["a", "b", "c"]);
        let hosts = b.hosts().await.unwrap();
        let of_a = hosts.iter().find(|p| p.host == "a").expect("a is listed");
        assert_eq!(of_a.status, b"from a", "what a said at its beat");
        // c leaves: gone at once, for everyone.
        c.leave().await;
        let mut seen = alive(&*b).await.unwrap();
        seen.sort();
        assert_eq!(seen, ["a", "b"], "c left");
        // a stops beating while b goes on: a is gone within the TTL and a
        // little (the server's expiry runs on a timer), and not before
        // its TTL.
        let beating = {
            let b = b.clone();
            tokio::spawn(async move {
                loop {
                    b.beat(b"from b".to_vec()).await.unwrap();
                    tokio::time::sleep(TTL / 4).await;
                }
            })
        };
        let gone = within(TTL * 4, async || {
            !alive(&*b).await.unwrap().contains(&"a".to_owned())
        })
        .await;
        beating.abort();
        let gone = gone.expect("a host that stopped beating is seen gone");
        assert!(gone >= TTL / 2, "seen gone before its TTL: {gone:?}");
        assert!(alive(&*b).await.unwrap().contains(&"b".to_owned()));
    }

    pub async fn an_ask_is_answered_and_an_ask_nobody_hears_fails_at_once(f: &Fixture) {
        let (a, b) = (f.host("a").await, f.host("b").await);
        let echo: Answerer = Arc::new(|request| {
            Box::pin(async move {
                let mut answer = b"heard: ".to_vec();
                answer.extend(request);
                answer
            })
        });
        let slow: Answerer = Arc::new(|_| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                b"late".to_vec()
            })
        });
        let serving = {
            let a = a.clone();
            tokio::spawn(async move {
                tokio::join!(a.serve("echo", echo), a.serve("slow", slow));
            })
        };
        // Until a hears, asks find nobody; then they are answered.
        let heard = within(Duration::from_secs(5), async || {
            b.ask("a", "echo", b"hello".to_vec(), Duration::from_secs(5))
                .await
                .is_ok()
        })
        .await;
        heard.expect("a serves");
        let answer = b
            .ask("a", "echo", b"approve 3".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer, b"heard: approve 3");
        // One that hears but does not answer in time is silent.
        let asked = Instant::now();
        let late = b
            .ask("a", "slow", Vec::new(), Duration::from_millis(300))
            .await;
        assert!(matches!(late, Err(AskError::Silent(..))), "{late:?}");
        assert!(asked.elapsed() < Duration::from_secs(2));
        // Nobody hears for a host that never was, nor a topic a does not
        // serve, nor a once it stops: each fails at once, not after its
        // 10 s wait.
        let asks: [(&str, &str); 2] = [("nobody", "echo"), ("a", "other")];
        for (host, topic) in asks {
            let asked = Instant::now();
            let failed = b
                .ask(host, topic, Vec::new(), Duration::from_secs(10))
                .await;
            assert!(matches!(failed, Err(AskError::Gone(_))), "{failed:?}");
            assert!(
                asked.elapsed() < Duration::from_secs(2),
                "{:?}",
                asked.elapsed()
            );
        }
        // Once a stops hearing (its subscriptions dropped, which reaches
        // the server a moment later: an ask in that moment waits, so each
        // try here waits 3 s at most).
        serving.abort();
        let _ = serving.await;
        let gone = within(Duration::from_secs(10), async || {
            let asked = Instant::now();
            let failed = b.ask("a", "echo", Vec::new(), Duration::from_secs(3)).await;
            matches!(failed, Err(AskError::Gone(_))) && asked.elapsed() < Duration::from_secs(2)
        })
        .await;
        gone.expect("an ask to a host that stopped hearing fails at once");
    }
}
