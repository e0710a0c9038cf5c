//! Logs go to stderr (and optionally a file, as text or as JSON lines);
//! responses go to stdout, so piping the shell never mixes the two. `SANDBOT_LOG` overrides the level
//! with a tracing filter, e.g. `SANDBOT_LOG=debug` or `sandbot=trace`.
//!
//! One event, one line: values from outside are escaped where they are
//! logged (`text::for_log`), and as a last guard every writer turns a line
//! break inside an event into `\n` ([`OneLine`]), so nothing a skill, a
//! user or a file name holds can forge a log line.

use crate::config::{LogFormat, Logging};
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub fn init(settings: &Logging) -> Result<()> {
    let level = settings.level.as_str();
    let filter = std::env::var("SANDBOT_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| {
            EnvFilter::new(format!(
                // wasmtime-wasi-http logs every failed connect of a skill at warn;
                // the skill already gets the error, and sandbot logs refusals.
                // matrix-sdk logs every failed request as an error and its
                // housekeeping (key backups, device checks) as warnings: the
                // Matrix connector says what matters, with its name on it.
                "warn,wasmtime_wasi_http=error,matrix_sdk=error,matrix_sdk_crypto=error,\
                 matrix_sdk_base=error,matrix_sdk::http_client=off,sandbot={level},skill={level}"
            ))
        })
        // The IRC crate traces every line it sends, the server password
        // (PASS) among them: never below debug, whatever SANDBOT_LOG asks.
        .add_directive("irc=debug".parse().expect("a valid directive"));
    CONSOLE.store(settings.console, std::sync::atomic::Ordering::Relaxed);
    let console = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(OneLine(std::io::stderr).with_filter(move |_| settings_console()));
    let file = match &settings.path {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            let layer = tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(false);
            Some(match settings.format {
                LogFormat::Text => layer.with_writer(OneLine(Mutex::new(file))).boxed(),
                // One JSON object a line, with the fields of the spans it
                // happened in: an execution's id (`span.id`, and in
                // `spans`) on every line the execution causes.
                LogFormat::Json => layer
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(OneLine(Mutex::new(file)))
                    .boxed(),
            })
        }
        None => None,
    };
    // The console's live log (`crate::live_log`): JSON lines with their
    // spans' fields, so a line can be found by execution and skill.
    let live = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(OneLine(|| crate::live_log::Writer));
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(file)
        .with(live)
        .try_init();
    // A second init (tests start several bots in one process) keeps the first.
    let _ = result;
    Ok(())
}

static CONSOLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn settings_console() -> bool {
    CONSOLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// A writer of log events that keeps each on one line: the formatter
/// writes an event in one piece ending with its line break, and a break
/// (or carriage return) before that end is written as `\n` (`\r`).
pub struct OneLine<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = OneLineWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        OneLineWriter(self.0.make_writer_for(meta))
    }
}

pub struct OneLineWriter<W>(W);

impl<W: std::io::Write> std::io::Write for OneLineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        if !body.iter().any(|b| *b == b'\n' || *b == b'\r') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b => out.push(b),
            }
        }
        out.extend_from_slice(&buf[body.len()..]);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_event_stays_on_one_line() {
        let mut out = OneLineWriter(Vec::new());
        out.write_all(b"ERROR skill=rw\"} 1\nsandbot_forged_total{x\r\n")
            .unwrap();
        out.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "ERROR skill=rw\"} 1\\nsandbot_forged_total{x\\r\nINFO plain\n"
        );
    }
}
