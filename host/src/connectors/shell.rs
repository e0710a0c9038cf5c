//! The shell connector, like opsdroid's: an interactive prompt on a terminal.
//! When stdin is not a terminal it reads lines until end of input, handling
//! each to completion before the next (so a script's transcript is in
//! order), prints the answers, and returns so the bot can exit cleanly.
//! Input is read as untrusted bytes (`LineReader`), and answers are printed
//! through `render`, so neither a stray byte nor a skill's escape sequence
//! can end the connector or take over the operator's terminal.

use super::render;
use super::{Connector, Context, LineReader};
use crate::bus::Delivery;
use crate::event::{Event, EventId, Message};
use crate::text::for_log;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::io::IsTerminal;
use tokio::io::BufReader;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShellSettings {
    /// Shown before the bot's answers at an interactive prompt.
    #[serde(default = "default_bot_name")]
    pub bot_name: String,
    /// The user name; `$USER` when absent.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default = "default_room")]
    pub room: String,
}

fn default_bot_name() -> String {
    "sandbot".into()
}
fn default_room() -> String {
    "shell".into()
}

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

    fn message(&self, connector: &str, n: u64, text: String) -> Event {
        Event::Message(Message {
            id: format!("{connector}-{n}"),
            text,
            user: self.user.clone(),
            user_id: self.user.clone(),
            room: self.settings.room.clone(),
            connector: connector.to_owned(),
            thread: None,
            received_at: crate::event::now_ms(),
            addressed: true,
        })
    }
}

impl super::registry::Kind for Shell {
    type Settings = ShellSettings;
    fn from_settings(settings: ShellSettings) -> Self {
        Shell::new(settings)
    }
}

impl Connector for Shell {
    fn run(self: Box<Self>, cx: Context) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(self.serve(cx))
    }
}

/// Where answers are printed, and how. Standard output is written
/// directly, not through tokio's: its writes go through the blocking pool,
/// two thread hops for every answer, which were most of what an answer
/// cost on a pipe. A write to a terminal or a pipe returns at once unless
/// the reader stops reading, and then only this connector waits.
struct Printer {
    prefix: String,
    interactive: bool,
    prompt: &'static str,
}

impl Printer {
    fn write(&self, text: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(text)?;
        out.flush()
    }

    async fn print(&mut self, delivery: &Delivery) -> std::io::Result<()> {
        let Delivery::Response(response) = delivery else {
            return Ok(());
        };
        let mut text = String::new();
        if self.interactive {
            text.push('\r');
        }
        for line in render::lines(&response.body, &self.prefix) {
            text.push_str(&line);
            text.push('\n');
        }
        if self.interactive {
            text.push_str(self.prompt);
        }
        self.write(text.as_bytes())
    }
}

impl Shell {
    async fn serve(self, mut cx: Context) -> anyhow::Result<()> {
        // The bot waits for this as it stops, so the grace's answers print.
        let closing = cx.closing.clone();
        let _hold = closing.hold();
        let interactive = std::io::stdin().is_terminal();
        let max = cx.events.max_message();
        let mut lines = LineReader::new(BufReader::new(tokio::io::stdin()), max);
        let prompt = if interactive { "> " } else { "" };
        let mut printer = Printer {
            prefix: if interactive {
                format!("{}: ", self.settings.bot_name)
            } else {
                String::new()
            },
            interactive,
            prompt,
        };
        printer.write(prompt.as_bytes())?;
        cx.status.set(if interactive { "at the prompt" } else { "reading its input" });
        let mut n = 0u64;
        loop {
            tokio::select! {
                // Answers not tied to a line (a reload, a schedule, or any
                // answer at an interactive prompt) print as they come.
                Some(delivery) = cx.outbox.recv() => printer.print(&delivery).await?,
                // The bot is stopping: what it said last is in the outbox.
                () = closing.told() => {
                    while let Ok(delivery) = cx.outbox.try_recv() {
                        printer.print(&delivery).await?;
                    }
                    return Ok(());
                }
                line = lines.next_line() => {
                    let Some(line) = line? else { break };
                    if line.replaced {
                        tracing::warn!(connector = %cx.name, "a line with bytes that are not UTF-8: they were replaced");
                    }
                    if line.cut > 0 {
                        tracing::warn!(connector = %cx.name, "a line {} bytes over max-message-length ({max}) was cut", line.cut);
                    }
                    let text = line.text.trim();
                    if text.is_empty() {
                        printer.write(prompt.as_bytes())?;
                        continue;
                    }
                    n += 1;
                    let text = super::address::strip_name(text, &self.settings.bot_name);
                    let event = self.message(&cx.name, n, text.to_owned());
                    let Ok(id) = cx.events.submit(event).await else { break };
                    if !interactive {
                        wait_for(id, &mut cx, &mut printer).await?;
                    }
                }
            }
        }
        // End of input: answers still to come from skills running in the
        // background are printed as they come, then what is queued, and
        // then the bot exits.
        let settled = cx.events.settled();
        tokio::pin!(settled);
        loop {
            tokio::select! {
                () = &mut settled => break,
                Some(delivery) = cx.outbox.recv() => printer.print(&delivery).await?,
            }
        }
        while let Ok(delivery) = cx.outbox.try_recv() {
            printer.print(&delivery).await?;
        }
        if interactive {
            printer.write(b"\n")?;
        }
        tracing::debug!(connector = %for_log(&cx.name), "end of input");
        Ok(())
    }
}

/// Prints answers until event `id` is finished: a piped transcript keeps
/// each line's answers right after it.
async fn wait_for(id: EventId, cx: &mut Context, printer: &mut Printer) -> std::io::Result<()> {
    while let Some(delivery) = cx.outbox.recv().await {
        if delivery == Delivery::Finished(id) {
            break;
        }
        printer.print(&delivery).await?;
    }
    Ok(())
}
