//! Notifications end to end, with the real binary and real receivers: a
//! room (the shell's output), a webhook receiver (axum on a loopback port
//! here) and an SMTP server (aiosmtpd from PyPI, in the venv under
//! target/test-servers/ that `host/tests/servers.sh` fills, with a small
//! handler that writes each mail it takes as a JSON line). Also: the outcome
//! picks on-success or on-failure, a dead channel is retried and given up
//! while the room still hears, an alias's `notify` replaces the skill's, a
//! refused run notifies no one, an unknown channel is a config error, and
//! a bot stopped right after its last executions still sends their notices.

use crate::common::{BotDir, free_port, sandbot, wait_for_port};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// A webhook receiver on a loopback port: every POST's JSON body, kept.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::answering_after(Duration::ZERO)
    }

    /// A receiver that takes `delay` to answer each POST (it keeps the
    /// body as the request arrives).
    fn answering_after(delay: Duration) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/hook",
                    axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                        let kept = kept.clone();
                        async move {
                            kept.lock().unwrap().push(body.0);
                            tokio::time::sleep(delay).await;
                            "ok"
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Receiver { port, bodies }
    }

    /// Waits for the `n`th body.
    fn nth(&self, n: usize) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(b) = self.bodies.lock().unwrap().get(n) {
                return b.clone();
            }
            assert!(Instant::now() < deadline, "no webhook body #{n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The handler aiosmtpd runs: each mail as one JSON line in the file named
/// on the command line, headers decoded.
const SMTP_SERVER: &str = r#"
import asyncio, email, email.policy, json, signal, sys
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        line = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
                "subject": str(msg["subject"]), "body": msg.get_content()}
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps(line) + "\n")
        return "250 OK"

controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
signal.sigwait([signal.SIGTERM, signal.SIGINT])
controller.stop()
"#;

/// aiosmtpd on a free loopback port.
struct SmtpServer {
    port: u16,
    mails: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

fn venv_python() -> PathBuf {
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-servers/venv/bin/python")
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let python = venv_python();
        assert!(
            python.exists(),
            "{} is missing: run host/tests/servers.sh (make test-servers)",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtp.py");
        std::fs::write(&script, SMTP_SERVER).unwrap();
        let mails = dir.path().join("mails.jsonl");
        let port = free_port();
        let child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&mails)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd (run host/tests/servers.sh)");
        wait_for_port(port);
        SmtpServer {
            port,
            mails,
            child,
            _dir: dir,
        }
    }

    /// Waits for the first mail.
    fn first(&self) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = std::fs::read_to_string(&self.mails)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_owned))
            {
                return serde_json::from_str(&line).unwrap();
            }
            assert!(Instant::now() < deadline, "no mail arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_success_reaches_the_room_the_webhook_and_the_mailbox() {
    let hook = Receiver::start();
    let smtp = SmtpServer::start();
    let bot = BotDir::new(
        &["deploy"],
        &format!(
            r#"notifications:
  allow-http: ["http://127.0.0.1:{hook}"]
  channels:
    ops: {{type: room, connector: shell, room: ops}}
    hook: {{type: webhook, url: "http://127.0.0.1:{hook}/hook", headers: {{x-token: s3cret}}}}
    mail:
      type: email
      smtp: "127.0.0.1:{smtp}"
      tls: none
      from: Sandbot <bot@example.org>
      to: [oncall@example.org]
      subject: "{{{{ skill }}}} {{{{ outcome }}}} for {{{{ user }}}}"
skills:
  deploy:
    notify:
      on-success: {{channels: [ops, hook, mail]}}
"#,
            hook = hook.port,
            smtp = smtp.port,
        ),
    );
    let mut run = bot.start();
    assert_eq!(
        run.ask("deploy api to prod"),
        "Deploying api to prod for alice."
    );
    // The room: the default template.
    let notice = run.answer();
    assert!(
        notice.starts_with("✅ deploy (alice): ok in ") && notice.ends_with('s'),
        "{notice}"
    );
    // The webhook: the text, the rule, the whole record.
    let body = hook.nth(0);
    assert_eq!(body["text"], notice.as_str());
    assert_eq!(body["when"], "on-success");
    let e = &body["execution"];
    assert_eq!(e["skill"], "deploy");
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["user_id"], "alice");
    assert_eq!(e["matcher"], "deploy");
    assert_eq!(
        e["responses"][0]["body"]["text"],
        "Deploying api to prod for alice."
    );
    assert!(
        e["captures"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["app", "api"])),
        "{e}"
    );
    // The mail: the subject template, the text and the record's fields.
    let mail = smtp.first();
    assert_eq!(mail["from"], "bot@example.org");
    assert_eq!(mail["to"], serde_json::json!(["oncall@example.org"]));
    assert_eq!(mail["subject"], "deploy ok for alice");
    // SMTP carries CRLF line ends.
    let text = mail["body"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.starts_with(&notice), "{text}");
    assert!(text.contains("\nmatcher: deploy\n"), "{text}");
    assert!(text.contains("\noutcome: ok\n"), "{text}");
}

