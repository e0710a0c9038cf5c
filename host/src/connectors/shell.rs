//! The shell connector, like opsdroid's: an interactive prompt on a terminal.
//! When stdin is not a terminal it reads lines until end of input, handling
//! each to completion before the next (so a script's transcript is in
//! order), prints the responses, and returns so the bot can exit cleanly.

use crate::bot::Bot;
use crate::config::ShellSettings;
use crate::event::{Event, Message, Response, ResponseBody};
use anyhow::Result;
use std::io::IsTerminal;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

pub const NAME: &str = "shell";

pub struct Shell {
    settings: ShellSettings,
    user: String,
}

impl Shell {
    pub fn new(settings: ShellSettings) -> Self {
        let user = settings
            .user
            .clone()
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "user".into());
        Shell { settings, user }
    }

    fn message(&self, n: u64, text: &str) -> Event {
        Event::Message(Message {
            id: format!("{NAME}-{n}"),
            text: text.to_owned(),
            user: self.user.clone(),
            user_id: self.user.clone(),
            room: self.settings.room.clone(),
            connector: NAME.into(),
            thread: None,
            received_at: crate::event::now_ms(),
        })
    }

    /// Runs until end of input.
    pub async fn run(self, bot: Arc<Bot>, mut outbox: mpsc::Receiver<Response>) -> Result<()> {
        let interactive = std::io::stdin().is_terminal();
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut out = tokio::io::stdout();
        let prompt = if interactive { "> " } else { "" };
        let bot_prefix = if interactive {
            format!("{}: ", self.settings.bot_name)
        } else {
            String::new()
        };
        out.write_all(prompt.as_bytes()).await?;
        out.flush().await?;
        let mut n = 0u64;
        loop {
            tokio::select! {
                // Responses not tied to a line (a reload, a schedule) print as
                // they come.
                Some(response) = outbox.recv() => {
                    let text = render(&response, &bot_prefix);
                    let text = if interactive { format!("\r{text}\n{prompt}") } else { format!("{text}\n") };
                    out.write_all(text.as_bytes()).await?;
                    out.flush().await?;
                }
                line = lines.next_line() => {
                    let Some(line) = line? else { break };
                    let text = line.trim();
                    if text.is_empty() {
                        out.write_all(prompt.as_bytes()).await?;
                        out.flush().await?;
                        continue;
                    }
                    n += 1;
                    let event = self.message(n, text);
                    if interactive {
                        let bot = bot.clone();
                        tokio::spawn(async move { bot.dispatch(event).await });
                    } else {
                        bot.dispatch(event).await;
                        while let Ok(response) = outbox.try_recv() {
                            out.write_all(format!("{}\n", render(&response, &bot_prefix)).as_bytes()).await?;
                        }
                        out.flush().await?;
                    }
                }
            }
        }
        while let Ok(response) = outbox.try_recv() {
            out.write_all(format!("{}\n", render(&response, &bot_prefix)).as_bytes())
                .await?;
        }
        if interactive {
            out.write_all(b"\n").await?;
        }
        out.flush().await?;
        Ok(())
    }
}

fn render(response: &Response, prefix: &str) -> String {
    match &response.body {
        ResponseBody::Text(text) => format!("{prefix}{text}"),
        ResponseBody::Reaction { emoji, .. } => format!("{prefix}(reacts {emoji})"),
    }
}
