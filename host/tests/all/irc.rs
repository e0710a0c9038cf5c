//! The IRC connector against a real ngircd (Debian's, started here on a
//! loopback port with no flood penalty), with people played by plain TCP
//! clients speaking RFC 2812: addressing, private messages, identity by
//! `nick!user@host`, long answers cut to fit, nick-in-use fallback, two
//! networks at once, reconnecting when the server restarts, and a skill's
//! `allow.send` wildcard that cannot reach a list of targets.

use crate::common::{ANSWER_TIMEOUT, BotDir, ServerProcess, free_port, http, wait_for_port};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An ngircd on a loopback port of its own.
pub struct Ngircd {
    /// First: fields drop in order, and the server goes before its folder.
    process: ServerProcess,
    pub port: u16,
    /// The TLS port, when started with `start_tls`.
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Ngircd {
    pub fn start() -> Ngircd {
        let mut server = Ngircd {
            port: free_port(),
            tls_port: None,
            dir: tempfile::tempdir().unwrap(),
            process: ServerProcess::default(),
        };
        server.run();
        server
    }

    /// A server that also speaks TLS, with a self-signed certificate for
    /// `localhost`, which it returns (PEM) for the client to trust.
    pub fn start_tls() -> (Ngircd, String) {
        let dir = tempfile::tempdir().unwrap();
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = issued.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &cert).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            issued.signing_key.serialize_pem(),
        )
        .unwrap();
        // ngircd drops to `nobody` when started as root: let it read them.
        use std::os::unix::fs::PermissionsExt;
        for (name, mode) in [("", 0o755), ("cert.pem", 0o644), ("key.pem", 0o644)] {
            let path = dir.path().join(name);
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut server = Ngircd {
            port: free_port(),
            tls_port: Some(free_port()),
            dir,
            process: ServerProcess::default(),
        };
        server.run();
        (server, cert)
    }

    fn run(&mut self) {
        let conf = self.dir.path().join("ngircd.conf");
        std::fs::write(
            &conf,
            format!(
                "[Global]\nName = irc.test.local\nInfo = sandbot tests\nListen = 127.0.0.1\n\
                 Ports = {}\nMotdPhrase = test\nHelpFile = /dev/null\n\
                 [Limits]\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxPenaltyTime = 0\n\
                 PingTimeout = 120\nPongTimeout = 20\n\
                 [Options]\nDNS = no\nIdent = no\nPAM = no\n{}",
                self.port,
                self.tls_port
                    .map(|p| format!(
                        "[SSL]\nCertFile = {d}/cert.pem\nKeyFile = {d}/key.pem\nPorts = {p}\n",
                        d = self.dir.path().display()
                    ))
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        let binary = if std::path::Path::new("/usr/sbin/ngircd").exists() {
            "/usr/sbin/ngircd"
        } else {
            "ngircd"
        };
        self.process.start(
            Command::new(binary).args(["-n", "-f"]).arg(&conf),
            "ngircd (host/tests/servers.sh installs it)",
        );
        wait_for_port(self.port);
        if let Some(p) = self.tls_port {
            wait_for_port(p);
        }
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Stops the server and starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        // The port must be free again before the new server binds it.
        std::thread::sleep(Duration::from_millis(200));
        self.run();
    }
}

/// A person on IRC: a raw client that answers PINGs and collects lines.
pub struct IrcPerson {
    pub nick: String,
    writer: TcpStream,
    lines: mpsc::Receiver<String>,
}

impl IrcPerson {
    /// Connects as `nick` with user name `user`, and waits for the welcome.
    pub fn connect(port: u16, nick: &str, user: &str) -> IrcPerson {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut pong = stream.try_clone().unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                if let Some(token) = line.strip_prefix("PING ") {
                    let _ = write!(pong, "PONG {token}\r\n");
                    continue;
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut person = IrcPerson {
            nick: nick.into(),
            writer: stream,
            lines,
        };
        person.send(&format!("NICK {nick}"));
        person.send(&format!("USER {user} 0 * :{nick} the tester"));
        person.wait_for(|l| l.split(' ').nth(1) == Some("001"));
        person
    }

    pub fn send(&mut self, raw: &str) {
        write!(self.writer, "{raw}\r\n").unwrap();
        self.writer.flush().unwrap();
    }

    /// A line of raw bytes, not necessarily UTF-8.
    pub fn send_bytes(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).unwrap();
        self.writer.write_all(b"\r\n").unwrap();
        self.writer.flush().unwrap();
    }

    /// Joins `channel` and waits for the end of its names list.
    pub fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}"));
        self.wait_for(|l| l.split(' ').nth(1) == Some("366"));
    }

