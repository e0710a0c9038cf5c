//! `make bench`: the workflow engine's figures, through the real bot
//! (`App`, its SQLite store and history, real `ci` skill instances):
//! - the engine's own CPU per task: a chain of 200 `wait 0ms` tasks (no
//!   skill), process CPU divided by tasks, stored step by step as always;
//!   then ten such chains at once (their steps share commits);
//! - a fan-out/fan-in of 100 `ci.test` branches of 200 ms each: the run's
//!   wall time against its longest branch (from the branches' records);
//! - the chain again with the runs in Redis (`databases.redis`, as on
//!   several hosts; a redis-server of its own on loopback): this process's
//!   CPU and Redis's own (`INFO cpu`) per task, and the wall time per task.
//!
//! Prints, asserts nothing.

use sandbot::app::App;
use sandbot::config;
use sandbot::event::{Event, Execution, Message, now_ms};
use sandbot::observe::Observer;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Hands every workflow run's own record (and its tasks') to the bench.
struct Ends {
    runs: mpsc::UnboundedSender<Execution>,
    tasks: Mutex<Vec<Execution>>,
}

impl Observer for Ends {
    fn executed(&self, e: &Execution) {
        if e.version == "workflow" {
            let _ = self.runs.send(e.clone());
        } else if e.parent.is_some() {
            self.tasks.lock().unwrap().push(e.clone());
        }
    }
}

fn message(text: &str) -> Event {
    Event::Message(Message {
        id: "1".into(),
        text: text.into(),
        user: "alice".into(),
        user_id: "alice".into(),
        room: "ops".into(),
        connector: "shell".into(),
        thread: None,
        received_at: now_ms(),
        addressed: true,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// User plus system CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

const CHAIN: usize = 200;
const BRANCHES: usize = 100;
const BRANCH_MS: u64 = 200;

fn workflows() -> (String, String) {
    let mut chain = String::from("tasks:\n");
    for i in 0..CHAIN {
        chain.push_str(&format!(
            "  t{i}:\n    action: wait\n    input: {{for: 0ms}}\n"
        ));
        if i + 1 < CHAIN {
            chain.push_str(&format!("    next: [{{do: t{}}}]\n", i + 1));
        }
    }
    let branches: Vec<String> = (0..BRANCHES).map(|i| format!("b{i}")).collect();
    let mut fan = format!(
        "tasks:\n  start:\n    action: wait\n    input: {{for: 0ms}}\n    next: [{{do: [{}]}}]\n",
        branches.join(", ")
    );
    for b in &branches {
        fan.push_str(&format!(
            "  {b}:\n    action: ci.test\n    input: {{suite: {b}, ms: {BRANCH_MS}}}\n    next: [{{do: end}}]\n"
        ));
    }
    fan.push_str("  end:\n    join: all\n    action: wait\n    input: {for: 0ms}\n");
    (chain, fan)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skills")).unwrap();
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    std::fs::copy(
        sandbot_test_skills::dir().join("ci.wasm"),
        dir.path().join("skills/ci.wasm"),
    )
    .unwrap();
    let (chain, fan) = workflows();
    std::fs::write(dir.path().join("workflows/chain.yaml"), chain).unwrap();
    std::fs::write(dir.path().join("workflows/fan.yaml"), fan).unwrap();
    std::fs::write(
        dir.path().join("configuration.yaml"),
        "connectors:\n  shell: {}\nskills-dir: skills\ndata-dir: data\nlogging: {level: error}\nskills:\n  ci:\n    limits: {concurrency: 128, queue: 128}\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut runs) = mpsc::unbounded_channel();
        let ends = Arc::new(Ends {
            runs: tx,
            tasks: Mutex::new(Vec::new()),
        });
        let config = config::load(&dir.path().join("configuration.yaml")).unwrap();
        let mut app = App::start_with(config, vec![ends.clone()]).await.unwrap();
        let mut outbox = app.take_outbox("shell").unwrap();
        tokio::spawn(async move { while outbox.recv().await.is_some() {} });
        let bot = app.bot.clone();
        let (cpu, _) = chains(&app, &mut runs, 1, 5).await;
        println!(
            "workflow engine: {cpu:.1} µs of CPU per task (median of 5 chains of {CHAIN} `wait 0ms` tasks, stored step by step; target ≤ 50 µs)"
        );
        const AT_ONCE: usize = 10;
        let (cpu, _) = chains(&app, &mut runs, AT_ONCE, 3).await;
        println!(
            "workflow engine, {AT_ONCE} chains at once: {cpu:.1} µs of CPU per task (median of 3)"
        );

        let mut ratios = Vec::new();
        for _ in 0..3 {
            ends.tasks.lock().unwrap().clear();
            let t = Instant::now();
            bot.dispatch(message("workflow run fan")).await;
            let run = runs.recv().await.unwrap();
            let took = t.elapsed().as_secs_f64() * 1e3;
            let tasks = ends.tasks.lock().unwrap().clone();
            let longest = tasks
                .iter()
                .filter(|e| e.parent.as_deref() == Some(run.id.as_str()) && e.skill == "ci")
                .map(|e| e.ended_at.saturating_sub(e.started_at))
                .max()
                .unwrap_or(1) as f64;
            ratios.push((took / longest, took, longest));
        }
        ratios.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let (ratio, took, longest) = ratios[ratios.len() / 2];
        println!(
            "workflow fan-out/fan-in: {BRANCHES} branches of {BRANCH_MS} ms (ci.test): {took:.0} ms against the longest branch's {longest:.0} ms = {ratio:.2}× (median of 3; target ≤ 1.5×)"
        );
        drop(app);
        in_redis(dir.path()).await;
    });
}

/// Runs `at_once` chains together, `rounds` times; returns the medians of
/// this process's CPU and of the wall time per task, in µs.
async fn chains(
    app: &App,
    runs: &mut mpsc::UnboundedReceiver<Execution>,
    at_once: usize,
    rounds: usize,
) -> (f64, f64) {
    let (mut cpu_per_task, mut wall_per_task) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (cpu, wall) = (process_cpu(), Instant::now());
        futures::future::join_all(
            (0..at_once).map(|_| app.bot.dispatch(message("workflow run chain"))),
        )
        .await;
        for _ in 0..at_once {
            runs.recv().await.unwrap();
        }
        let wall = wall.elapsed();
        if let Some(history) = &app.history {
            let history = history.clone();
            tokio::task::spawn_blocking(move || history.flush(Duration::from_secs(30)))
                .await
                .unwrap();
        }
        let tasks = (at_once * CHAIN) as f64;
        cpu_per_task.push((process_cpu() - cpu).as_secs_f64() * 1e6 / tasks);
        wall_per_task.push(wall.as_secs_f64() * 1e6 / tasks);
    }
    (median(cpu_per_task), median(wall_per_task))
}

/// Redis's own CPU so far (`INFO cpu`: user plus system, main thread and children).
fn redis_cpu(con: &mut redis::Connection) -> Duration {
    let info: String = redis::cmd("INFO").arg("cpu").query(con).unwrap();
    let secs: f64 = info
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(*k, "used_cpu_sys" | "used_cpu_user"))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum();
    Duration::from_secs_f64(secs)
}

