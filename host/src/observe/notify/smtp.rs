//! The email channel: one plain-text mail per notice through an SMTP server
//! (lettre on tokio), the rendered message first and the record's main
//! fields after it. `tls: none` is plain SMTP, for a relay on loopback;
//! `starttls` and `tls` go through rustls. A connection per mail: notices
//! are rare, and a kept connection would only go stale between them.

use super::{Deliver, Notice};
use crate::config::{SmtpServer, SmtpTls};
use anyhow::{Context as _, Result};
use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use minijinja::Environment;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Settings<'a> {
    pub server: &'a SmtpServer,
    pub tls: SmtpTls,
    pub from: &'a Mailbox,
    pub to: Vec<&'a Mailbox>,
    /// The subject template's name in `env`.
    pub subject: Option<String>,
    pub env: Arc<Environment<'static>>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub timeout: Duration,
}

pub(super) struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject: Option<String>,
    env: Arc<Environment<'static>>,
}

impl SmtpSender {
    pub(super) fn new(s: Settings) -> Result<SmtpSender> {
        let host = s.server.host.as_str();
        let builder = match s.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .with_context(|| format!("smtp: TLS for {host}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .with_context(|| format!("smtp: TLS for {host}"))?,
        };
        let mut builder = builder.port(s.server.port).timeout(Some(s.timeout));
        if let Some(user) = s.username {
            builder = builder.credentials(Credentials::new(
                user.to_owned(),
                s.password.unwrap_or_default().to_owned(),
            ));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from: s.from.clone(),
            to: s.to.into_iter().cloned().collect(),
            subject: s.subject,
            env: s.env,
        })
    }

    fn subject(&self, notice: &Notice) -> String {
        let e = &notice.execution;
        let rendered = self.subject.as_deref().map(|name| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(notice.values.clone()))
        });
        let subject = match rendered {
            Some(Ok(s)) => s,
            Some(Err(err)) => {
                tracing::warn!(template = ?self.subject, "cannot render the mail's subject, using the default: {err}");
                format!("[sandbot] {}: {}", e.skill, e.outcome)
            }
            None => format!("[sandbot] {}: {}", e.skill, e.outcome),
        };
        // A header is one line, whatever the template made of it.
        subject.replace(['\r', '\n'], " ")
    }

    async fn send(&self, notice: &Notice) -> Result<()> {
        let e = &notice.execution;
        let mut body = format!("{}\n\n", notice.text);
        let field = |body: &mut String, k: &str, v: Option<&str>| {
            if let Some(v) = v {
                let _ = writeln!(body, "{k}: {v}");
            }
        };
        field(
            &mut body,
            "skill",
            Some(format!("{} {}", e.skill, e.version).as_str()),
        );
        field(&mut body, "matcher", Some(&e.matcher));
        field(&mut body, "alias", e.alias.as_deref());
        field(&mut body, "user", e.user_id.as_deref());
        field(&mut body, "connector", e.connector.as_deref());
        field(&mut body, "room", e.room.as_deref());
        field(&mut body, "outcome", Some(e.outcome.as_str()));
        field(&mut body, "error", e.error.as_deref());
        field(
            &mut body,
            "duration",
            Some(super::duration(e.micros).as_str()),
        );
        field(&mut body, "execution", Some(&e.id));
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(self.subject(notice))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.body(body).context("building the mail")?;
        self.transport
            .send(message)
            .await
            .context("sending the mail")?;
        Ok(())
    }
}

impl Deliver for SmtpSender {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.send(notice))
    }
}