    pub fn say(&mut self, target: &str, text: &str) {
        self.send(&format!("PRIVMSG {target} :{text}"));
    }

    /// The next line that fits `pred`, within the answer timeout.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("{}: no such line within {ANSWER_TIMEOUT:?}", self.nick),
            }
        }
    }

    /// The text of the next PRIVMSG from `from` (a nick), with its target.
    pub fn message_from(&self, from: &str) -> (String, String) {
        let prefix = format!(":{from}!");
        let line = self.wait_for(|l| l.starts_with(&prefix) && l.contains(" PRIVMSG "));
        privmsg(&line)
    }

    /// Waits for `from` to say exactly `text` to `target`, passing over
    /// anything else (a welcome for someone who joined, say).
    pub fn expect(&self, from: &str, target: &str, text: &str) {
        let prefix = format!(":{from}!");
        let wanted = format!(" PRIVMSG {target} :{text}");
        self.wait_for(|l| l.starts_with(&prefix) && l.ends_with(&wanted));
    }

    /// Every line that arrives within `d`: to show that nothing did.
    pub fn lines_within(&self, d: Duration) -> Vec<String> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(line);
        }
        out
    }

    /// Raw lines (for sizes), the next PRIVMSG from `from`.
    pub fn raw_message_from(&self, from: &str) -> String {
        let prefix = format!(":{from}!");
        self.wait_for(|l| l.starts_with(&prefix) && l.contains(" PRIVMSG "))
    }
}

/// (target, text) of a PRIVMSG line.
fn privmsg(line: &str) -> (String, String) {
    let after = line.split_once(" PRIVMSG ").unwrap().1;
    let (target, text) = after.split_once(" :").unwrap();
    (target.to_string(), text.to_string())
}

/// The `connectors:` entry for an IRC instance on `port`.
pub fn irc_connector(name: &str, port: u16, nick: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    type: irc\n    server: 127.0.0.1\n    port: {port}\n    nick: {nick}\n    channels: ['#ops']\n    prefix: '!'\n{extra}"
    )
}

/// Waits until `nick` is in `#ops`, asking the server for the channel's
/// names until it is (it may have joined before or after `person`).
pub fn wait_for_join(person: &mut IrcPerson, nick: &str) {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        person.send("NAMES #ops");
        let mut found = false;
        loop {
            let line = person.wait_for(|l| matches!(l.split(' ').nth(1), Some("353" | "366")));
            if line.split(' ').nth(1) == Some("366") {
                break;
            }
            let names = line.rsplit_once(" :").map(|(_, n)| n).unwrap_or_default();
            found |= names
                .split(' ')
                .any(|n| n.trim_start_matches(['@', '+']) == nick);
        }
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "{nick} never joined #ops");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn answers_when_addressed_in_channels_and_always_in_private() {
    let server = Ngircd::start();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(
        &["hello", "events"],
        &irc_connector("irc", server.port, "sandbot", ""),
    );
    let running = bot.start();
    wait_for_join(&mut alice, "sandbot");

    alice.say("#ops", "sandbot: hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "Hello alice".into())
    );
    // Talk that is not for the bot is not answered; the prefix is for it.
    alice.say("#ops", "hello");
    alice.say("#ops", "!whoami");
    let (room, text) = alice.message_from("sandbot");
    assert_eq!(room, "#ops");
    assert_eq!(
        text, "id=alice!~alice@127.0.0.1 name=alice connector=irc room=#ops thread=-",
        "the stable id is nick!user@host"
    );
    // A private message needs no address, and is answered in private.
    alice.say("sandbot", "hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("alice".into(), "Hello alice".into())
    );
    // A reaction is shown as one (IRC has none).
    alice.say("sandbot", "react");
    let (_, text) = alice.message_from("sandbot");
    assert_eq!(text, "(reacts 👍)");
    // Joins and parts are events skills can answer.
    let mut bob = IrcPerson::connect(server.port, "bob", "bob");
    bob.join("#ops");
    alice.expect("sandbot", "#ops", "welcome bob!~bob@127.0.0.1");
    bob.send("PART #ops");
    alice.expect("sandbot", "#ops", "goodbye bob!~bob@127.0.0.1");
    drop(running);
}

