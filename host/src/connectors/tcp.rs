//! A line chat over TCP, for scripts and tools (`nc 127.0.0.1 7001`): each
//! connection is a room of its own (`tcp-1`, `tcp-2`, ...), each line a
//! message, each answer written back as lines (rendered like the shell's, so
//! a skill cannot forge lines). Listens on loopback unless told otherwise.
//! Several instances (one per port) can run at once.

use super::render;
use super::{Context, LineReader};
use crate::bus::Delivery;
use crate::event::{Event, Message};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpSettings {
    #[serde(default = "default_host")]
    pub host: String,
    pub port: u16,
    /// The user every connection speaks as; its stable id is the same name
    /// on this connector.
    #[serde(default = "default_user")]
    pub user: String,
    /// Connections at once; more are refused.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_user() -> String {
    "tcp".into()
}
fn default_max_connections() -> usize {
    16
}

/// Lines waiting to go out to one client; a client this far behind is
/// disconnected rather than allowed to hold the bot's memory.
const CLIENT_QUEUE: usize = 256;

settings_kind!(Tcp, TcpSettings, |tcp, cx| tcp.serve(cx));

type Clients = Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>;

impl Tcp {
    async fn serve(self, mut cx: Context) -> anyhow::Result<()> {
        let address = format!("{}:{}", self.settings.host, self.settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        tracing::info!(connector = %cx.name, "listening on {address}");
        cx.status.set(format!("listening on {address}"));
        let clients: Clients = Arc::default();
        let mut n = 0u64;
        loop {
            tokio::select! {
                Some(delivery) = cx.outbox.recv() => {
                    let Delivery::Response(response) = delivery else { continue };
                    let text: String = render::lines(&response.body, "")
                        .into_iter()
                        .map(|l| l + "\n")
                        .collect();
                    let client = clients.lock().unwrap_or_else(|e| e.into_inner()).get(&response.target.room).cloned();
                    match client {
                        Some(client) if client.try_send(text).is_ok() => {}
                        Some(_) => {
                            tracing::warn!(connector = %cx.name, room = %response.target.room, "a client stopped reading; disconnecting it");
                            clients.lock().unwrap_or_else(|e| e.into_inner()).remove(&response.target.room);
                        }
                        None => tracing::debug!(connector = %cx.name, room = %response.target.room, "an answer for a connection that is gone"),
                    }
                }
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(connector = %cx.name, error = %e, "accepting a connection failed");
                            continue;
                        }
                    };
                    if clients.lock().unwrap_or_else(|e| e.into_inner()).len() >= self.settings.max_connections {
                        tracing::warn!(connector = %cx.name, %peer, "refused: max-connections reached");
                        let max = self.settings.max_connections;
                        tokio::spawn(async move {
                            let mut stream = stream;
                            let refusal = format!("⚠ too many connections (max-connections: {max})\n");
                            let _ = stream.write_all(refusal.as_bytes()).await;
                        });
                        continue;
                    }
                    n += 1;
                    let room = format!("tcp-{n}");
                    let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
                    clients.lock().unwrap_or_else(|e| e.into_inner()).insert(room.clone(), tx);
                    let session = Session {
                        room,
                        user: self.settings.user.clone(),
                        events: cx.events.clone(),
                        clients: clients.clone(),
                    };
                    tokio::spawn(session.run(stream, rx));
                }
            }
        }
    }
}

struct Session {
    room: String,
    user: String,
    events: super::ConnectorSink,
    clients: Clients,
}

impl Session {
    async fn run(self, stream: tokio::net::TcpStream, mut answers: mpsc::Receiver<String>) {
        let (read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            while let Some(text) = answers.recv().await {
                if write.write_all(text.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let mut lines = LineReader::new(BufReader::new(read), self.events.max_message());
        let mut n = 0u64;
        while let Ok(Some(line)) = lines.next_line().await {
            let text = line.text.trim();
            if text.is_empty() {
                continue;
            }
            n += 1;
            let event = Event::Message(Message {
                id: format!("{}-{n}", self.room),
                text: text.to_owned(),
                user: self.user.clone(),
                user_id: self.user.clone(),
                room: self.room.clone(),
                connector: String::new(),
                thread: None,
                received_at: crate::event::now_ms(),
                addressed: true,
            });
            if self.events.submit(event).await.is_err() {
                break;
            }
        }
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.room);
        writer.abort();
    }
}