/// The chain with the runs (and memory, history) in Redis.
async fn in_redis(base: &std::path::Path) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Ok(mut server) = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
    else {
        println!(
            "workflow engine in Redis: skipped (no redis-server; `make test-servers` installs it)"
        );
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = loop {
        match client.get_connection() {
            Ok(con) => break con,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let config = base.join("redis.yaml");
    std::fs::write(
        &config,
        format!("connectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data-redis\nlogging: {{level: error}}\ndatabases:\n  redis: {{url: '{url}'}}\n"),
    )
    .unwrap();
    let (tx, mut runs) = mpsc::unbounded_channel();
    let ends = Arc::new(Ends {
        runs: tx,
        tasks: Mutex::new(Vec::new()),
    });
    let mut app = App::start_with(config::load(&config).unwrap(), vec![ends])
        .await
        .unwrap();
    let mut outbox = app.take_outbox("shell").unwrap();
    tokio::spawn(async move { while outbox.recv().await.is_some() {} });
    let before = redis_cpu(&mut con);
    const ROUNDS: usize = 5;
    let (cpu, wall) = chains(&app, &mut runs, 1, ROUNDS).await;
    let redis = (redis_cpu(&mut con) - before).as_secs_f64() * 1e6 / (ROUNDS * CHAIN) as f64;
    println!(
        "workflow engine in Redis: {cpu:.1} µs of CPU per task here and {redis:.1} µs in redis-server, {wall:.0} µs of wall time per task (median of {ROUNDS} chains of {CHAIN}, each step a round trip)"
    );
    drop(app);
    let _ = server.kill();
    let _ = server.wait();
}
