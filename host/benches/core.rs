//! `make bench`: the figures of the core issue, each a median over repeated
//! runs. Needs the skills built (`make skills`); prints, asserts nothing.

use sandbot::app::App;
use sandbot::bus::{Delivery, Outboxes};
use sandbot::config;
use sandbot::event::{Event, Message, now_ms};
use sandbot::manifest::{AliasSpec, Manifest, MatcherKind, MatcherSpec};
use sandbot::matching::Index;
use sandbot::memory::{MemoryStore, Quota, RedisMemory, SqliteMemory};
use sandbot::runtime::{Options, Runtime, Services, SkillSource};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn skills_dir() -> PathBuf {
    sandbot_test_skills::dir().to_path_buf()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
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

struct Fixture {
    _dir: tempfile::TempDir,
    runtime: Runtime,
    responses: tokio::sync::mpsc::Receiver<Delivery>,
}

impl Fixture {
    /// Throws away the responses so far, so skills never wait on a full outbox.
    fn drain(&mut self) {
        while self.responses.try_recv().is_ok() {}
    }
}

fn runtime(cache: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let memory = SqliteMemory::open(&dir.path().join("m.db")).unwrap();
    let mut outboxes = Outboxes::default();
    let responses = outboxes.open("shell");
    let services = Services {
        memory: Arc::new(memory),
        responses: Arc::new(outboxes),
    };
    let options = Options {
        cache_dir: cache.then(|| dir.path().join("cache")),
        ..Options::default()
    };
    let runtime = Runtime::new(options, services).unwrap();
    Fixture {
        _dir: dir,
        runtime,
        responses,
    }
}

fn source(name: &str, no_cache: bool) -> SkillSource {
    SkillSource {
        no_cache,
        ..SkillSource::new(name, skills_dir().join(format!("{name}.wasm")))
    }
}

fn bench_compile(rt: &tokio::runtime::Runtime) {
    println!("\n## Loading a skill (compile + check + describe), median of 7");
    println!("| skill | cold (no cache) | from the compile cache |");
    println!("|---|---|---|");
    let f = runtime(true);
    for name in ["hello", "seen", "dance", "loudnoises"] {
        let cold: Vec<f64> = (0..7)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(f.runtime.load(source(name, true))).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        rt.block_on(f.runtime.load(source(name, false))).unwrap(); // fills the cache
        let warm: Vec<(f64, bool)> = (0..7)
            .map(|_| {
                let t = Instant::now();
                let s = rt.block_on(f.runtime.load(source(name, false))).unwrap();
                (t.elapsed().as_secs_f64() * 1e3, s.compiled.from_cache)
            })
            .collect();
        assert!(warm.iter().all(|(_, hit)| *hit));
        let warm = median(warm.into_iter().map(|(t, _)| t).collect());
        println!("| {name} | {:.1} ms | {:.2} ms |", median(cold), warm);
    }
}

fn bench_fresh_instance(rt: &tokio::runtime::Runtime) {
    println!(
        "\n## One `hello` event, fresh store + instance + handle + drop (one thread), median of 5 × 20,000"
    );
    println!("| limits | µs per event |");
    println!("|---|---|");
    for (label, limited) in [
        ("enforced (time budget, memory cap, epoch yields)", true),
        ("off (measurement only)", false),
    ] {
        let mut f = runtime(false);
        if !limited {
            f.runtime = f.runtime.without_limits_for_benchmarks();
        }
        let skill = rt.block_on(f.runtime.load(source("hello", true))).unwrap();
        let event = message("hello");
        let caps = vec![("greeting".to_string(), "hello".to_string())];
        let mut runs = Vec::new();
        for round in 0..6 {
            let n = 20_000;
            let t = Instant::now();
            for _ in 0..n / 500 {
                rt.block_on(async {
                    for _ in 0..500 {
                        f.runtime
                            .handle(&skill, &event, "greet", &caps)
                            .await
                            .unwrap();
                    }
                });
                f.drain();
            }
            if round > 0 {
                runs.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
        }
        println!("| {label} | {:.1} (target ≤ 30) |", median(runs));
    }
}

/// Python, JavaScript and C skills: compile cold and cached, and µs per
/// event with a fresh instance each time or with instance reuse.
fn bench_languages(rt: &tokio::runtime::Runtime) {
    println!("\n## Skills in other languages: load, and one event fresh vs. reused instance");
    println!(
        "| skill | size | load cold | load cached | event, fresh instance | event, reused instance |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, text, caps) in [
        (
            "remember",
            "what is the wifi password",
            vec![("key", "the wifi password")],
        ),
        ("table", "table a,b 1,2", vec![("rows", "a,b 1,2")]),
        ("calc", "calc 2*(3+4)", vec![("expr", "2*(3+4)")]),
        ("hello", "hello", vec![("greeting", "hello")]),
    ] {
        let path = skills_dir().join(format!("{name}.wasm"));
        let Ok(meta) = std::fs::metadata(&path) else {
            println!("| {name} | not built (`make lang-skills`) | | | | |");
            continue;
        };
        let mut f = runtime(true);
        let t = Instant::now();
        let skill = rt.block_on(f.runtime.load(source(name, false))).unwrap();
        let cold = t.elapsed();
        let cached: Vec<f64> = (0..3)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(f.runtime.load(source(name, false))).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let matcher = skill.manifest.matchers[0].id.clone();
        let caps: Vec<(String, String)> = caps
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let event = message(text);
        let reusing = rt
            .block_on(f.runtime.load(SkillSource {
                instance_reuse: 1_000_000,
                ..source(name, false)
            }))
            .unwrap();
        let mut per_event = |skill: &sandbot::runtime::LoadedSkill, n: usize| {
            let mut runs = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                for _ in 0..n {
                    rt.block_on(f.runtime.handle(skill, &event, &matcher, &caps))
                        .unwrap();
                    f.drain();
                }
                runs.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            }
            median(runs)
        };
        let fresh = per_event(&skill, 200);
        let reused = per_event(&reusing, 2000);
        println!(
            "| {name} | {:.1} MB | {:.2} s | {:.0} ms | {fresh:.0} µs | {reused:.1} µs |",
            meta.len() as f64 / 1e6,
            cold.as_secs_f64(),
            median(cached),
        );
    }
}

fn bot_dir(skills: &[&str], extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skills")).unwrap();
    for s in skills {
        std::fs::copy(
            skills_dir().join(format!("{s}.wasm")),
            dir.path().join(format!("skills/{s}.wasm")),
        )
        .unwrap();
    }
    let entries: String = skills.iter().map(|s| format!("  {s}: {{}}\n")).collect();
    std::fs::write(
        dir.path().join("configuration.yaml"),
        format!("connectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nlogging: {{level: error}}\n{extra}skills:\n{entries}"),
    )
    .unwrap();
    dir
}

/// Dispatches `n` `hello`s, 64 at a time, and waits for them all.
async fn hellos(bot: &Arc<sandbot::bot::Bot>, n: usize) {
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let bot = bot.clone();
        tasks.spawn(async move {
            bot.dispatch(message("hello")).await;
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
}

fn bench_dispatch() {
    println!(
        "\n## Events per second through the dispatcher (2 worker threads, 64 in flight), median of 5 × 20,000"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (label, skills) in [
        ("hello only", &["hello"][..]),
        (
            "opsdroid's four examples (seen writes SQLite on every message)",
            &["hello", "seen", "dance", "loudnoises"][..],
        ),
    ] {
        let dir = bot_dir(skills, "");
        let rate = rt.block_on(async {
            let config = config::load(&dir.path().join("configuration.yaml")).unwrap();
            let mut app = App::start(config).await.unwrap();
            let mut outbox = app.take_outbox("shell").unwrap();
            tokio::spawn(async move { while outbox.recv().await.is_some() {} });
            let bot = app.bot.clone();
            let mut rates = Vec::new();
            for _ in 0..5 {
                let n = 20_000usize;
                let t = Instant::now();
                hellos(&bot, n).await;
                rates.push(n as f64 / t.elapsed().as_secs_f64());
            }
            drop(app);
            median(rates)
        });
        println!("{label}: {rate:.0} events/s");
    }
}

/// User plus system CPU time of this process so far, to the microsecond.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of this process's threads named `name` (from
/// /proc/self/task/*/stat, in clock ticks: 10 ms here, fine over a round of
/// 20,000 events).
fn threads_cpu(name: &str) -> Duration {
    // SAFETY: sysconf only reads a setting.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so split after `)`.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat: from the state (field
        // 3) on, indexes 11 and 12.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += ticks(11) + ticks(12);
    }
    Duration::from_secs_f64(total as f64 / tick)
}

/// What keeping every execution record costs: `hello` through the
/// dispatcher with history off and on, CPU of the whole process (the
/// history's writer thread included) per event, and of that the writer
/// thread's own share (the rest is on the message path: the record's copy
/// and its trip over the channel). Rounds alternate so drift in the
/// machine's speed hits both alike.
fn bench_history() {
    println!(
        "\n## Recording history: CPU per event, hello through the dispatcher, history off vs on, median of 7 × 20,000"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dirs = [
        ("off", bot_dir(&["hello"], "history: {enabled: false}\n")),
        ("on", bot_dir(&["hello"], "")),
    ];
    let figures = rt.block_on(async {
        let mut apps = Vec::new();
        for (label, dir) in &dirs {
            let config = config::load(&dir.path().join("configuration.yaml")).unwrap();
            let mut app = App::start(config).await.unwrap();
            let mut outbox = app.take_outbox("shell").unwrap();
            tokio::spawn(async move { while outbox.recv().await.is_some() {} });
            apps.push((*label, app));
        }
        let mut per_event: Vec<Vec<f64>> = vec![Vec::new(); apps.len()];
        let mut writer = Vec::new();
        for _ in 0..7 {
            for (i, (_, app)) in apps.iter().enumerate() {
                let n = 20_000usize;
                let bot = app.bot.clone();
                let cpu = process_cpu();
                let writer_cpu = threads_cpu("history");
                hellos(&bot, n).await;
                // The writer must have caught up, so its CPU is counted.
                if let Some(history) = &app.history {
                    let history = history.clone();
                    tokio::task::spawn_blocking(move || history.flush(Duration::from_secs(30)))
                        .await
                        .unwrap();
                }
                per_event[i].push((process_cpu() - cpu).as_secs_f64() * 1e6 / n as f64);
                if app.history.is_some() {
                    writer
                        .push((threads_cpu("history") - writer_cpu).as_secs_f64() * 1e6 / n as f64);
                }
            }
        }
        let mut figures = per_event.into_iter().map(median).collect::<Vec<f64>>();
        figures.push(median(writer));
        figures
    });
    println!("| history | µs CPU per event |");
    println!("|---|---|");
    for ((label, _), figure) in dirs.iter().zip(&figures) {
        println!("| {label} | {figure:.2} |");
    }
    println!(
        "recording costs {:.2} µs of CPU per event (target ≤ 2): {:.2} µs on the history's writer thread, {:.2} µs on the message path",
        figures[1] - figures[0],
        figures[2],
        figures[1] - figures[0] - figures[2],
    );
}

/// Synthetic matchers in the styles chat bots use: anchored commands with
/// captures, case-insensitive phrases, alternations, unanchored patterns.
fn synthetic(n: usize) -> Vec<Manifest> {
    (0..n)
        .map(|i| {
            let (pattern, case_sensitive) = match i % 4 {
                0 => (format!(r"^deploy{i} (?P<app>\w+) to (?P<env>\w+)$"), true),
                1 => (format!(r"^(show|list) widgets{i}( please)?$"), false),
                2 => (format!(r"^status{i} of (?P<service>[a-z-]+)$"), true),
                _ => (
                    format!(r"remind me about thing{i} in (?P<minutes>\d+) minutes"),
                    false,
                ),
            };
            Manifest {
                name: format!("s{i}"),
                version: "1".into(),
                description: String::new(),
                settings: None,
                matchers: vec![MatcherSpec {
                    id: "m".into(),
                    kind: MatcherKind::Regex {
                        pattern,
                        case_sensitive,
                    },
                    help: String::new(),
                }],
            }
        })
        .collect()
}

fn bench_matching() {
    println!("\n## Regex matching per message, median of 5 runs over 5 kinds of message");
    for n in [1_000, 10_000] {
        let manifests = synthetic(n);
        let t = Instant::now();
        let compiled: Vec<_> = manifests
            .iter()
            .map(|m| sandbot::matching::compile(m).unwrap())
            .collect();
        let load = t.elapsed();
        let t = Instant::now();
        let policy = sandbot::matching::Policy::default();
        let index = Index::build(
            manifests
                .iter()
                .zip(&compiled)
                .map(|(m, c)| (m, c, &policy)),
        );
        let build = t.elapsed();
        let messages: Vec<Event> = [
            format!("deploy{} api to prod", n - 4),
            "LIST WIDGETS5 please".to_string(),
            format!("status{} of billing-api", n - 2),
            "hey can you remind me about thing7 in 15 minutes".to_string(),
            "nothing here matches anything at all, it is just chatter in the room".to_string(),
        ]
        .iter()
        .map(|t| message(t))
        .collect();
        for m in &messages[..4] {
            assert_eq!(index.route(m).len(), 1, "{m:?}");
        }
        println!(
            "{n} matchers: {:.2} µs per message (target ≤ 20 µs at 10,000); index rebuilt in {:.0} ms (patterns compiled at skill load: {:.0} ms)",
            micros_per_message(&index, &messages),
            build.as_secs_f64() * 1e3,
            load.as_secs_f64() * 1e3
        );
    }
}

/// Routing time per message over `messages`: the median of five runs
/// after a warm-up.
fn micros_per_message(index: &Index, messages: &[Event]) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..6 {
        let reps = 2_000;
        let t = Instant::now();
        for _ in 0..reps {
            for m in messages {
                std::hint::black_box(index.route(m));
            }
        }
        runs.push(t.elapsed().as_secs_f64() * 1e6 / (reps * messages.len()) as f64);
    }
    runs.remove(0);
    median(runs)
}

/// Mixed matchers, a third each: regexes, parse-format templates and
/// StackStorm aliases, all in the one index.
fn mixed(n: usize) -> Vec<Manifest> {
    (0..n)
        .map(|i| {
            let kind = match i % 3 {
                0 => MatcherKind::Regex {
                    pattern: format!(r"^deploy{i} (?P<app>\w+) to (?P<env>\w+)$"),
                    case_sensitive: true,
                },
                1 => MatcherKind::ParseFormat(format!("status{i} of {{service}}")),
                _ => MatcherKind::ActionAlias(AliasSpec::new(format!(
                    "ship{i} {{{{app}}}}( to {{{{env=staging}}}})?"
                ))),
            };
            Manifest {
                name: format!("s{i}"),
                version: "1".into(),
                description: String::new(),
                settings: None,
                matchers: vec![MatcherSpec {
                    id: "m".into(),
                    kind,
                    help: String::new(),
                }],
            }
        })
        .collect()
}

fn bench_mixed_matching() {
    println!("\n## Mixed matchers (regex, parse-format, alias), per message, median of 5 runs");
    for n in [10, 1_000, 10_000] {
        let manifests = mixed(n);
        let compiled: Vec<_> = manifests
            .iter()
            .map(|m| sandbot::matching::compile(m).unwrap())
            .collect();
        let last = |k: usize| (0..n).rev().find(|i| i % 3 == k).unwrap();
        let messages: Vec<Event> = [
            format!("deploy{} api to prod", last(0)),
            format!("status{} of billing-api", last(1)),
            format!("ship{} web to prod timeout=30", last(2)),
            "nothing here matches anything at all, it is just chatter in the room".to_string(),
        ]
        .iter()
        .map(|t| message(t))
        .collect();
        // The rebuild after one skill changes: the index over every skill's
        // already-compiled matchers (what a reload does).
        let mut builds = Vec::new();
        let mut index = None;
        let policy = sandbot::matching::Policy::default();
        for _ in 0..3 {
            let t = Instant::now();
            index = Some(Index::build(
                manifests
                    .iter()
                    .zip(&compiled)
                    .map(|(m, c)| (m, c, &policy)),
            ));
            builds.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let index = index.unwrap();
        for m in &messages[..3] {
            assert_eq!(index.route(m).len(), 1, "{m:?}");
        }
        println!(
            "{n} matchers: {:.2} µs per message (target ≤ 10 µs at 10,000); index rebuilt in {:.0} ms (target ≤ 200 ms)",
            micros_per_message(&index, &messages),
            median(builds)
        );
    }
}

fn bench_reload() {
    println!("\n## Reload latency: file written → new version answering, median of 7");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (label, extra) in [
        ("cold compile", "no-cache: true"),
        ("from the compile cache", "no-cache: false"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("skills")).unwrap();
        std::fs::copy(
            skills_dir().join("hello.wasm"),
            dir.path().join("skills/hello.wasm"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("configuration.yaml"),
            format!("connectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nlogging: {{level: error}}\nskills:\n  hello:\n    {extra}\n"),
        )
        .unwrap();
        let median_ms = rt.block_on(async {
            let config = config::load(&dir.path().join("configuration.yaml")).unwrap();
            let mut app = App::start(config).await.unwrap();
            let mut outbox = app.take_outbox("shell").unwrap();
            let mut times = Vec::new();
            for round in 0..8 {
                let (file, expect) = if round % 2 == 0 {
                    ("hello-v2.wasm", "Good day, alice")
                } else {
                    ("hello.wasm", "Hello alice")
                };
                let tmp = dir.path().join("skills/.tmp");
                std::fs::copy(skills_dir().join(file), &tmp).unwrap();
                let t = Instant::now();
                std::fs::rename(&tmp, dir.path().join("skills/hello.wasm")).unwrap();
                loop {
                    app.bot.dispatch(message("hello")).await;
                    let answer = loop {
                        if let Delivery::Response(r) = outbox.recv().await.unwrap() {
                            break r;
                        }
                    };
                    if answer.body == sandbot::event::ResponseBody::Text(expect.into()) {
                        break;
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(10),
                        "reload never happened"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if round > 0 {
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            median(times)
        });
        println!(
            "hello, {label}: {median_ms:.0} ms (target ≤ 200 ms; includes the {} ms debounce)",
            sandbot::catalog::watch::DEBOUNCE.as_millis()
        );
    }
}

/// A `redis-server` of the benchmark's own on a free loopback port, with no
/// persistence (as the tests run it); `None` when it is not installed.
struct BenchRedis {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl BenchRedis {
    fn start() -> Option<BenchRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = tempfile::tempdir().ok()?;
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(BenchRedis {
            port,
            child,
            _dir: dir,
        })
    }
}

impl Drop for BenchRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// µs per operation over `n` operations split across `tasks` tasks
/// (wall-clock time divided by the count: with many tasks, the cost per op
/// under load, not one op's latency).
async fn per_op(
    memory: &Arc<dyn MemoryStore>,
    n: usize,
    tasks: usize,
    round: usize,
    put: bool,
) -> f64 {
    let value = "v".repeat(64);
    let t = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (memory, value) = (memory.clone(), value.clone());
        running.spawn(async move {
            for i in (task..n).step_by(tasks) {
                let key = format!("r{round}-k{i}");
                if put {
                    memory
                        .put("bench", &key, &value, Quota::UNLIMITED)
                        .await
                        .unwrap();
                } else {
                    assert!(memory.get("bench", &key).await.unwrap().is_some());
                }
            }
        });
    }
    while let Some(done) = running.join_next().await {
        done.unwrap();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn bench_memory() {
    println!("\n## Memory: µs per put and per get (64-byte values, new keys), median of 5 × 2,000");
    println!("| backend | put, 1 task | get, 1 task | put, 32 tasks | get, 32 tasks |");
    println!("|---|---|---|---|---|");
    // The bot's own kind of runtime: several workers, calls from many tasks.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let redis = BenchRedis::start();
    let mut backends: Vec<(String, Arc<dyn MemoryStore>)> = vec![(
        "SQLite (WAL, synchronous=NORMAL)".into(),
        Arc::new(SqliteMemory::open(&dir.path().join("m.db")).unwrap()),
    )];
    match &redis {
        Some(r) => {
            let url = format!("redis://127.0.0.1:{}/0", r.port);
            let memory = rt
                .block_on(RedisMemory::connect(&url, &url, "bench"))
                .unwrap();
            backends.push(("Redis 127.0.0.1 (Lua put)".into(), Arc::new(memory)));
        }
        None => println!("| Redis | not installed (host/tests/servers.sh) | | | |"),
    }
    for (label, memory) in &backends {
        let mut cells = Vec::new();
        for tasks in [1, 32] {
            let (mut puts, mut gets) = (Vec::new(), Vec::new());
            for round in 0..6 {
                let put = rt.block_on(per_op(memory, 2_000, tasks, round * 100 + tasks, true));
                let get = rt.block_on(per_op(memory, 2_000, tasks, round * 100 + tasks, false));
                // The first round warms up (connections, caches, the file).
                if round > 0 {
                    puts.push(put);
                    gets.push(get);
                }
            }
            cells.push(format!("{:.1}", median(puts)));
            cells.push(format!("{:.1}", median(gets)));
        }
        println!(
            "| {label} | {} | {} | {} | {} |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
}

fn main() {
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    assert!(
        skills_dir().join("hello.wasm").is_file(),
        "build the skills first: make skills"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# sandbot core benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if want("compile") {
        bench_compile(&rt);
    }
    if want("instance") {
        bench_fresh_instance(&rt);
    }
    if want("languages") {
        bench_languages(&rt);
    }
    if want("dispatch") {
        bench_dispatch();
    }
    if want("history") {
        bench_history();
    }
    if want("matching") {
        bench_matching();
        bench_mixed_matching();
    }
    if want("reload") {
        bench_reload();
    }
    if want("memory") {
        bench_memory();
    }
}
