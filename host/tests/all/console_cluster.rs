//! The console on several hosts: two bots on one nats-server (started
//! here on loopback, as the cluster tests do), and `/api/v1/connectors`
//! on one of them lists both, each with its roles, its bus state, its
//! leases (one of them holds `cron`) and its load, and the stream's lag;
//! and a skill's memory, kept in Redis, counted as its quota counts it.

use crate::cluster::NatsServer;
use crate::common::*;
use crate::console::{admin, log_in, request};
use crate::memory::RedisServer;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn the_console_shows_every_host_its_roles_leases_and_load() {
    let nats = NatsServer::start();
    let redis = RedisServer::start();
    let host = |name: &str, roles: &str, extra: &str| {
        BotDir::with_connectors(
            &["hello", "count"],
            &format!(
                "bus:\n  type: nats\n  url: {}\n  host: {name}\n  lease-ttl: 3s\nroles: [{roles}]\ndatabases:\n  redis: {{url: '{}'}}\n{extra}",
                nats.url(),
                redis.url()
            ),
        )
    };
    let port = free_port();
    let a_dir = host(
        "alpha",
        "connectors, workers",
        &format!("web: {{port: {port}}}\nconsole: {{}}\n"),
    );
    assert!(admin(&a_dir, &["add", "victor"], "victor's long password").0);
    let mut a = a_dir.start();
    wait_for_port(port);
    let b_dir = host("beta", "workers", "");
    let b = b_dir.start();
    b.wait_for_log("on the NATS bus");
    let victor = log_in(port, "victor", "victor's long password").unwrap();
    let as_victor = [("cookie", victor.cookie.as_str())];

    // Each host says its status every beat: wait for both, and the cron lease.
    let deadline = Instant::now() + Duration::from_secs(15);
    let answer = loop {
        let (status, _, body) = request(port, "GET", "/api/v1/connectors", &as_victor, "");
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let hosts = answer["cluster"]["hosts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let cron = hosts
            .iter()
            .filter(|h| h["leases"].as_array().unwrap().iter().any(|l| l == "cron"))
            .count();
        if hosts.len() == 2 && cron == 1 {
            break answer;
        }
        assert!(Instant::now() < deadline, "{answer}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let cluster = &answer["cluster"];
    assert_eq!(cluster["host"], "alpha", "{answer}");
    assert!(cluster["error"].is_null(), "{answer}");
    let hosts = cluster["hosts"].as_array().unwrap();
    assert_eq!(hosts[0]["host"], "alpha");
    assert_eq!(hosts[1]["host"], "beta");
    assert!(
        hosts[0]["roles"].as_str().unwrap().contains("connectors"),
        "{answer}"
    );
    assert!(
        !hosts[1]["roles"].as_str().unwrap().contains("connectors"),
        "{answer}"
    );
    for h in hosts {
        assert_eq!(h["bus"], "connected", "{answer}");
        assert!(h["in_flight"].is_u64() && h["skills"] == 2, "{answer}");
    }
    // The stream's lag, read now.
    assert!(cluster["stream"]["pending"].is_u64(), "{answer}");
    assert_eq!(answer["connectors"][0]["name"], "shell", "{answer}");

    // The skills' memory is Redis's here: what count keeps, as its quota
    // counts it (the key and the value's bytes).
    assert_eq!(a.ask("count apples by 5"), "apples: 5");
    let (_, _, skills) = request(port, "GET", "/api/v1/skills", &as_victor, "");
    let skills: Value = serde_json::from_str(&skills).unwrap();
    let count = skills["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "count")
        .unwrap();
    assert_eq!(count["memory"]["keys"], 1, "{count}");
    assert_eq!(
        count["memory"]["bytes"],
        "count:apples".len() + 1,
        "{count}"
    );

    // A host gone quiet is shown gone, with no leases.
    drop(b.kill());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, _, body) = request(port, "GET", "/api/v1/connectors", &as_victor, "");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let beta = answer["cluster"]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == "beta")
            .cloned();
        // Gone from the bucket, or shown gone.
        if beta
            .as_ref()
            .is_none_or(|h| h["bus"] == "gone" && h["leases"] == serde_json::json!([]))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{answer}");
        std::thread::sleep(Duration::from_millis(300));
    }
    a.terminate();
    let _ = a.finish();
}