/// `allow.send: ['irc:#ops*']` and a skill that sends to `#ops,watcher`:
/// the grant check refuses it at the skill's call (IRC would deliver it to
/// `watcher` too), the refusal is in the execution's record, and nothing
/// reaches `watcher`. The same grant does reach `#ops-watch`, which
/// `watcher` hears: the watcher would have seen a message had one gone.
#[test]
fn a_wildcard_grant_never_reaches_a_list_of_targets() {
    let server = Ngircd::start();
    let mut watcher = IrcPerson::connect(server.port, "watcher", "watcher");
    watcher.join("#ops-watch");
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let run_with = |to: &str, alice: &mut IrcPerson| {
        let web = free_port();
        let bot = BotDir::with_connectors(
            &["relay"],
            &format!(
                "  irc:\n    server: 127.0.0.1\n    port: {}\n    nick: sandbot\n    channels: ['#ops', '#ops-watch']\n    prefix: '!'\n\
                 web: {{port: {web}}}\nhistory: {{token: t0ken}}\n\
                 skills:\n  relay:\n    to: 'irc:{to}'\n    allow: {{send: ['irc:#ops*']}}\n",
                server.port
            ),
        );
        let running = bot.start();
        wait_for_join(alice, "sandbot");
        (bot, running, web)
    };

    let (_bot, running, web) = run_with("#ops,watcher", &mut alice);
    alice.say("#ops", "!relay psst");
    let (room, text) = alice.message_from("sandbot");
    assert_eq!(room, "#ops");
    assert!(text.contains("is a list of targets"), "{text}");
    let record = crate::grants::last_record(web, "relay");
    assert_eq!(record["outcome"], "denied", "{record}");
    let denial = record["denials"][0].as_str().unwrap_or_default();
    assert!(
        denial.contains("sending to irc:#ops,watcher is refused")
            && denial.contains("only an allow.send entry naming it exactly grants it"),
        "{record}"
    );
    running.wait_for_log("denied: send to irc:#ops,watcher");
    let heard = watcher.lines_within(Duration::from_secs(1));
    assert!(
        !heard
            .iter()
            .any(|l| l.starts_with(":sandbot!") && l.contains(" PRIVMSG ")),
        "watcher got {heard:?}"
    );
    drop(running);
    alice.wait_for(|l| l.starts_with(":sandbot!") && l.contains(" QUIT"));

    // The control: a room the wildcard covers is reached, and the watcher
    // hears what the bot says there.
    let (_bot, running, _web) = run_with("#ops-watch", &mut alice);
    alice.say("#ops", "!relay deploy done");
    alice.expect("sandbot", "#ops", "Relayed to irc:#ops-watch.");
    watcher.expect("sandbot", "#ops-watch", "[irc #ops] alice: deploy done");
    drop(running);
}

