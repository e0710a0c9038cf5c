//! Every execution, successful or not, yields exactly one record with what
//! audit, history and notifications need; observers get each one.

use crate::common::{BotDir, texts};
use sandbot::app::App;
use sandbot::event::{Event, Execution, Message, Outcome};
use sandbot::observe::Observer;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<Vec<Execution>>);

impl Observer for Recorder {
    fn executed(&self, execution: &Execution) {
        self.0.lock().unwrap().push(execution.clone());
    }
}

fn message(text: &str) -> Event {
    Event::Message(Message {
        id: format!("m-{text}"),
        text: text.into(),
        user: "Alice".into(),
        user_id: "alice".into(),
        room: "ops".into(),
        connector: "shell".into(),
        thread: Some("t1".into()),
        received_at: sandbot::event::now_ms(),
        addressed: true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_error_timeout_and_denied_each_leave_one_record() {
    let bot = BotDir::new(
        &["hello", "env-read", "infinite-loop", "forbidden-host"],
        "skills:
  hello: {}
  env-read: {}
  infinite-loop: {limits: {time: 200ms}}
  forbidden-host:
    allow: {http: [\"https://api.allowed.test\"]}
    url: http://example.com/
",
    );
    let recorder = Arc::new(Recorder::default());
    let config = sandbot::config::load(&bot.config()).unwrap();
    let mut app = App::start_with(config, vec![recorder.clone()])
        .await
        .unwrap();
    let mut outbox = app.take_outbox("shell").unwrap();
    for text in [
        "hello",
        "read env",
        "loop",
        "fetch forbidden",
        "nothing matches this",
    ] {
        app.bot.dispatch(message(text)).await;
    }
    let records = std::mem::take(&mut *recorder.0.lock().unwrap());
    assert_eq!(records.len(), 4, "one record per execution: {records:#?}");
    let hello = std::fs::read(crate::common::skill_wasm("hello")).unwrap();
    let by_skill = |name: &str| records.iter().find(|r| r.skill == name).unwrap();

    let ok = by_skill("hello");
    assert_eq!(ok.outcome, Outcome::Ok);
    assert_eq!(ok.error, None);
    assert_eq!(ok.version, "0.1.0");
    assert_eq!(ok.sha256, sandbot::skill_file::sha256_hex(&hello));
    assert_eq!(ok.matcher, "greet");
    assert_eq!(
        (
            ok.connector.as_deref(),
            ok.room.as_deref(),
            ok.thread.as_deref()
        ),
        (Some("shell"), Some("ops"), Some("t1"))
    );
    assert_eq!(
        (ok.user.as_deref(), ok.user_id.as_deref()),
        (Some("Alice"), Some("alice"))
    );
    assert_eq!(ok.text.as_deref(), Some("hello"));
    assert_eq!(ok.captures, [("greeting".to_string(), "hello".to_string())]);
    assert!(ok.started_at > 0 && ok.ended_at >= ok.started_at);
    assert_eq!(ok.responses.len(), 1);
    assert_eq!(ok.responses[0].in_reply_to, Some(ok.event_id));

    let error = by_skill("env-read");
    assert_eq!(error.outcome, Outcome::Error);
    assert!(
        error.error.as_deref().unwrap().contains("env read failed"),
        "{error:?}"
    );

    let timeout = by_skill("infinite-loop");
    assert_eq!(timeout.outcome, Outcome::Timeout);
    assert_eq!(
        timeout.error.as_deref(),
        Some("ran past its time budget of 200ms")
    );
    assert!(timeout.micros >= 200_000, "{}", timeout.micros);

    let denied = by_skill("forbidden-host");
    assert_eq!(denied.outcome, Outcome::Denied);
    assert_eq!(
        denied.denials,
        ["outbound HTTP: http://example.com:80 is not in the skill's allow.http list"]
    );

    // Every record crosses a process boundary as JSON and back unchanged.
    for r in &records {
        let json = serde_json::to_string(r).unwrap();
        assert_eq!(&serde_json::from_str::<Execution>(&json).unwrap(), r);
    }
    assert!(
        serde_json::to_string(ok)
            .unwrap()
            .contains(r#""outcome":"ok""#)
    );
    // The failures were told to the user too.
    let answers = texts(&mut outbox);
    assert_eq!(answers.len(), 4, "{answers:?}");
}