#[test]
fn the_outcome_picks_on_success_or_on_failure() {
    let rules = r#"
    notify:
      on-success: {channels: [ops], template: "good {{ skill }} {{ outcome }}"}
      on-failure: {channels: [ops], template: "bad {{ skill }} {{ outcome }}{% if error %} (with an error){% endif %}"}
      on-complete: {channels: [done], template: "done {{ skill }} by {{ user_id }}"}"#;
    let bot = BotDir::new(
        &["hello", "trap-and-panic"],
        &format!(
            "notifications:\n  channels:\n    ops: {{type: room, connector: shell, room: ops}}\n    done: {{type: room, connector: shell, room: done}}\nskills:\n  hello:{rules}\n  trap-and-panic:{rules}\n"
        ),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("hi"), "Hi alice");
    // Two channels, two tasks: their order is not fixed.
    let mut notices = run.answers(2);
    notices.sort();
    assert_eq!(notices, ["done hello by alice", "good hello ok"]);

    let warning = run.ask("trap");
    assert!(warning.starts_with("⚠ trap-and-panic: "), "{warning}");
    let mut notices = run.answers(2);
    notices.sort();
    assert_eq!(
        notices[0], "bad trap-and-panic crashed (with an error)",
        "{notices:?}"
    );
    assert_eq!(notices[1], "done trap-and-panic by alice");
    assert_eq!(run.try_answer(Duration::from_millis(300)), None);
}