#[test]
fn latin1_bytes_and_ctcp_queries_keep_the_connection() {
    let server = Ngircd::start();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(
        &["hello"],
        &irc_connector("irc", server.port, "sandbot", ""),
    );
    let running = bot.start();
    wait_for_join(&mut alice, "sandbot");

    // An old client's Latin-1 (`café`, `naïve`), in a channel, addressed, and
    // in private: read with U+FFFD, never a reason to drop the connection.
    alice.send_bytes(b"PRIVMSG #ops :caf\xe9 au lait");
    alice.send_bytes(b"PRIVMSG #ops :sandbot: na\xefve \xff\xfe");
    alice.send_bytes(b"PRIVMSG sandbot :\xe9t\xe9");
    // CTCP: VERSION and PING are answered by NOTICE, ACTION is not talk.
    alice.say("sandbot", "\u{1}VERSION\u{1}");
    let version = alice.wait_for(|l| l.starts_with(":sandbot!") && l.contains(" NOTICE alice :"));
    assert!(version.contains("\u{1}VERSION sandbot "), "{version}");
    alice.say("sandbot", "\u{1}PING 12345\u{1}");
    let ping = alice.wait_for(|l| l.starts_with(":sandbot!") && l.contains(" NOTICE alice :"));
    assert!(ping.ends_with("\u{1}PING 12345\u{1}"), "{ping}");
    alice.say("#ops", "\u{1}ACTION waves at sandbot\u{1}");
    // Still the same connection: it answers, and never joined again.
    alice.say("#ops", "sandbot: hello");
    let line = alice.wait_for(|l| {
        l.starts_with(":sandbot!") && (l.contains(" PRIVMSG ") || l.contains(" JOIN "))
    });
    assert!(
        line.ends_with(" PRIVMSG #ops :Hello alice"),
        "reconnected instead: {line}"
    );
    drop(running);
}

#[test]
fn respond_only_matchers_wait_to_be_addressed_while_others_hear() {
    let server = Ngircd::start();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(
        &["hello", "loudnoises"],
        &format!(
            "{}skills:\n  hello:\n    addressed: true\n  loudnoises: {{}}\n",
            irc_connector("irc", server.port, "sandbot", "    hear: true\n")
        ),
    );
    let running = bot.start();
    wait_for_join(&mut alice, "sandbot");
    // Ambient talk reaches the skills that hear it, and only those: the
    // greeting, said to no one, goes unanswered, so the shout's answer is
    // the bot's first word.
    alice.say("#ops", "hello");
    alice.say("#ops", "WHAT A DAY");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "WHAT A DAY!!! WHY ARE WE SHOUTING?".into())
    );
    alice.say("#ops", "sandbot, hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "Hello alice".into())
    );
    alice.say("#ops", "!hello");
    assert_eq!(
        alice.message_from("sandbot"),
        ("#ops".into(), "Hello alice".into())
    );
    drop(running);
}

#[test]
fn admins_are_named_by_nick_user_and_host_never_by_nick_alone() {
    let server = Ngircd::start();
    let bot = BotDir::with_connectors(
        &["hello"],
        &irc_connector("irc", server.port, "sandbot", ""),
    );
    // Only alice's whole identity is an admin.
    let config = std::fs::read_to_string(bot.config())
        .unwrap()
        .replace("admins: [alice]", "admins: ['irc:alice!~alice@127.0.0.1']");
    bot.write_config(&config);
    let running = bot.start();
    // Someone else takes the nick `alice` first.
    let mut impostor = IrcPerson::connect(server.port, "alice", "mallory");
    impostor.join("#ops");
    wait_for_join(&mut impostor, "sandbot");
    impostor.say("#ops", "!reload");
    let (_, text) = impostor.message_from("sandbot");
    assert!(text.contains("only admins"), "{text}");
    impostor.send("QUIT :bye");
    std::thread::sleep(Duration::from_millis(300));

    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.say("sandbot", "reload");
    let (_, text) = alice.message_from("sandbot");
    assert!(!text.contains("only admins"), "{text}");
    // (The log is read from the bot's stderr by another thread: wait for it.)
    running.wait_for_log("reload asked for in chat");
}

