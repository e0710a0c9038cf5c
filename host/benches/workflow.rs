//! `make bench`: the workflow engine's figures, through the real bot
//! (`App`, its SQLite store and history, real `ci` skill instances):
//! - the engine's own CPU per task: a chain of 200 `wait 0ms` tasks (no
//!   skill), process CPU divided by tasks, stored step by step as always;
//!   then ten such chains at once (their steps share commits);
//! - a fan-out/fan-in of 100 `ci.test` branches of 200 ms each: the run's
//!   wall time against its longest branch (from the branches' records).
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

        let mut per_task = Vec::new();
        for _ in 0..5 {
            let cpu = process_cpu();
            bot.dispatch(message("workflow run chain")).await;
            runs.recv().await.unwrap();
            if let Some(history) = &app.history {
                let history = history.clone();
                tokio::task::spawn_blocking(move || history.flush(Duration::from_secs(30)))
                    .await
                    .unwrap();
            }
            per_task.push((process_cpu() - cpu).as_secs_f64() * 1e6 / CHAIN as f64);
        }
        println!(
            "workflow engine: {:.1} µs of CPU per task (median of 5 chains of {CHAIN} `wait 0ms` tasks, stored step by step; target ≤ 50 µs)",
            median(per_task)
        );

        const AT_ONCE: usize = 10;
        let mut per_task = Vec::new();
        for _ in 0..3 {
            let cpu = process_cpu();
            futures::future::join_all(
                (0..AT_ONCE).map(|_| bot.dispatch(message("workflow run chain"))),
            )
            .await;
            for _ in 0..AT_ONCE {
                runs.recv().await.unwrap();
            }
            if let Some(history) = &app.history {
                let history = history.clone();
                tokio::task::spawn_blocking(move || history.flush(Duration::from_secs(30)))
                    .await
                    .unwrap();
            }
            per_task.push((process_cpu() - cpu).as_secs_f64() * 1e6 / (AT_ONCE * CHAIN) as f64);
        }
        println!(
            "workflow engine, {AT_ONCE} chains at once: {:.1} µs of CPU per task (median of 3)",
            median(per_task)
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
    });
}
