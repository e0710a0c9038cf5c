//! Test harness: a bot folder (configuration, skills, data) in a temp dir,
//! and the real `sandbot` binary driven over pipes like a user's script.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A built skill by name: the Rust ones (and the composed hostile ones)
/// from the test-skills build script, the Python, JavaScript and C ones
/// built on first use.
pub fn skill_wasm(name: &str) -> PathBuf {
    if sandbot_test_skills::LANG_SKILLS
        .iter()
        .any(|(_, n)| *n == name)
    {
        return sandbot_test_skills::lang_skill(name);
    }
    sandbot_test_skills::path(name)
}

/// A bot's folder: `configuration.yaml`, `skills/`, `data/`.
pub struct BotDir {
    pub dir: tempfile::TempDir,
}

impl BotDir {
    /// `skills` are copied into the skills folder; `config` is the YAML
    /// after the standard header (shell connector, folders), and
    /// `unmatched: suggest` after it (so a line nothing takes is answered
    /// only when it is a likely slip, as the tests were written for).
    pub fn new(skills: &[&str], config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("skills")).unwrap();
        let bot = BotDir { dir };
        for s in skills {
            bot.install(s, s);
        }
        bot.write_config(&format!(
            "admins: [alice]\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\n{config}\nunmatched: suggest\n"
        ));
        bot
    }

    /// Like [`BotDir::new`], with `config` going on inside `connectors:`
    /// (after `shell: {}`, the header's last lines), so it can add
    /// connectors before its other keys, and a test can add more at the end.
    pub fn with_connectors(skills: &[&str], config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("skills")).unwrap();
        let bot = BotDir { dir };
        for s in skills {
            bot.install(s, s);
        }
        bot.write_config(&format!(
            "admins: [alice]\nskills-dir: skills\ndata-dir: data\nunmatched: suggest\nconnectors:\n  shell: {{}}\n{config}"
        ));
        bot
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bot's history (`data/history.db`), opened as a reader would
    /// after the bot has stopped.
    pub fn history(&self) -> sandbot::history::History {
        sandbot::history::History::open(
            &self.path().join("data/history.db"),
            sandbot::history::Retention::default(),
        )
        .unwrap()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("configuration.yaml")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    pub fn skill_path(&self, name: &str) -> PathBuf {
        self.path().join("skills").join(format!("{name}.wasm"))
    }

    /// Puts built skill `built` in the skills folder as `as_name`.wasm, the
    /// way an installer should: write aside, then rename over.
    pub fn install(&self, built: &str, as_name: &str) {
        let dest = self.skill_path(as_name);
        let tmp = dest.with_file_name(format!(".{as_name}.tmp"));
        std::fs::copy(skill_wasm(built), &tmp).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
    }

    pub fn start(&self) -> Running {
        Running::start(&self.config(), &[])
    }

    /// Puts the first `len` bytes of built skill `built` in the skills
    /// folder as `as_name`.wasm: a truncated download, say.
    pub fn install_truncated(&self, built: &str, as_name: &str, len: usize) {
        let bytes = std::fs::read(skill_wasm(built)).unwrap();
        std::fs::write(self.skill_path(as_name), &bytes[..len.min(bytes.len())]).unwrap();
    }
}

/// A running `sandbot start`, fed through stdin.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

impl Running {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        Running::start_with(config, env, |_| {})
    }

    /// Like [`Running::start`], with `adjust` given the command before it
    /// runs (to lower a resource limit in the child, say).
    pub fn start_with(
        config: &Path,
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut Command),
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sandbot"));
        command
            .args(["start", "-c"])
            .arg(config)
            .env("USER", "alice")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().expect("starting sandbot");
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
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("stdin is open")
    }

    pub fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line the bot prints.
    pub fn answer(&self) -> String {
        self.lines
            .recv_timeout(ANSWER_TIMEOUT)
            .unwrap_or_else(|_| panic!("no answer within {ANSWER_TIMEOUT:?}; log:\n{}", self.log()))
    }

    /// Says `text` and returns the one line it is answered with.
    pub fn ask(&mut self, text: &str) -> String {
        self.say(text);
        self.answer()
    }

    /// Reads the next `n` lines.
    pub fn answers(&self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.answer()).collect()
    }

    /// The bot's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The bot process's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn try_answer(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
        while !self.log().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "`{needle}` never appeared in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends the bot SIGTERM, as a service manager stopping it would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the bot to exit by itself (stdin left open); returns the
    /// lines printed after the last one read, and the exit status.
    pub fn wait_exit(mut self, within: Duration) -> (Vec<String>, ExitStatus, String) {
        let status = wait_timeout(&mut self.child, within).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!(
                "sandbot did not exit within {within:?}; log:\n{}",
                self.log()
            )
        });
        // The process is gone, so its stdout ends and the reader stops.
        let rest: Vec<String> = self.lines.iter().collect();
        (rest, status, self.log())
    }

    /// Closes stdin and waits for a clean exit; returns the lines printed
    /// after the last one read, and the exit status.
    pub fn finish(mut self) -> (Vec<String>, ExitStatus, String) {
        drop(self.stdin.take());
        let status = wait_timeout(&mut self.child, ANSWER_TIMEOUT).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("sandbot did not exit at end of input; log:\n{}", self.log())
        });
        let rest: Vec<String> = self.lines.iter().collect();
        (rest, status, self.log())
    }
}

impl Running {
    /// `kill -9`: no chance to finish anything. Returns the lines it had
    /// printed that were not read yet.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread ends at the closed pipe, closing the channel.
        self.lines.iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failing test shows what the bot said about it.
        if std::thread::panicking() {
            eprintln!("--- the bot's log ---\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback HTTP server that answers every request with `status` and
/// `body`, and records each request's head (request line and headers).
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn start(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let content_type = content_type.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        HttpServer { port, requests }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Runs `sandbot ARGS` to completion: (exit status, stdout, stderr).
pub fn sandbot(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(args)
        .env("USER", "alice")
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The texts of the answers waiting in an outbox, in order (the marks that
/// events finished are skipped).
pub fn texts(outbox: &mut tokio::sync::mpsc::Receiver<sandbot::bus::Delivery>) -> Vec<String> {
    let mut texts = Vec::new();
    while let Ok(delivery) = outbox.try_recv() {
        if let sandbot::bus::Delivery::Response(r) = delivery
            && let sandbot::event::ResponseBody::Text(t) = r.body
        {
            texts.push(t);
        }
    }
    texts
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request to loopback `port`, read to the end: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits until something listens on loopback `port`.
pub fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server a test runs on loopback (redis-server, ngircd, nats-server):
/// killed, as a crash would, and reaped on `stop` or when dropped.
#[derive(Default)]
pub struct ServerProcess(Option<Child>);

impl ServerProcess {
    /// Starts `command`, its output dropped; `what` says what it is and
    /// what installs it, should it not start.
    pub fn start(&mut self, command: &mut Command, what: &str) {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        self.0 = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