#[test]
fn a_dead_webhook_is_retried_and_given_up_while_the_room_hears_at_once() {
    let closed = free_port();
    let web = free_port();
    let bot = BotDir::new(
        &["hello"],
        &format!(
            r#"logging: {{level: debug}}
web: {{port: {web}}}
notifications:
  allow-http: ["http://127.0.0.1:{closed}"]
  retries: 2
  backoff: 400ms
  channels:
    hook: {{type: webhook, url: "http://127.0.0.1:{closed}/x"}}
    ops: {{type: room, connector: shell, room: ops}}
skills:
  hello:
    notify:
      on-complete: {{channels: [hook, ops]}}
"#
        ),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    let notice = run.answer();
    assert!(notice.starts_with("✅ hello (alice): ok in "), "{notice}");
    // The room did not wait for the webhook's retries (0.4 s, then 0.8 s).
    assert!(
        !run.log().contains("notification given up"),
        "{}",
        run.log()
    );
    run.wait_for_log("notification given up");
    let log = run.log();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("notification failed, retrying"))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    assert!(
        failed[0].contains("channel=hook") && failed[0].contains("attempt=1"),
        "{log}"
    );
    assert!(failed[1].contains("attempt=2"), "{log}");
    let gave_up = log.lines().find(|l| l.contains("given up")).unwrap();
    assert!(
        gave_up.contains("attempt=3") && gave_up.contains(&format!("127.0.0.1:{closed}")),
        "{gave_up}"
    );
    assert!(
        log.contains("channel=ops") && log.contains("notified"),
        "{log}"
    );
    // Counted by channel in `/metrics`.
    let (status, metrics) = crate::common::http(web, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sandbot_notifications_failed_total{channel=\"hook\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("channel=\"ops\""), "{metrics}");
    // Each channel's outcome is in the execution's record.
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    let history = bot.history();
    let records = history
        .find(&sandbot::history::Filter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let mut notified = records[0].notified.clone();
    notified.sort_by(|a, b| a.channel.cmp(&b.channel));
    assert_eq!(notified.len(), 2, "{notified:?}");
    assert_eq!(
        (
            notified[0].channel.as_str(),
            notified[0].ok,
            notified[0].when.as_str()
        ),
        ("hook", false, "on-complete")
    );
    assert!(
        notified[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("127.0.0.1:{closed}")),
        "{notified:?}"
    );
    assert_eq!(
        (notified[1].channel.as_str(), notified[1].ok),
        ("ops", true)
    );
    assert_eq!(notified[1].error, None);
    assert_eq!(records[0].trigger.as_deref(), Some("chat"));
    assert!(records[0].host.is_some(), "{:?}", records[0]);
}

#[test]
fn an_aliass_notify_replaces_the_skills() {
    let bot = BotDir::new(
        &["deploy"],
        r#"notifications:
  channels:
    ops: {type: room, connector: shell, room: ops}
skills:
  deploy:
    notify:
      on-success: {channels: [ops], template: "skill's own: {{ parameters.app }}"}
    aliases:
      - format: "ship {{app}}"
        matcher: deploy
        parameters: {env: prod}
        notify:
          on-success:
            channels: [ops]
            template: "shipped {{ parameters.app }} to {{ parameters.env }} via '{{ alias }}'"
      - format: "quietly ship {{app}}"
        matcher: deploy
        notify: {}
"#,
    );
    let mut run = bot.start();
    assert_eq!(run.ask("deploy api"), "Deploying api to staging for alice.");
    assert_eq!(run.answer(), "skill's own: api");
    assert_eq!(run.ask("ship web"), "Deploying web to prod for alice.");
    assert_eq!(run.answer(), "shipped web to prod via 'ship {{app}}'");
    assert_eq!(
        run.ask("quietly ship db"),
        "Deploying db to staging for alice."
    );
    assert_eq!(run.try_answer(Duration::from_millis(500)), None);
}

#[test]
fn a_refused_run_notifies_no_one() {
    let bot = BotDir::new(
        &["deploy", "hello"],
        r#"notifications:
  channels:
    ops: {type: room, connector: shell, room: ops}
skills:
  deploy:
    permissions: {allow-users: [bob]}
    notify:
      on-complete: {channels: [ops]}
  hello:
    notify:
      on-complete: {channels: [ops], template: "hello ran"}
"#,
    );
    let mut run = bot.start();
    let refused = run.ask("deploy api");
    assert!(refused.starts_with("⛔ Sorry alice"), "{refused}");
    // The next line is hello's answer and notice, not one about deploy.
    assert_eq!(run.ask("hi"), "Hi alice");
    assert_eq!(run.answer(), "hello ran");
}

#[test]
fn an_unknown_channel_is_a_config_error_with_its_line() {
    let bot = BotDir::new(
        &["deploy"],
        "notifications:\n  channels:\n    ops: {type: room, connector: shell, room: ops}\nskills:\n  deploy:\n    notify:\n      on-failure:\n        channels: [ops, pager]\n",
    );
    let config = bot.config();
    let file = config.to_str().unwrap();
    let expected = format!(
        "{file}:13:25: skills.deploy.notify.on-failure.channels: no channel named `pager` under notifications.channels (there are: ops)"
    );
    let (status, _, err) = sandbot(&["config", "validate", "-c", file]);
    assert!(!status.success());
    assert!(err.contains(&expected), "{err}");
    let (status, _, err) = sandbot(&["start", "-c", file]);
    assert!(!status.success());
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_stopping_bot_sends_the_notices_still_queued() {
    // Each POST takes the receiver 300 ms, so when the bot is told to stop
    // right after its fifth answer most notices are still queued.
    let hook = Receiver::answering_after(Duration::from_millis(300));
    let bot = BotDir::new(
        &["hello"],
        &format!(
            r#"notifications:
  allow-http: ["http://127.0.0.1:{hook}"]
  channels:
    hook: {{type: webhook, url: "http://127.0.0.1:{hook}/hook"}}
skills:
  hello:
    notify:
      on-success: {{channels: [hook], template: "{{{{ skill }}}} for {{{{ user }}}}"}}
"#,
            hook = hook.port,
        ),
    );
    let mut run = bot.start();
    for _ in 0..5 {
        assert_eq!(run.ask("hello"), "Hello alice");
    }
    run.terminate();
    let (_, status, log) = run.wait_exit(WAIT);
    assert!(status.success(), "{status}; log:\n{log}");
    // Gone, and every notice was taken before it went.
    assert_eq!(hook.bodies.lock().unwrap().len(), 5, "log:\n{log}");
}

/// A room channel naming an IRC channel the connector does not join is
/// warned of at start (the bot never joins it; most servers refuse a
/// message from outside), while a joined one is not.
#[test]
fn a_room_the_irc_connector_does_not_join_is_warned_of_at_start() {
    let closed = free_port();
    let bot = BotDir::with_connectors(
        &["hello"],
        &format!(
            "  irc:\n    server: 127.0.0.1\n    port: {closed}\n    nick: sandbot\n    channels: ['#Ops key']\n\
             notifications:\n  channels:\n    ops: {{type: room, connector: irc, room: '#ops'}}\n    nope: {{type: room, connector: irc, room: '#nowhere'}}\n\
             skills:\n  hello:\n    notify:\n      on-complete: {{channels: [ops, nope]}}\n"
        ),
    );
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    let log = run.log();
    assert!(
        log.contains(
            "notifications.channels.nope: room `#nowhere` is not among connectors.irc.channels"
        ),
        "{log}"
    );
    assert!(!log.contains("notifications.channels.ops:"), "{log}");
}
