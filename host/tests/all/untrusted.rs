//! Untrusted input that is not a skill: entries in the skills folder that are
//! not regular files, chat lines that are not UTF-8 or far too long, and a
//! skill file rewritten again and again. Each is refused or cut with a
//! warning; the bot keeps answering and its memory and disk stay bounded.

use crate::common::{BotDir, Running};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::time::Duration;

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn only_regular_files_load_and_none_can_hang_a_reload() {
    let bot = BotDir::new(&["hello"], "");
    let skills = bot.path().join("skills");
    symlink("/dev/zero", skills.join("zero.wasm")).unwrap();
    mkfifo(&skills.join("pipe.wasm"));
    std::fs::create_dir(skills.join("folder.wasm")).unwrap();

    // Start-up reads every entry: none may hang it.
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    // Made while the bot runs: the watcher sees it, then `reload` reads it.
    mkfifo(&skills.join("late.wasm"));
    run.wait_for_log("late.wasm: it is a FIFO (named pipe), not a regular file");
    // `reload` returns: one line of what changed, then one per failure.
    run.say("reload");
    let report = run.answers(5);
    assert!(
        report[0].starts_with("reloaded 1 skill: folder failed to load, hello 0.1.0"),
        "{report:?}"
    );
    assert!(
        report[1..]
            .iter()
            .all(|l| l.starts_with("│ ") && l.contains("not a regular file")),
        "{report:?}"
    );
    assert_eq!(
        run.ask("hi"),
        "Hi alice",
        "messages after the reload are answered"
    );
    let rss = run.rss_kib();
    assert!(rss < 256 << 10, "the bot holds {rss} KiB");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    for (file, what) in [
        ("zero.wasm", "a character device"),
        ("pipe.wasm", "a FIFO (named pipe)"),
        ("folder.wasm", "a folder"),
    ] {
        let needle = format!(
            "{}: it is {what}, not a regular file",
            skills.join(file).display()
        );
        assert!(log.contains(&needle), "`{needle}` not in:\n{log}");
    }
}

#[test]
fn lines_that_are_not_utf8_or_too_long_are_handled_and_the_next_answered() {
    let bot = BotDir::new(
        &["hello", "loudnoises"],
        "skills:\n  hello: {}\n  loudnoises: {}\n",
    );
    let mut run = bot.start();
    run.say_bytes(b"HEL\xffLO THERE\n");
    assert_eq!(run.answer(), "HEL\u{fffd}LO THERE!!! WHY ARE WE SHOUTING?");
    assert_eq!(run.ask("hello"), "Hello alice");
    // Two MiB on one line: cut at the shell's max-message-length (64 KiB).
    let mut long = "A".repeat(2 << 20);
    long.push('\n');
    run.say_bytes(long.as_bytes());
    // What reached the skill was 64 KiB: its shout is that plus 24 bytes,
    // over its response-size limit: cut to it, with a note.
    let note =
        "… (cut: the answer was 65560 bytes, over this skill's limits.response-size of 16KiB)";
    assert_eq!(run.answer(), "A".repeat((16 << 10) - note.len() - 1));
    assert_eq!(run.answer(), format!("│ {note}"));
    assert_eq!(run.ask("hello"), "Hello alice");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("a line with bytes that are not UTF-8: they were replaced"),
        "{log}"
    );
    assert!(
        log.contains("a line 2031616 bytes over max-message-length (65536) was cut"),
        "{log}"
    );
}

#[test]
fn max_message_length_is_per_connector() {
    let bot = BotDir::with_connectors(&["loudnoises"], "");
    bot.write_config(
        "connectors:\n  shell: {max-message-length: 8}\nskills-dir: skills\ndata-dir: data\n",
    );
    let mut run = bot.start();
    assert_eq!(
        run.ask("ABCDEFGHIJKLMNOP"),
        "ABCDEFGH!!! WHY ARE WE SHOUTING?"
    );
}

/// A component with a custom section that makes its bytes (and so its
/// sha256) unique, without changing what it does.
fn variant(wasm: &[u8], n: u32) -> Vec<u8> {
    let mut out = wasm.to_vec();
    let name = b"sandbot-test";
    let payload = n.to_le_bytes();
    let size = 1 + name.len() + payload.len();
    out.push(0); // custom section
    out.push(size as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

#[test]
fn the_compile_cache_stays_bounded_when_a_skill_is_rewritten_again_and_again() {
    let bot = BotDir::new(&["hello"], "");
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    let hello = std::fs::read(crate::common::skill_wasm("hello")).unwrap();
    let dest = bot.skill_path("hello");
    for n in 0..30 {
        let tmp = dest.with_file_name(".hello.tmp");
        std::fs::write(&tmp, variant(&hello, n)).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last write is loaded (it is the one serving), then the cache is
    // pruned. Under load the reloads of the later writes may still be
    // going when the first is logged, each adding a file before its prune:
    // the bound is on where the cache settles, so give it time to settle.
    run.wait_for_log("hello 0.1.0→0.1.0");
    assert_eq!(run.ask("hello"), "Hello alice");
    let settled = std::time::Instant::now() + Duration::from_secs(30);
    let mut cache = cwasm_files(&bot.path().join("data/cache"));
    while cache.len() > 1 + 4 && std::time::Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(200));
        cache = cwasm_files(&bot.path().join("data/cache"));
    }
    assert!(
        cache.len() <= 1 + 4,
        "{} compiled files kept: {cache:?}",
        cache.len()
    );
    let _ = run.finish();
}

fn cwasm_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(cwasm_files(&path));
        } else if path.extension().is_some_and(|e| e == "cwasm") {
            out.push(path);
        }
    }
    out
}

/// Bytes on stdin as they are, not a line of text.
trait SayBytes {
    fn say_bytes(&mut self, bytes: &[u8]);
}

impl SayBytes for Running {
    fn say_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }
}
