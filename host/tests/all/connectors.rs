//! Connectors as plug-ins: named instances, two of one kind at once, each
//! answering its own clients; a bad kind or setting named at its line.

use crate::common::{BotDir, Running, free_port, sandbot};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Connects to a line-chat connector, retrying while the bot starts.
fn connect(port: u16) -> TcpStream {
    for _ in 0..200 {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            return c;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}

fn ask(c: &mut TcpStream, text: &str) -> String {
    writeln!(c, "{text}").unwrap();
    let mut line = String::new();
    BufReader::new(c.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim_end().to_string()
}

#[test]
fn two_connectors_of_one_kind_run_side_by_side() {
    let (ops, dev) = (free_port(), free_port());
    let bot = BotDir::with_connectors(
        &["hello"],
        &format!(
            "  ops: {{type: tcp, port: {ops}, user: ada}}\n  dev: {{type: tcp, port: {dev}, user: bob}}\n"
        ),
    );
    let (status, out, err) = sandbot(&["config", "validate", "-c", bot.config().to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert!(
        out.contains("valid (3 connectors, 0 configured skills, 0 workflows)"),
        "{out}"
    );

    let mut run = Running::start(&bot.config(), &[]);
    let mut a = connect(ops);
    let mut b = connect(dev);
    assert_eq!(ask(&mut a, "hello"), "Hello ada");
    assert_eq!(ask(&mut b, "hi"), "Hi bob");
    assert_eq!(ask(&mut a, "hey"), "Hey ada");
    assert_eq!(run.ask("hello"), "Hello alice", "the shell still answers");
}

#[test]
fn unknown_kinds_and_bad_settings_are_named_at_their_line() {
    let bot = BotDir::with_connectors(&[], "  ops: {type: irk}\n");
    let file = bot.config();
    let (status, _, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{}:7:15: connectors.ops.type: unknown connector type `irk`, expected one of shell, tcp",
            file.display()
        )),
        "{err}"
    );

    bot.write_config("connectors:\n  ops:\n    type: tcp\n    port: seven\n");
    let (status, _, err) = sandbot(&["start", "-c", file.to_str().unwrap()]);
    assert!(!status.success(), "the bot must not start");
    assert!(
        err.contains(&format!(
            "{}:4:11: connectors.ops.port: invalid type: string \"seven\", expected u16",
            file.display()
        )),
        "{err}"
    );

    bot.write_config("connectors:\n  ops:\n    type: tcp\n    port: 1\n    prot: 2\n");
    let (status, _, err) = sandbot(&["config", "validate", "-c", file.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains(&format!(
            "{}:5:5: connectors.ops: unknown field `prot` (did you mean `port`?), expected one of",
            file.display()
        )),
        "{err}"
    );
}
