//! What a person who starts the bot on a terminal sees once it is up: the
//! chat page's address, the connectors listening, and to type `help`.
//! Written to stderr only when it is a terminal, so logs piped to a file or
//! the journal stay log lines.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// What the banner tells.
pub struct Banner<'a> {
    pub skills: usize,
    /// Each connector: (instance name, kind).
    pub connectors: &'a [(String, String)],
    /// The HTTP server's address and whether it speaks HTTPS, if it runs.
    pub server: Option<(SocketAddr, bool)>,
    /// The paths of the chat pages the connectors serve (`/chat`).
    pub pages: &'a [String],
}

impl Banner<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.connectors.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(
            out,
            "\nsandbot is up: {} skill{}; connectors: {}",
            self.skills,
            if self.skills == 1 { "" } else { "s" },
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        if let Some((address, https)) = self.server {
            let base = base_url(address, https);
            for page in self.pages {
                let _ = writeln!(out, "  chat page  {base}{page}");
            }
            let _ = writeln!(out, "  status     {base}/");
        }
        let shell = self.connectors.iter().any(|(_, kind)| kind == "shell");
        let place = match (shell, self.pages.is_empty()) {
            (true, true) => "at the prompt",
            (true, false) => "at the prompt or on the chat page",
            (false, false) => "on the chat page",
            (false, true) => "to the bot",
        };
        let _ = writeln!(
            out,
            "  type `help` {place} to see what it can do; Ctrl-C stops it\n"
        );
        out
    }

    /// Writes the banner to stderr when stderr is a terminal.
    pub fn show(&self) {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            eprint!("{}", self.render());
        }
    }
}

/// `http://127.0.0.1:8080`: an address the person can open, so a server
/// listening on every address is shown as loopback.
fn base_url(address: SocketAddr, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    let host = match address.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_page_the_connectors_and_help() {
        let connectors = [
            ("shell".to_owned(), "shell".to_owned()),
            ("websocket".to_owned(), "websocket".to_owned()),
        ];
        let pages = ["/chat".to_owned()];
        let text = Banner {
            skills: 9,
            connectors: &connectors,
            server: Some(("0.0.0.0:8080".parse().unwrap(), false)),
            pages: &pages,
        }
        .render();
        assert!(
            text.contains("9 skills; connectors: shell, websocket"),
            "{text}"
        );
        assert!(
            text.contains("chat page  http://127.0.0.1:8080/chat"),
            "{text}"
        );
        assert!(
            text.contains("type `help` at the prompt or on the chat page"),
            "{text}"
        );
        let none = Banner {
            skills: 1,
            connectors: &[],
            server: Some(("[::1]:8443".parse().unwrap(), true)),
            pages: &[],
        }
        .render();
        assert!(none.contains("1 skill; connectors: none"), "{none}");
        assert!(none.contains("status     https://[::1]:8443/"), "{none}");
        assert!(!none.contains("chat page"), "{none}");
    }
}
