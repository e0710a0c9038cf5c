//! The load client's peer: Hubot 14 with an adapter that speaks opsdroid's
//! websocket protocol (`peers/hubot/opsdroid-websocket.mjs`) and a script
//! that answers `hello` as sandbot's example skill does
//! (`peers/hubot/scripts/hello.mjs`), so the same client drives both and
//! sandbot's CPU per message can be given as a ratio to Hubot's.
//!
//! Its npm packages are installed by `make bench-peers` (part of `make
//! bench`) into `target/bench-peers/hubot` (`WEB_BENCH_HUBOT=<dir>` names
//! another place, `WEB_BENCH_HUBOT=off` leaves Hubot out); the adapter and
//! the script are copied there from the source tree before each start, so
//! an edit to them needs no reinstall. Hubot is measured whenever `node` is
//! on the PATH and the packages are installed; otherwise the bench says
//! why in one line and goes on without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An installed Hubot, ready to start.
pub struct Hubot {
    /// `target/bench-peers/hubot`: package.json, node_modules, the adapter
    /// and scripts/.
    pub dir: PathBuf,
    /// "Hubot 14.1.0, node v20.20.2": the label of its rows.
    pub label: String,
}

/// The adapter and the script, in the source tree.
fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/hubot")
}

/// Where `make bench-peers` installs it: `<target>/bench-peers/hubot`,
/// found from this bench's own path (`<target>/release/deps/web-…`).
fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("bench-peers/hubot"))
}

impl Hubot {
    /// The installed Hubot, or why it cannot be measured.
    pub fn find() -> Result<Hubot, String> {
        let dir = match std::env::var("WEB_BENCH_HUBOT") {
            Ok(v) if v == "off" => return Err("WEB_BENCH_HUBOT=off".into()),
            Ok(v) if !v.is_empty() => PathBuf::from(v),
            _ => default_dir().ok_or("this bench's own path has no target directory")?,
        };
        let node = Command::new("node")
            .arg("--version")
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .ok_or("`node` is not on the PATH")?;
        let node = String::from_utf8_lossy(&node.stdout).trim().to_string();
        let package = dir.join("node_modules/hubot/package.json");
        let version = std::fs::read_to_string(&package)
            .map_err(|_| {
                format!(
                    "its packages are not installed in {} (`make bench-peers` installs them; it needs npm)",
                    dir.display()
                )
            })
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|p| p["version"].as_str().map(str::to_owned))
                    .ok_or_else(|| format!("{}: no version in it", package.display()))
            })?;
        // The adapter and script as they are in the source tree now.
        let from = sources();
        std::fs::create_dir_all(dir.join("scripts")).map_err(|e| e.to_string())?;
        for file in ["opsdroid-websocket.mjs", "scripts/hello.mjs"] {
            std::fs::copy(from.join(file), dir.join(file))
                .map_err(|e| format!("copying {file} to {}: {e}", dir.display()))?;
        }
        Ok(Hubot {
            dir,
            label: format!("Hubot {version}, node {node}"),
        })
    }

    /// The command that starts it on `port` (on 127.0.0.1), accepting as
    /// many sockets as sandbot's bench configuration does; its log goes to
    /// `log`.
    pub fn command(&self, port: u16, max_connections: usize, log: std::fs::File) -> Command {
        let mut command = Command::new("node");
        command
            .arg(self.dir.join("node_modules/hubot/bin/hubot"))
            .args([
                "--name",
                "Hubot",
                "--file",
                "opsdroid-websocket.mjs",
                "--disable-httpd",
            ])
            // Its scripts are read from ./scripts.
            .current_dir(&self.dir)
            .env("HUBOT_WEBSOCKET_PORT", port.to_string())
            .env(
                "HUBOT_WEBSOCKET_MAX_CONNECTIONS",
                max_connections.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log);
        command
    }
}
