//! Matrix, through matrix-sdk: the client-server API with end-to-end
//! encryption, so the bot reads and answers in encrypted rooms (Element's
//! default for private rooms) as in plain ones.
//!
//! Everything it keeps lives in its data folder: `session.json` (user,
//! device and access token, so a restart is the same device and can still
//! read the room keys it was sent), `store/` (matrix-sdk's SQLite state and
//! crypto stores) and `sync-token` (where the last `/sync` ended). A restart
//! goes on from that token: what was answered is not answered again, and
//! what was said while the bot was down is answered once. The very first
//! start skips the rooms' history instead.
//!
//! In: `m.room.message` (`m.text`, `m.emote`; `m.notice` is how bots talk and
//! is not handled, so two bots never loop), with the thread it is in;
//! `m.reaction`; joins and leaves; invites are accepted. The bot's own
//! events are skipped. Out: `m.text` (or `m.notice` with `notice: true`),
//! in the event's thread when it had one, and `m.reaction`. matrix-sdk waits
//! out rate limits (HTTP 429, `retry_after_ms`) and shares room keys.
//!
//! Sending is `matrix_out` (retried while the homeserver is away). When the
//! homeserver stops taking the token (`M_UNKNOWN_TOKEN`) the bot logs in
//! again with its password, as the same device; a failing `/sync` is said
//! once when it starts and once when it ends. Room aliases the permissions
//! name are resolved to room ids at start.
//!
//! A user's stable id is their Matrix id (`matrix:@alice:example.org`).

use super::backoff::Backoff;
use super::matrix_out;
use super::{ConnectorSink, Context, Status};
use crate::config::Secret;
use crate::limits::HumanDuration;
use matrix_sdk::ruma::api::client::error::ErrorKind;
use crate::event::{Event, Membership, Message, Reaction, now_ms};
use anyhow::{Context as _, bail};
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::{RequestConfig, SyncSettings};
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::member::{
    MembershipState, OriginalSyncRoomMemberEvent, StrippedRoomMemberEvent,
};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation,
};
use matrix_sdk::ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomId, OwnedUserId, RoomOrAliasId,
};
use matrix_sdk::{Client, Room, SessionMeta, SessionTokens};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MatrixSettings {
    /// The homeserver's URL (`https://matrix.example.org`).
    pub homeserver: String,
    /// The bot's Matrix id (`@sandbot:example.org`) or its local part.
    pub user: String,
    /// Log in with a password (a new device, kept in the data folder)...
    pub password: Option<Secret>,
    /// ... or use an access token made elsewhere.
    pub access_token: Option<Secret>,
    /// Encrypts the SQLite stores (room keys among them) on disk.
    pub store_passphrase: Option<Secret>,
    /// Rooms to join at start, by id or alias; invites are accepted anyway.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Answer with `m.notice` (shown as a bot's message) rather than `m.text`.
    #[serde(default)]
    pub notice: bool,
    /// The device name others see in their device lists.
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// The most messages one answer becomes; past it, the first and a
    /// notice of where the whole answer is kept.
    #[serde(default = "default_max_parts")]
    pub max_parts: usize,
    /// How long an answer is retried while the homeserver does not take it
    /// (down, restarting, 5xx) before it is given up and its record says so.
    #[serde(default = "default_deliver_within")]
    pub deliver_within: HumanDuration,
}

fn default_deliver_within() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

fn default_max_parts() -> usize {
    10
}

fn default_device_name() -> String {
    "sandbot".into()
}

/// Tries of one request inside matrix-sdk (a 5xx, a refused connection)
/// before it reports the failure to the connector.
const REQUEST_TRIES: usize = 3;
/// How long one `/sync` waits on the server for something to happen.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

settings_kind!(Matrix, MatrixSettings, |matrix, cx| serve(matrix.settings, cx));

