//! The Matrix connector against a real Synapse (from PyPI, in a venv under
//! target/test-servers/, started here on a loopback port), with people
//! played by matrix-sdk clients: `hello` answered, thread replies,
//! reactions both ways, an encrypted room, a restart that answers nothing
//! twice and what was said while it was down once, admins by Matrix id, and
//! a bridge from IRC.

use crate::common::{ANSWER_TIMEOUT, BotDir, Running, free_port};
use crate::irc::{IrcPerson, Ngircd, irc_connector, wait_for_join};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::reaction::{OriginalSyncReactionEvent, ReactionEventContent};
use matrix_sdk::ruma::events::relation::{Annotation, Thread};
use matrix_sdk::ruma::events::room::member::{MembershipState, OriginalSyncRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use matrix_sdk::{Client, Room};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A Synapse homeserver (`server_name: localhost`) on a loopback port.
pub struct Synapse {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

fn synapse_python() -> PathBuf {
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-servers/venv/bin/python")
}

/// Rate limits Synapse would otherwise apply to a test's quick messages.
/// (The nested ones, `rc_login`, `rc_joins`, `rc_invites`, are in the
/// configuration text.)
const NO_RATE_LIMITS: &[&str] = &["rc_registration", "rc_joins_per_room", "rc_room_creation"];

impl Synapse {
    pub async fn start() -> Synapse {
        Synapse::start_with_message_rate("{per_second: 10000, burst_count: 10000}").await
    }

    /// A homeserver whose `rc_message` (messages per user) is `rate`.
    pub async fn start_with_message_rate(rate: &str) -> Synapse {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let mut config = format!(
            "server_name: localhost\n\
             pid_file: {d}/homeserver.pid\n\
             listeners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
             database:\n  name: sqlite3\n  args:\n    database: {d}/homeserver.db\n\
             media_store_path: {d}/media\n\
             signing_key_path: {d}/signing.key\n\
             log_config: null\n\
             registration_shared_secret: test-secret\n\
             enable_registration: true\n\
             enable_registration_without_verification: true\n\
             bcrypt_rounds: 4\n\
             report_stats: false\n\
             trusted_key_servers: []\n\
             suppress_key_server_warning: true\n\
             federation_domain_whitelist: []\n\
             use_presence: false\n\
             url_preview_enabled: false\n\
             rc_login:\n  address: {{per_second: 10000, burst_count: 10000}}\n  account: {{per_second: 10000, burst_count: 10000}}\n  failed_attempts: {{per_second: 10000, burst_count: 10000}}\n\
             rc_invites:\n  per_room: {{per_second: 10000, burst_count: 10000}}\n  per_user: {{per_second: 10000, burst_count: 10000}}\n  per_issuer: {{per_second: 10000, burst_count: 10000}}\n\
             rc_joins:\n  local: {{per_second: 10000, burst_count: 10000}}\n  remote: {{per_second: 10000, burst_count: 10000}}\n"
        );
        config.push_str(&format!("rc_message: {rate}\n"));
        for key in NO_RATE_LIMITS {
            config.push_str(&format!(
                "{key}: {{per_second: 10000, burst_count: 10000}}\n"
            ));
        }
        let hs = dir.path().join("homeserver.yaml");
        std::fs::write(&hs, config).unwrap();
        let python = synapse_python();
        assert!(
            python.exists(),
            "{} is missing: host/tests/servers.sh installs Synapse",
            python.display()
        );
        let keys = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
            .arg(&hs)
            .output()
            .unwrap();
        assert!(
            keys.status.success(),
            "{}",
            String::from_utf8_lossy(&keys.stderr)
        );
        let child = Synapse::spawn(dir.path());
        let synapse = Synapse { port, dir, child };
        synapse.wait_ready().await;
        synapse
    }

    fn spawn(dir: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("synapse.log"))
            .unwrap();
        Command::new(synapse_python())
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(dir.join("homeserver.yaml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Stops the server, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a killed server again on the same port and database.
    pub async fn start_again(&mut self) {
        self.child = Synapse::spawn(self.dir.path());
        self.wait_ready().await;
    }

    /// Stops the server (as a crash would) and starts it again on the same
    /// port and database.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.child = Synapse::spawn(self.dir.path());
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let versions = format!("{}/_matrix/client/versions", self.url());
        loop {
            if let Ok(r) = reqwest::get(&versions).await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "Synapse did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers `user` with `password` (open registration, dummy auth).
    pub async fn register(&self, user: &str, password: &str) {
        let body = serde_json::json!({
            "username": user, "password": password,
            "auth": {"type": "m.login.dummy"}, "inhibit_login": true,
        });
        let answer = reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/register", self.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
    }

    /// The `connectors:` entry for a bot logging in as `user`.
    pub fn connector(&self, name: &str, user: &str) -> String {
        format!(
            "  {name}:\n    type: matrix\n    homeserver: {}\n    user: {user}\n    password: ${{MATRIX_PASSWORD}}\n",
            self.url()
        )
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Something a person's client saw in a room.
#[derive(Debug, Clone)]
pub struct Seen {
    pub room: OwnedRoomId,
    pub sender: OwnedUserId,
    pub event_id: OwnedEventId,
    /// `text:…`, `notice:…`, `reaction:<key>`, `join`.
    pub what: String,
    /// The thread root, or the reacted-to event.
    pub relates_to: Option<OwnedEventId>,
}

/// A person with a Matrix client (keys in memory), syncing in the background.
pub struct Person {
    pub client: Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    sync: tokio::task::JoinHandle<()>,
}

impl Person {
    pub async fn log_in(synapse: &Synapse, user: &str, password: &str) -> Person {
        let client = Client::builder()
            .homeserver_url(synapse.url())
            .build()
            .await
            .unwrap();
        client
            .matrix_auth()
            .login_username(user, password)
            .send()
            .await
            .unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = seen.clone();
        client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
            let s = s.clone();
            async move {
                let what = match &ev.content.msgtype {
                    MessageType::Text(t) => format!("text:{}", t.body),
                    MessageType::Notice(n) => format!("notice:{}", n.body),
                    _ => return,
                };
                let relates_to = match &ev.content.relates_to {
                    Some(Relation::Thread(t)) => Some(t.event_id.clone()),
                    _ => None,
                };
                s.lock().unwrap().push(Seen {
                    room: room.room_id().to_owned(),
                    sender: ev.sender,
                    event_id: ev.event_id,
                    what,
                    relates_to,
                });
            }
        });
        let s = seen.clone();
        client.add_event_handler(move |ev: OriginalSyncReactionEvent, room: Room| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(Seen {
                    room: room.room_id().to_owned(),
                    sender: ev.sender,
                    event_id: ev.event_id,
                    what: format!("reaction:{}", ev.content.relates_to.key),
                    relates_to: Some(ev.content.relates_to.event_id),
                });
            }
        });
        let s = seen.clone();
        client.add_event_handler(move |ev: OriginalSyncRoomMemberEvent, room: Room| {
            let s = s.clone();
            async move {
                if ev.content.membership == MembershipState::Join {
                    s.lock().unwrap().push(Seen {
                        room: room.room_id().to_owned(),
                        sender: ev.state_key,
                        event_id: ev.event_id,
                        what: "join".into(),
                        relates_to: None,
                    });
                }
            }
        });
        client.sync_once(SyncSettings::default()).await.unwrap();
        let syncing = client.clone();
        // Syncs on through a homeserver restart.
        let sync = tokio::spawn(async move {
            loop {
                let settings = SyncSettings::default().timeout(Duration::from_secs(5));
                if syncing.sync_once(settings).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        Person { client, seen, sync }
    }

    /// A new room with `invite` invited, encrypted or not.
    pub async fn create_room(&self, invite: &[&str], encrypted: bool) -> Room {
        let mut request = CreateRoom::new();
        request.invite = invite
            .iter()
            .map(|u| OwnedUserId::try_from(*u).unwrap())
            .collect();
        let room = self.client.create_room(request).await.unwrap();
        if encrypted {
            room.enable_encryption().await.unwrap();
        }
        room
    }

    /// A new plain room with `invite` invited and the alias `#name:localhost`.
    pub async fn create_room_named(&self, invite: &[&str], name: &str) -> Room {
        let mut request = CreateRoom::new();
        request.invite = invite
            .iter()
            .map(|u| OwnedUserId::try_from(*u).unwrap())
            .collect();
        request.room_alias_name = Some(name.to_owned());
        self.client.create_room(request).await.unwrap()
    }

    pub async fn say(&self, room: &Room, text: &str) -> OwnedEventId {
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .unwrap()
            .event_id
    }

    pub async fn say_in_thread(
        &self,
        room: &Room,
        root: &OwnedEventId,
        text: &str,
    ) -> OwnedEventId {
        let mut content = RoomMessageEventContent::text_plain(text);
        content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root.clone())));
        room.send(content).await.unwrap().event_id
    }

    pub async fn react(&self, room: &Room, to: &OwnedEventId, key: &str) {
        room.send(ReactionEventContent::new(Annotation::new(
            to.clone(),
            key.into(),
        )))
        .await
        .unwrap();
    }

    /// Waits for something from `sender` in `room` that `pred` accepts.
    pub async fn wait_for(&self, room: &Room, sender: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            if let Some(s) = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.room == room.room_id() && s.sender == sender && pred(s))
            {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nothing from {sender} within {ANSWER_TIMEOUT:?}; seen: {:#?}",
                self.seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything `sender` said in `room` so far.
    pub fn said_by(&self, room: &Room, sender: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| {
                s.room == room.room_id() && s.sender == sender && s.what.starts_with("text:")
            })
            .map(|s| s.what.clone())
            .collect()
    }
}

impl Drop for Person {
    fn drop(&mut self) {
        self.sync.abort();
    }
}

pub const BOT: &str = "@sandbot:localhost";

/// Synapse with alice, bob and the bot registered.
pub async fn homeserver() -> Synapse {
    registered(Synapse::start().await).await
}

pub async fn registered(synapse: Synapse) -> Synapse {
    for (user, pw) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("sandbot", "bot-pw"),
        ("sandbot2", "bot-pw"),
    ] {
        synapse.register(user, pw).await;
    }
    synapse
}

pub fn start_bot(bot: &BotDir) -> Running {
    Running::start(&bot.config(), &[("MATRIX_PASSWORD", "bot-pw")])
}

pub fn text(s: &str) -> impl Fn(&Seen) -> bool + '_ {
    move |seen: &Seen| seen.what == format!("text:{s}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_threads_reactions_and_a_restart_that_answers_nothing_twice() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    // Said before the bot was there: not for it to answer when it joins.
    alice.say(&room, "hello").await;
    let bot = BotDir::with_connectors(
        &["hello", "events"],
        &synapse.connector("matrix", "sandbot"),
    );
    let running = start_bot(&bot);
    // The bot accepts the invite.
    alice.wait_for(&room, BOT, |s| s.what == "join").await;

    let first = alice.say(&room, "hello").await;
    alice.wait_for(&room, BOT, text("Hello alice")).await;

    // In a thread, the answer stays in the thread.
    alice.say_in_thread(&room, &first, "whoami").await;
    let answer = alice
        .wait_for(&room, BOT, |s| s.what.starts_with("text:id="))
        .await;
    assert_eq!(
        answer.what,
        format!(
            "text:id=@alice:localhost name=alice connector=matrix room={} thread={first}",
            room.room_id()
        )
    );
    assert_eq!(
        answer.relates_to.as_ref(),
        Some(&first),
        "answered in the thread"
    );

    // Reactions, out and in.
    let asked = alice.say(&room, "react").await;
    let reaction = alice
        .wait_for(&room, BOT, |s| s.what.starts_with("reaction:"))
        .await;
    assert_eq!(
        (reaction.what.as_str(), reaction.relates_to.as_ref()),
        ("reaction:👍", Some(&asked))
    );
    alice.react(&room, &answer.event_id, "👀").await;
    alice
        .wait_for(
            &room,
            BOT,
            text(&format!(
                "@alice:localhost reacted 👀 to {}",
                answer.event_id
            )),
        )
        .await;

    // The bot stops; alice says hello while it is away; it comes back.
    drop(running);
    alice.say(&room, "hello").await;
    let running = start_bot(&bot);
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while alice
        .said_by(&room, BOT)
        .iter()
        .filter(|t| *t == "text:Hello alice")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "what was said while the bot was away was not answered: {:?}",
            alice.said_by(&room, BOT)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing from before the restart is answered again.
    alice.say(&room, "whoami").await;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while alice
        .said_by(&room, BOT)
        .iter()
        .filter(|t| t.starts_with("text:id="))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{:?}", alice.said_by(&room, BOT));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = alice.said_by(&room, BOT);
    assert_eq!(
        said.iter().filter(|t| *t == "text:Hello alice").count(),
        2,
        "{said:?}"
    );
    assert_eq!(
        said.len(),
        5,
        "two hellos, two whoamis, one reaction note: {said:?}"
    );
    let log = running.log();
    assert!(!log.contains("bot-pw"), "the password leaked:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_room_is_read_and_answered() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], true).await;
    let bot = BotDir::with_connectors(&["hello"], &synapse.connector("matrix", "sandbot"));
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    assert!(room.latest_encryption_state().await.unwrap().is_encrypted());

    alice.say(&room, "hello").await;
    alice.wait_for(&room, BOT, text("Hello alice")).await;
    // The crypto store is in the bot's data folder.
    assert!(
        bot.path().join("data/connectors/matrix/store").is_dir(),
        "{}",
        running.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_by_matrix_id_and_a_bridge_from_irc() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let bob = Person::log_in(&synapse, "bob", "bob-pw").await;
    let room = alice.create_room(&[BOT, "@bob:localhost"], false).await;
    bob.client.join_room_by_id(room.room_id()).await.unwrap();
    let irc = Ngircd::start();
    let mut connectors = synapse.connector("matrix", "sandbot");
    connectors.push_str(&irc_connector("irc", irc.port, "sandbot", ""));
    let room_id = room.room_id().to_string();
    connectors.push_str(&format!(
        "skills:\n  relay:\n    to: 'matrix:{room_id}'\n    allow: {{send: ['matrix:{room_id}']}}\n"
    ));
    let bot = BotDir::with_connectors(&["hello", "relay"], &connectors);
    let config = std::fs::read_to_string(bot.config())
        .unwrap()
        .replace("admins: [alice]", "admins: ['matrix:@alice:localhost']");
    bot.write_config(&config);
    let _running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;

    // bob is no admin; alice is, by her Matrix id.
    let bob_room = bob.client.get_room(room.room_id()).unwrap();
    bob.say(&bob_room, "reload").await;
    alice
        .wait_for(&room, BOT, |s| s.what.contains("only admins"))
        .await;
    alice.say(&room, "reload").await;
    alice
        .wait_for(&room, BOT, |s| {
            s.what.starts_with("text:") && !s.what.contains("only admins")
        })
        .await;

    // Said on IRC, relayed into the Matrix room.
    let irc_port = irc.port;
    let relayed = tokio::task::spawn_blocking(move || {
        let mut carol = IrcPerson::connect(irc_port, "carol", "carol");
        carol.join("#ops");
        wait_for_join(&mut carol, "sandbot");
        carol.say("#ops", "!relay deploy done");
        carol.message_from("sandbot").1
    })
    .await
    .unwrap();
    assert_eq!(relayed, format!("Relayed to matrix:{room_id}."));
    alice
        .wait_for(&room, BOT, text("[irc #ops] carol: deploy done"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_on_one_homeserver_and_a_homeserver_restart() {
    let mut synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let ops = alice.create_room(&[BOT], false).await;
    let dev = alice.create_room(&["@sandbot2:localhost"], false).await;
    let web = free_port();
    let mut connectors = synapse.connector("matrix-ops", "sandbot");
    connectors.push_str(&synapse.connector("matrix-dev", "sandbot2"));
    connectors.push_str(&format!("web: {{host: 127.0.0.1, port: {web}}}\n"));
    let bot = BotDir::with_connectors(&["hello", "events"], &connectors);
    let running = start_bot(&bot);
    alice.wait_for(&ops, BOT, |s| s.what == "join").await;
    alice
        .wait_for(&dev, "@sandbot2:localhost", |s| s.what == "join")
        .await;

    // Each answers in its own room, as its own user.
    alice.say(&ops, "whoami").await;
    alice.say(&dev, "whoami").await;
    let a = alice
        .wait_for(&ops, BOT, |s| s.what.starts_with("text:id="))
        .await;
    let b = alice
        .wait_for(&dev, "@sandbot2:localhost", |s| {
            s.what.starts_with("text:id=")
        })
        .await;
    assert!(a.what.contains("connector=matrix-ops"), "{a:?}");
    assert!(b.what.contains("connector=matrix-dev"), "{b:?}");

    // The homeserver goes down and comes back: both bots go on syncing.
    synapse.restart().await;
    alice.say(&ops, "hello").await;
    alice.say(&dev, "hello").await;
    alice.wait_for(&ops, BOT, text("Hello alice")).await;
    alice
        .wait_for(&dev, "@sandbot2:localhost", text("Hello alice"))
        .await;
    running.wait_for_log("Matrix /sync failed");
    let (_, status) = crate::common::http(web, "GET", "/", &[], "");
    assert!(status.contains("connected to http://127.0.0.1"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out() {
    // Two messages at once, then one every two seconds, per user.
    let synapse =
        registered(Synapse::start_with_message_rate("{per_second: 0.5, burst_count: 2}").await)
            .await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let bot = BotDir::with_connectors(&["dance"], &synapse.connector("matrix", "sandbot"));
    let running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    // One request, four answers within half a second: the third and fourth
    // are refused (429 with `retry_after_ms`), waited out, and sent, in order.
    alice.say(&room, "dance").await;
    let moves = [":D|-<", ":D/-<", ":D|-<", ":D\\-<"];
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    while alice.said_by(&room, BOT).len() < moves.len() {
        assert!(Instant::now() < deadline, "{:?}", alice.said_by(&room, BOT));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(synapse.dir.path().join("synapse.log")).unwrap();
    let limited = log
        .lines()
        .filter(|l| l.contains("@sandbot:localhost") && l.contains(" 429 "))
        .count();
    assert!(
        limited > 0,
        "the bot was never rate-limited:\n{}",
        running.log()
    );
    let said = alice.said_by(&room, BOT);
    let expected: Vec<String> = moves.iter().map(|m| format!("text:{m}")).collect();
    assert_eq!(said, expected, "in order, once each");
}

/// A long answer (1,100 lines, 67 KB, over Matrix's 64 KiB event) arrives
/// as messages cut between lines, marked `(i/n)`, in order: no line is cut
/// in two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_is_split_between_lines_and_marked() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let room = alice.create_room(&[BOT], false).await;
    let bot = BotDir::with_connectors(
        &["events"],
        &format!(
            "{}skills:\n  events: {{limits: {{response-size: 256KiB}}}}\n",
            synapse.connector("matrix", "sandbot")
        ),
    );
    let _running = start_bot(&bot);
    alice.wait_for(&room, BOT, |s| s.what == "join").await;
    alice.say(&room, "lines 1100").await;
    alice
        .wait_for(&room, BOT, |s| s.what.ends_with("\n(3/3)"))
        .await;
    let said = alice.said_by(&room, BOT);
    assert_eq!(
        said.len(),
        3,
        "{:?}",
        said.iter().map(String::len).collect::<Vec<_>>()
    );
    let mut lines = Vec::new();
    for (i, part) in said.iter().enumerate() {
        assert!(
            part.len() <= 32 * 1024 + "text:".len(),
            "part {i}: {} bytes",
            part.len()
        );
        let body = part.strip_prefix("text:").unwrap();
        let (body, mark) = body.rsplit_once('\n').unwrap();
        assert_eq!(mark, format!("({}/3)", i + 1));
        lines.extend(body.lines().map(str::to_owned));
    }
    let wanted: Vec<String> = (1..=1100)
        .map(|i| format!("line {i:04} {}", "x".repeat(50)))
        .collect();
    assert_eq!(lines, wanted, "every line whole, in order");
}

/// `allow-rooms` may name a room by its alias (`matrix:#ops:localhost`):
/// the connector resolves it at start, so it fits the room its events name
/// by id; an alias the homeserver does not know is a clear WARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_rooms_by_alias_fit_the_room() {
    let synapse = homeserver().await;
    let alice = Person::log_in(&synapse, "alice", "alice-pw").await;
    let ops = alice.create_room_named(&[BOT], "ops").await;
    let other = alice.create_room(&[BOT], false).await;
    let bot = BotDir::with_connectors(
        &["hello", "events"],
        &format!(
            "{}skills:\n  hello:\n    permissions: {{allow-rooms: ['matrix:#ops:localhost', 'matrix:#nowhere:localhost']}}\n",
            synapse.connector("matrix", "sandbot")
        ),
    );
    let running = start_bot(&bot);
    alice.wait_for(&ops, BOT, |s| s.what == "join").await;
    alice.wait_for(&other, BOT, |s| s.what == "join").await;
    running.wait_for_log("a room alias in the permissions is this room");
    alice.say(&ops, "hello").await;
    alice.wait_for(&ops, BOT, text("Hello alice")).await;
    // Not the other room: its answer to `whoami` comes, `hello`'s never.
    alice.say(&other, "hello").await;
    alice.say(&other, "whoami").await;
    alice
        .wait_for(&other, BOT, |s| s.what.starts_with("text:id="))
        .await;
    assert!(
        !alice
            .said_by(&other, BOT)
            .iter()
            .any(|s| s.contains("Hello alice")),
        "{:?}",
        alice.said_by(&other, BOT)
    );
    let log = running.log();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("`#nowhere:localhost`")
            && l.contains("cannot resolve")),
        "{log}"
    );
}
