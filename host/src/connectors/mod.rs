//! Connectors turn an outside source into events and carry responses back.
//! Each configured connector gets an outbox: skills' `respond`/`send` put
//! responses in it, and the connector's task delivers them.

pub mod shell;

pub use shell::Shell;

use crate::event::Response;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Responses waiting per connector before a sending skill is made to wait.
const OUTBOX_DEPTH: usize = 1024;

/// The outboxes of all connectors, fixed at start-up (so no lock is needed).
#[derive(Default)]
pub struct Outboxes {
    senders: HashMap<String, mpsc::Sender<Response>>,
}

impl Outboxes {
    /// Adds a connector's outbox; the connector reads from the receiver.
    pub fn open(&mut self, connector: &str) -> mpsc::Receiver<Response> {
        let (tx, rx) = mpsc::channel(OUTBOX_DEPTH);
        self.senders.insert(connector.to_owned(), tx);
        rx
    }

    pub async fn deliver(&self, response: Response) -> Result<(), String> {
        let connector = &response.target.connector;
        let outbox = self
            .senders
            .get(connector)
            .ok_or_else(|| format!("there is no connector named `{connector}`"))?;
        outbox
            .send(response)
            .await
            .map_err(|e| format!("connector `{}` has stopped", e.0.target.connector))
    }
}