async fn serve(settings: MatrixSettings, cx: Context) -> anyhow::Result<()> {
    super::install_tls_provider();
    if settings.password.is_none() && settings.access_token.is_none() {
        bail!("give the Matrix connector a `password` or an `access-token`");
    }
    let Context {
        name,
        events,
        outbox,
        status,
        data,
        room_aliases,
        ..
    } = cx;
    make_private_dir(&data)?;
    let mut backoff = Backoff::default();
    let mut client = loop {
        status.set(format!("logging in to {}", settings.homeserver));
        match log_in(&settings, &data).await {
            Ok(client) => break client,
            Err(e) => {
                let what = format!("Matrix {}", settings.homeserver);
                backoff
                    .wait_after(&name, &status, &what, &format!("{e:#}"))
                    .await;
            }
        }
    };
    let me = client.user_id().context("logged in without a user id")?.to_owned();
    tracing::info!(connector = %name, user = %me, device = ?client.device_id(), "logged in to Matrix");
    tokio::spawn(resolve_room_aliases(client.clone(), name.clone(), room_aliases));
    let (clients, client_now) = tokio::sync::watch::channel(client.clone());
    let sender = tokio::spawn(matrix_out::send_answers(
        matrix_out::Sender {
            client: client_now,
            notice: settings.notice,
            max_parts: settings.max_parts,
            deliver_within: settings.deliver_within.0,
            connector: name.clone(),
            events: events.clone(),
        },
        outbox,
    ));
    let run = async {
        loop {
            let sync = Sync {
                client: client.clone(),
                me: me.clone(),
                name: name.clone(),
                events: events.clone(),
                status: status.clone(),
                token_file: data.join("sync-token"),
                rooms: settings.rooms.clone(),
            };
            let LoggedOut { soft_logout } = sync.run(&mut backoff).await;
            if settings.password.is_none() {
                bail!(
                    "the homeserver no longer takes connectors.{name}.access-token (M_UNKNOWN_TOKEN): give it a new token, or a `password` to log in again with"
                );
            }
            tracing::warn!(connector = %name, soft_logout, "the homeserver logged the bot's device out (M_UNKNOWN_TOKEN); logging in again with its password");
            let device = client.device_id().map(ToOwned::to_owned);
            client = loop {
                status.set(format!("logging in again to {}", settings.homeserver));
                match log_in_again(&settings, &data, device.as_deref()).await {
                    Ok(client) => break client,
                    Err(e) => {
                        let what = format!("Matrix {} (logging in again)", settings.homeserver);
                        backoff
                            .wait_after(&name, &status, &what, &format!("{e:#}"))
                            .await;
                    }
                }
            };
            tracing::info!(connector = %name, user = %me, device = ?client.device_id(), "logged in to Matrix again");
            clients.send_replace(client.clone());
        }
    };
    tokio::select! {
        _ = sender => Ok(()),
        ended = run => ended,
    }
}

