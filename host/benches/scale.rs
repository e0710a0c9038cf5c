//! `make bench`, scale part: the real binary over a pipe with 1, 100, 1,000
//! and 10,000 skills (one config-driven skill file configured N times, each
//! with its own pattern `^cmdI (?P<x>\w+)$`, plus `hello`), the compile cache
//! warm. Prints, asserts nothing: start, RSS after start, the CPU of each
//! skill's first message (its exact regex is compiled then) and RSS once
//! every skill has answered, CPU per message spread over every skill, a
//! reload of one skill among N, shutdown. `SCALE_SIZES=1,100` picks sizes;
//! `SANDBOT_BENCH_BINS=before=/path/a,after=/path/b` measures those
//! binaries instead of this build's, each size on each in turn.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;

const MESSAGES: usize = 20_000;

fn skill(name: &str) -> PathBuf {
    sandbot_test_skills::path(name)
}

struct Bot {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Bot {
    fn start(bin: &Path, config: &Path) -> Bot {
        let mut child = Command::new(bin)
            .args(["start", "-c"])
            .arg(config)
            .env("USER", "alice")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sandbot");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Bot {
            child,
            stdin,
            lines,
        }
    }

    fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    fn answer(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(600))
            .expect("an answer")
    }

    /// User plus system CPU time of the process so far.
    fn cpu(&self) -> Duration {
        support::cpu_of(self.child.id())
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib / 1024.0
    }

    /// Closes stdin and waits for the process to end.
    fn finish(mut self) -> Duration {
        let t = Instant::now();
        drop(self.stdin.take());
        self.child.wait().unwrap();
        t.elapsed()
    }
}

struct Row {
    start: Duration,
    rss: f64,
    /// CPU of each skill's first message.
    first: Duration,
    /// RSS once every skill has answered.
    rss_answered: f64,
    cpu_per_message: Duration,
    reload: Duration,
    shutdown: Duration,
}

/// Says every text in `texts` (written ahead, from another thread) and
/// reads an answer to each, checking it is `ok <the text's word>`;
/// returns the server's CPU per text.
fn say_all(bot: &mut Bot, texts: Vec<String>) -> Duration {
    let n = texts.len();
    let cpu = bot.cpu();
    let writer = {
        let mut stdin = bot.stdin.take().unwrap();
        let texts = texts.clone();
        std::thread::spawn(move || {
            let mut out = String::new();
            for t in &texts {
                out.push_str(t);
                out.push('\n');
            }
            stdin.write_all(out.as_bytes()).unwrap();
            stdin.flush().unwrap();
            stdin
        })
    };
    for t in &texts {
        let a = bot.answer();
        let word = t.rsplit_once(' ').unwrap().1;
        assert_eq!(a, format!("ok {word}"), "a wrong answer to {t}");
    }
    bot.stdin = Some(writer.join().unwrap());
    (bot.cpu() - cpu) / n as u32
}

fn measure(bin: &Path, n: usize) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::copy(skill("configured"), skills.join("configured.wasm")).unwrap();
    std::fs::copy(skill("hello"), skills.join("hello.wasm")).unwrap();
    let mut config = String::from(
        "connectors: {shell: {}}\nskills-dir: skills\ndata-dir: data\nlogging: {level: error}\nskills:\n  hello: {}\n",
    );
    for i in 0..n {
        config.push_str(&format!(
            "  cmd{i}: {{path: skills/configured.wasm, pattern: '^cmd{i} (?P<x>\\w+)$'}}\n"
        ));
    }
    let config_path = dir.path().join("configuration.yaml");
    std::fs::write(&config_path, config).unwrap();

    // Warm the compile cache.
    let mut warm = Bot::start(bin, &config_path);
    warm.say("hello");
    assert_eq!(warm.answer(), "Hello alice");
    warm.finish();

    let t = Instant::now();
    let mut bot = Bot::start(bin, &config_path);
    bot.say("hello");
    assert_eq!(bot.answer(), "Hello alice");
    let start = t.elapsed();
    let rss = bot.rss_mib();

    // Each skill's first message, then messages spread over every skill.
    let first = say_all(
        &mut bot,
        (0..n).map(|i| format!("cmd{i} first{i}")).collect(),
    );
    let rss_answered = bot.rss_mib();
    let cpu_per_message = say_all(
        &mut bot,
        (0..MESSAGES)
            .map(|j| format!("cmd{} word{j}", (j * 37) % n.max(1)))
            .collect(),
    );

    // Reload one skill among n: hello becomes hello-v2.
    let tmp = skills.join(".hello.tmp");
    std::fs::copy(skill("hello-v2"), &tmp).unwrap();
    let t = Instant::now();
    std::fs::rename(&tmp, skills.join("hello.wasm")).unwrap();
    loop {
        bot.say("hello");
        if bot.answer() == "Good day, alice" {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let reload = t.elapsed();
    let shutdown = bot.finish();
    Row {
        start,
        rss,
        first,
        rss_answered,
        cpu_per_message,
        reload,
        shutdown,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 100, 1_000, 10_000]);
    let builds = support::builds();
    println!(
        "\n## Scale: the bot with N config-driven skills plus `hello`, over a pipe, compile cache warm"
    );
    println!(
        "| build | skills | start | RSS after start | CPU of a skill's first message | RSS after every skill answered | CPU per message, spread over all | vs 1 skill | reload of one | shutdown |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut base = vec![None; builds.len()];
    for n in sizes {
        for (b, build) in builds.iter().enumerate() {
            let r = measure(&build.bin, n);
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            let per = us(r.cpu_per_message);
            let base = *base[b].get_or_insert(per);
            println!(
                "| {} | {n} | {:.2} s | {:.0} MB | {:.0} µs | {:.0} MB | {per:.0} µs | {:.2}× | {:.0} ms | {:.2} s |",
                build.label,
                r.start.as_secs_f64(),
                r.rss,
                us(r.first),
                r.rss_answered,
                per / base,
                r.reload.as_secs_f64() * 1e3,
                r.shutdown.as_secs_f64()
            );
        }
    }
}