#[test]
fn long_answers_fit_in_lines_and_a_taken_nick_falls_back() {
    let server = Ngircd::start();
    // Someone already has the bot's nick.
    let mut squatter = IrcPerson::connect(server.port, "sandbot", "squatter");
    squatter.join("#ops");
    let bot = BotDir::with_connectors(
        &["events"],
        &irc_connector(
            "irc",
            server.port,
            "sandbot",
            "    burst: 100\n    max-lines: 10\n",
        ),
    );
    let _running = bot.start();
    wait_for_join(&mut squatter, "sandbot_");

    // 1,500 characters with two-byte ones among them: several lines, each
    // within 512 bytes as relayed, none splitting a character.
    squatter.say("#ops", "sandbot_: long 1500");
    let expected: String = "0123456789é".chars().cycle().take(1500).collect();
    let mut got = String::new();
    while got.chars().count() < 1500 {
        let raw = squatter.raw_message_from("sandbot_");
        assert!(
            raw.len() + 2 <= 512,
            "a relayed line of {} bytes",
            raw.len() + 2
        );
        got.push_str(&privmsg(&raw).1);
    }
    assert_eq!(got, expected);

    // An answer of more lines than `max-lines` is cut, and says so.
    squatter.say("#ops", "!lines 25");
    let lines: Vec<String> = (0..10)
        .map(|_| squatter.message_from("sandbot_").1)
        .collect();
    assert!(lines[0].starts_with("line 0001"), "{lines:?}");
    assert!(lines[8].starts_with("│ line 0009"), "{lines:?}");
    assert!(
        lines[9].starts_with("… (16 more lines not shown; the whole answer is in history, event "),
        "{lines:?}"
    );
}