/// Resolves the room aliases the configuration's permissions name
/// (`allow-rooms: ["matrix:#ops:example.org"]`) to room ids, so they fit the
/// rooms events name by id; one the homeserver cannot resolve is a WARN
/// that says what to write instead.
async fn resolve_room_aliases(client: Client, connector: String, aliases: Vec<String>) {
    for alias in aliases {
        let resolved = match matrix_sdk::ruma::OwnedRoomAliasId::try_from(alias.as_str()) {
            Ok(id) => client
                .resolve_room_alias(&id)
                .await
                .map(|r| r.room_id)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match resolved {
            Ok(room) => {
                tracing::info!(connector = %connector, alias = %alias, room = %room, "a room alias in the permissions is this room");
                crate::permissions::learn_room_alias(&connector, &alias, room.as_str());
            }
            Err(e) => tracing::warn!(connector = %connector, alias = %alias, "the permissions name room alias `{alias}`, which the homeserver cannot resolve ({e}): it fits no room; write the room's id (`!…:server`, in Element: Room settings → Advanced) instead"),
        }
    }
}

/// A client on the connector's store (no session yet).
async fn client_on_store(settings: &MatrixSettings, store: &Path) -> anyhow::Result<Client> {
    Client::builder()
        .homeserver_url(&settings.homeserver)
        .sqlite_store(
            store,
            settings.store_passphrase.as_ref().map(Secret::expose),
        )
        // matrix-sdk retries a 5xx for up to 15 minutes by default, without
        // a word: a few tries, then the connector's own loops say what is
        // happening and retry.
        .request_config(
            RequestConfig::new()
                .timeout(Duration::from_secs(60))
                .retry_limit(REQUEST_TRIES),
        )
        .build()
        .await
        .context("cannot reach the homeserver")
}

/// After the homeserver logged the bot out (M_UNKNOWN_TOKEN): a new client
/// on the same store, logged in with the password as the same device (its
/// room state and keys stay), the session saved for next time.
async fn log_in_again(
    settings: &MatrixSettings,
    data: &Path,
    device: Option<&matrix_sdk::ruma::DeviceId>,
) -> anyhow::Result<Client> {
    let client = client_on_store(settings, &data.join("store")).await?;
    let password = settings.password.as_ref().map(Secret::expose).unwrap_or_default();
    let mut login = client
        .matrix_auth()
        .login_username(&settings.user, password)
        .initial_device_display_name(&settings.device_name);
    if let Some(device) = device {
        login = login.device_id(device.as_str());
    }
    login.send().await.context("cannot log in again")?;
    let session = client
        .matrix_auth()
        .session()
        .context("logged in without a session")?;
    write_private(&data.join("session.json"), &serde_json::to_vec(&session)?)?;
    Ok(client)
}

/// A client with a session: the saved one, or a new login saved for next time.
async fn log_in(settings: &MatrixSettings, data: &Path) -> anyhow::Result<Client> {
    let session_file = data.join("session.json");
    let saved: Option<MatrixSession> = std::fs::read_to_string(&session_file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    // A configured token that changed means another device: start afresh.
    let saved = saved.filter(|s| {
        settings
            .access_token
            .as_ref()
            .is_none_or(|t| t.expose() == s.tokens.access_token)
    });
    let store = data.join("store");
    if saved.is_none() && store.exists() {
        // The crypto store belongs to the device of the old session.
        std::fs::remove_dir_all(&store).context("cannot clear the old store")?;
        let _ = std::fs::remove_file(data.join("sync-token"));
    }
    let client = client_on_store(settings, &store).await?;
    if let Some(session) = saved {
        client
            .restore_session(session)
            .await
            .context("cannot restore the saved session")?;
        return Ok(client);
    }
    let session = if let Some(token) = &settings.access_token {
        let (user_id, device_id) = whoami(&settings.homeserver, token).await?;
        let session = MatrixSession {
            meta: SessionMeta { user_id, device_id },
            tokens: SessionTokens {
                access_token: token.expose().to_owned(),
                refresh_token: None,
            },
        };
        client
            .restore_session(session.clone())
            .await
            .context("cannot use the access token")?;
        session
    } else {
        let password = settings.password.as_ref().map(Secret::expose).unwrap_or_default();
        client
            .matrix_auth()
            .login_username(&settings.user, password)
            .initial_device_display_name(&settings.device_name)
            .send()
            .await
            .context("cannot log in")?;
        client
            .matrix_auth()
            .session()
            .context("logged in without a session")?
    };
    write_private(&session_file, &serde_json::to_vec(&session)?)?;
    Ok(client)
}

/// Who an access token belongs to, and its device.
async fn whoami(
    homeserver: &str,
    token: &Secret,
) -> anyhow::Result<(OwnedUserId, matrix_sdk::ruma::OwnedDeviceId)> {
    #[derive(Deserialize)]
    struct WhoAmI {
        user_id: OwnedUserId,
        device_id: Option<matrix_sdk::ruma::OwnedDeviceId>,
    }
    let url = format!(
        "{}/_matrix/client/v3/account/whoami",
        homeserver.trim_end_matches('/')
    );
    let who: WhoAmI = reqwest::Client::new()
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .context("whoami")?
        .error_for_status()
        .context("the homeserver refused the access token")?
        .json()
        .await
        .context("whoami")?;
    let device = who
        .device_id
        .context("the access token has no device; log in with a password instead")?;
    Ok((who.user_id, device))
}

/// The receiving side: `/sync` forever, handlers turning events into the bot's.
struct Sync {
    client: Client,
    me: OwnedUserId,
    name: String,
    events: ConnectorSink,
    status: Status,
    token_file: PathBuf,
    rooms: Vec<String>,
}

/// What the event handlers share.
struct Shared {
    me: OwnedUserId,
    name: String,
    events: ConnectorSink,
    /// When the bot joined each room: a room's first sync after a join
    /// carries its recent history, which is not for the bot to answer.
    joined: std::sync::Mutex<HashMap<OwnedRoomId, MilliSecondsSinceUnixEpoch>>,
}

/// `/sync` ended because the homeserver no longer takes the bot's token.
struct LoggedOut {
    soft_logout: bool,
}

impl Sync {
    /// Syncs until the homeserver says the bot is logged out. A failing
    /// `/sync` (the homeserver down, 502 for minutes) is one WARN when it
    /// starts and one INFO when it ends, with `GET /` saying `not
    /// connected` meanwhile.
    async fn run(self, backoff: &mut Backoff) -> LoggedOut {
        let mut token = std::fs::read_to_string(&self.token_file)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let shared = Arc::new(Shared {
            me: self.me.clone(),
            name: self.name.clone(),
            events: self.events.clone(),
            joined: Default::default(),
        });
        // The first start skips history: one sync before any handler.
        let mut handlers = false;
        if token.is_some() {
            self.add_handlers(&shared);
            handlers = true;
        }
        for room in &self.rooms {
            match RoomOrAliasId::parse(room) {
                Ok(id) => {
                    if let Err(e) = self.client.join_room_by_id_or_alias(&id, &[]).await {
                        tracing::warn!(connector = %self.name, room, "cannot join: {e}");
                    }
                }
                Err(e) => tracing::warn!(connector = %self.name, room, "not a room id or alias: {e}"),
            }
        }
        // Since when `/sync` has been failing, if it is.
        let mut outage: Option<std::time::Instant> = None;
        loop {
            let mut settings = SyncSettings::default().timeout(if handlers {
                SYNC_TIMEOUT
            } else {
                Duration::ZERO
            });
            if let Some(t) = &token {
                settings = settings.token(t.clone());
            }
            match self.client.sync_once(settings).await {
                Ok(response) => {
                    if let Some(since) = outage.take() {
                        tracing::info!(connector = %self.name, attempts = backoff.attempt(), "Matrix /sync works again after {:.0?}", since.elapsed());
                    } else if token.is_none() {
                        tracing::info!(connector = %self.name, "syncing with {}", self.client.homeserver());
                    }
                    backoff.reset();
                    self.status
                        .set(format!("connected to {} as {}", self.client.homeserver(), self.me));
                    if let Err(e) = write_private(&self.token_file, response.next_batch.as_bytes()) {
                        tracing::warn!(connector = %self.name, "cannot save the sync token: {e:#}");
                    }
                    token = Some(response.next_batch);
                    if !handlers {
                        // Invites that came before the bot first ran.
                        for room in self.client.invited_rooms() {
                            tokio::spawn(join(room, self.name.clone()));
                        }
                        self.add_handlers(&shared);
                        handlers = true;
                    }
                }
                Err(e) => {
                    if let Some(ErrorKind::UnknownToken { soft_logout }) = e.client_api_error_kind() {
                        return LoggedOut {
                            soft_logout: *soft_logout,
                        };
                    }
                    let wait = backoff.fail();
                    let since = *outage.get_or_insert_with(|| {
                        tracing::warn!(connector = %self.name, "Matrix /sync failed: {e}; retrying with backoff (said once, until it works again)");
                        std::time::Instant::now()
                    });
                    tracing::debug!(connector = %self.name, attempt = backoff.attempt(), "Matrix /sync failed: {e}");
                    self.status.set(format!(
                        "not connected: /sync failing for {:.0?} (attempt {}): {e}",
                        since.elapsed(),
                        backoff.attempt()
                    ));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn add_handlers(&self, shared: &Arc<Shared>) {
        let s = shared.clone();
        self.client
            .add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
                let s = s.clone();
                async move { s.message(ev, room).await }
            });
        let s = shared.clone();
        self.client
            .add_event_handler(move |ev: OriginalSyncReactionEvent, room: Room| {
                let s = s.clone();
                async move { s.reaction(ev, room).await }
            });
        let s = shared.clone();
        self.client
            .add_event_handler(move |ev: OriginalSyncRoomMemberEvent, room: Room| {
                let s = s.clone();
                async move { s.membership(ev, room).await }
            });
        let s = shared.clone();
        self.client
            .add_event_handler(move |ev: StrippedRoomMemberEvent, room: Room| {
                let s = s.clone();
                async move {
                    if ev.state_key == s.me && ev.content.membership == MembershipState::Invite {
                        tracing::info!(connector = %s.name, room = %room.room_id(), by = %ev.sender, "invited; joining");
                        tokio::spawn(join(room, s.name.clone()));
                    }
                }
            });
    }
}

/// Joins a room the bot was invited to, retrying: a server may not be
/// ready for the join the moment it sent the invite.
async fn join(room: Room, connector: String) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        match room.join().await {
            Ok(()) => {
                tracing::info!(connector = %connector, room = %room.room_id(), "joined");
                return;
            }
            Err(e) if backoff.attempt() < 8 => {
                tracing::debug!(connector = %connector, room = %room.room_id(), "join failed: {e}; retrying");
                tokio::time::sleep(backoff.fail()).await;
            }
            Err(e) => {
                tracing::warn!(connector = %connector, room = %room.room_id(), "cannot join: {e}");
                return;
            }
        }
    }
}

impl Shared {
    /// Was an event of `room` sent before the bot joined it?
    async fn before_join(&self, room: &Room, sent: MilliSecondsSinceUnixEpoch) -> bool {
        let known = self
            .joined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room.room_id())
            .copied();
        let joined = match known {
            Some(t) => t,
            // The store already holds this sync's state: the bot's own
            // membership event says when it joined.
            None => match room.get_member_no_sync(&self.me).await {
                Ok(Some(member)) => match member.event().origin_server_ts() {
                    Some(t) => {
                        self.joined
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(room.room_id().to_owned(), t);
                        t
                    }
                    None => return false,
                },
                _ => return false,
            },
        };
        sent < joined
    }

    async fn submit(&self, event: Event) {
        // The bot stopping is the only refusal; nothing to do then.
        let _ = self.events.submit(event).await;
    }

    async fn display_name(&self, room: &Room, user: &OwnedUserId) -> String {
        match room.get_member_no_sync(user).await {
            Ok(Some(member)) => member
                .display_name()
                .map(str::to_owned)
                .unwrap_or_else(|| user.localpart().to_owned()),
            _ => user.localpart().to_owned(),
        }
    }

    async fn message(&self, ev: OriginalSyncRoomMessageEvent, room: Room) {
        if ev.sender == self.me || self.before_join(&room, ev.origin_server_ts).await {
            return;
        }
        let body = match &ev.content.msgtype {
            MessageType::Text(t) => t.body.as_str(),
            MessageType::Emote(e) => e.body.as_str(),
            _ => return,
        };
        let said = without_reply_fallback(body).trim();
        let text = without_mention(said, &self.me);
        if text.is_empty() {
            return;
        }
        // Said to the bot: after its name, or in a direct room.
        let addressed = text.len() != said.len() || room.is_direct().await.unwrap_or(false);
        let thread = match &ev.content.relates_to {
            Some(Relation::Thread(t)) => Some(t.event_id.to_string()),
            _ => None,
        };
        let event = Event::Message(Message {
            id: ev.event_id.to_string(),
            text: text.to_owned(),
            user: self.display_name(&room, &ev.sender).await,
            user_id: ev.sender.to_string(),
            room: room.room_id().to_string(),
            connector: String::new(),
            thread,
            received_at: now_ms(),
            addressed,
        });
        self.submit(event).await;
    }

    async fn reaction(&self, ev: OriginalSyncReactionEvent, room: Room) {
        if ev.sender == self.me || self.before_join(&room, ev.origin_server_ts).await {
            return;
        }
        let event = Event::Reaction(Reaction {
            emoji: ev.content.relates_to.key.clone(),
            message_id: ev.content.relates_to.event_id.to_string(),
            user: self.display_name(&room, &ev.sender).await,
            user_id: ev.sender.to_string(),
            room: room.room_id().to_string(),
            connector: String::new(),
            received_at: now_ms(),
        });
        self.submit(event).await;
    }

    async fn membership(&self, ev: OriginalSyncRoomMemberEvent, room: Room) {
        if ev.state_key == self.me {
            if ev.content.membership == MembershipState::Join {
                self.joined
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(room.room_id().to_owned(), ev.origin_server_ts);
            }
            return;
        }
        if ev.sender == self.me || self.before_join(&room, ev.origin_server_ts).await {
            return;
        }
        let before = ev
            .unsigned
            .prev_content
            .as_ref()
            .map(|c| c.membership.clone());
        let now = ev.content.membership.clone();
        let joined = now == MembershipState::Join && before != Some(MembershipState::Join);
        let left = now == MembershipState::Leave && before == Some(MembershipState::Join);
        if !joined && !left {
            return;
        }
        let m = Membership {
            user: ev
                .content
                .displayname
                .clone()
                .unwrap_or_else(|| ev.state_key.localpart().to_owned()),
            user_id: ev.state_key.to_string(),
            room: room.room_id().to_string(),
            connector: String::new(),
            received_at: now_ms(),
        };
        self.submit(if joined { Event::Join(m) } else { Event::Leave(m) })
            .await;
    }
}

/// A reply's body may begin with the quoted message (`> <@a:b> …`, then a
/// blank line): the fallback for clients without replies.
fn without_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    match body.find("\n\n") {
        Some(at) if body[..at].lines().all(|l| l.starts_with('>')) => &body[at + 2..],
        _ => body,
    }
}

/// The text without a leading `@bot:server:` or `bot:` address.
fn without_mention<'t>(text: &'t str, me: &OwnedUserId) -> &'t str {
    let text = text.trim();
    for name in [me.as_str(), me.localpart()] {
        if let Some(head) = text.get(..name.len())
            && head.eq_ignore_ascii_case(name)
        {
            let rest = &text[name.len()..];
            if let Some(after) = rest.strip_prefix([':', ',']) {
                return after.trim_start();
            }
        }
    }
    text
}

fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
    }
    Ok(())
}

/// Writes a file only its owner can read, whole or not at all.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_reply_quotes_are_not_part_of_the_command() {
        let me = OwnedUserId::try_from("@sandbot:localhost").unwrap();
        assert_eq!(without_mention("sandbot: hello", &me), "hello");
        assert_eq!(without_mention("@sandbot:localhost: hello", &me), "hello");
        assert_eq!(without_mention("hello sandbot", &me), "hello sandbot");
        assert_eq!(
            without_reply_fallback("> <@a:b> earlier\n> more\n\ndeploy api"),
            "deploy api"
        );
        assert_eq!(without_reply_fallback("> quoted only"), "> quoted only");
    }
}