#[test]
fn two_networks_at_once_and_a_server_restart_is_survived() {
    let mut a = Ngircd::start();
    let b = Ngircd::start();
    let web = free_port();
    let bot = BotDir::with_connectors(
        &["hello", "events"],
        &format!(
            "{}{}web: {{host: 127.0.0.1, port: {web}}}\n",
            irc_connector("net-a", a.port, "sandbot", ""),
            irc_connector("net-b", b.port, "sandbot", ""),
        ),
    );
    let running = bot.start();
    let mut alice = IrcPerson::connect(a.port, "alice", "alice");
    alice.join("#ops");
    let mut bob = IrcPerson::connect(b.port, "bob", "bob");
    bob.join("#ops");
    wait_for_join(&mut alice, "sandbot");
    wait_for_join(&mut bob, "sandbot");
    // (The bot may welcome them to #ops first: `expect` passes over that.)
    alice.say("sandbot", "whoami");
    alice.expect(
        "sandbot",
        "alice",
        "id=alice!~alice@127.0.0.1 name=alice connector=net-a room=alice thread=-",
    );
    bob.say("sandbot", "whoami");
    bob.expect(
        "sandbot",
        "bob",
        "id=bob!~bob@127.0.0.1 name=bob connector=net-b room=bob thread=-",
    );
    alice.say("#ops", "sandbot: hello");
    alice.expect("sandbot", "#ops", "Hello alice");
    bob.say("#ops", "sandbot: hello");
    bob.expect("sandbot", "#ops", "Hello bob");

    // Network A goes away; B keeps answering, and the status says so.
    a.stop();
    running.wait_for_log("retrying in");
    let (_, status) = http(web, "GET", "/", &[], "");
    assert!(status.contains("reconnecting"), "{status}");
    bob.say("#ops", "!hello");
    bob.expect("sandbot", "#ops", "Hello bob");

    // A comes back on the same port: the bot finds it and rejoins.
    a.restart();
    let mut alice = IrcPerson::connect(a.port, "alice", "alice");
    alice.join("#ops");
    wait_for_join(&mut alice, "sandbot");
    alice.say("#ops", "sandbot: hello");
    alice.expect("sandbot", "#ops", "Hello alice");
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let (_, status) = http(web, "GET", "/", &[], "");
        if !status.contains("reconnecting") {
            assert!(status.contains("connected to 127.0.0.1"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(running);
}

#[test]
fn sending_is_paced_so_the_server_sees_no_flood() {
    let server = Ngircd::start();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(
        &["events"],
        &irc_connector(
            "irc",
            server.port,
            "sandbot",
            "    burst: 2\n    interval: 300ms\n",
        ),
    );
    let _running = bot.start();
    wait_for_join(&mut alice, "sandbot");
    alice.say("#ops", "!lines 6");
    let first = alice.message_from("sandbot");
    let started = Instant::now();
    let rest: Vec<String> = (0..5).map(|_| alice.message_from("sandbot").1).collect();
    assert!(
        first.1.starts_with("line 0001") && rest[4].starts_with("│ line 0006"),
        "{rest:?}"
    );
    // Two at once, then one per 300 ms: the sixth no sooner than 4 × 300 ms
    // after the first.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1100), "six lines in {took:?}");
}

/// Latin-1 bytes arriving while answers wait in the send queue (paced: two
/// at once, then one per 300 ms) drop neither the connection nor the
/// queue: every queued line goes out, in order, on the same connection,
/// and the Latin-1 message itself is read (with U+FFFD) and answered.
#[test]
fn latin1_bytes_while_answers_are_queued_lose_nothing() {
    let server = Ngircd::start();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(
        &["events", "hello"],
        &irc_connector(
            "irc",
            server.port,
            "sandbot",
            "    burst: 2\n    interval: 300ms\n",
        ),
    );
    let running = bot.start();
    wait_for_join(&mut alice, "sandbot");
    alice.say("#ops", "!lines 8");
    let first = alice.message_from("sandbot");
    assert!(first.1.starts_with("line 0001"), "{first:?}");
    // The rest are queued now; Latin-1 arrives in the channel and in private.
    alice.send_bytes(b"PRIVMSG #ops :caf\xe9 cr\xe8me \xff");
    alice.send_bytes(b"PRIVMSG sandbot :h\xe9llo");
    alice.say("#ops", "!hello");
    let mut said = Vec::new();
    while said.len() < 8 {
        let line = alice.wait_for(|l| {
            l.starts_with(":sandbot!") && (l.contains(" PRIVMSG ") || l.contains(" JOIN "))
        });
        assert!(!line.contains(" JOIN "), "reconnected instead: {line}");
        let (target, text) = privmsg(&line);
        if target == "#ops" {
            said.push(text);
        }
    }
    for (i, text) in said[..7].iter().enumerate() {
        assert!(
            text.starts_with(&format!("│ line {:04}", i + 2)),
            "{said:?}"
        );
    }
    assert_eq!(said[7], "Hello alice", "{said:?}");
    assert!(!running.log().contains("reconnect"), "{}", running.log());
}

#[test]
fn tls_with_a_trusted_certificate() {
    let (server, cert) = Ngircd::start_tls();
    let mut alice = IrcPerson::connect(server.port, "alice", "alice");
    alice.join("#ops");
    let bot = BotDir::with_connectors(&["hello"], "");
    let ca = bot.path().join("irc-ca.pem");
    std::fs::write(&ca, cert).unwrap();
    let connector = format!(
        "  irc:\n    server: localhost\n    port: {}\n    tls: true\n    ca-file: {}\n    nick: sandbot\n    channels: ['#ops']\n",
        server.tls_port.unwrap(),
        ca.display()
    );
    let config = std::fs::read_to_string(bot.config()).unwrap();
    bot.write_config(&format!("{config}{connector}"));
    let running = bot.start();
    wait_for_join(&mut alice, "sandbot");
    alice.say("#ops", "sandbot: hello");
    alice.expect("sandbot", "#ops", "Hello alice");
    running.wait_for_log("connected to localhost");
}
