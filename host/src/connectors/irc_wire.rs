//! IRC's wire format (RFC 1459 §2.3.1, RFC 2812 §2.3, IRCv3 message tags):
//! one line into a message (tags, source, command, parameters), what the
//! bot sends as lines that cannot smuggle a second command, and what counts
//! as one target (the rules live in `crate::targets`, which grants use too).
//! Nothing here does I/O; the connector (`irc.rs`) does.

/// One message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who sent it: `nick!user@host` or a server name.
    pub source: Option<Source>,
    /// Upper-case, or a three-digit numeric.
    pub command: String,
    /// Middle parameters and the trailing one, in order.
    pub params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Server(String),
    User {
        nick: String,
        user: String,
        host: String,
    },
}

impl Message {
    /// Parses one line (without its CR LF). `None` for a line with no
    /// command; every other line is a message, whatever its bytes were.
    pub fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        // IRCv3 tags: `@a=b;c ` before the source; the bot uses none.
        if let Some(tagged) = rest.strip_prefix('@') {
            rest = tagged.split_once(' ').map_or("", |(_, r)| r);
        }
        rest = rest.trim_start_matches(' ');
        let mut source = None;
        if let Some(prefixed) = rest.strip_prefix(':') {
            let (who, r) = prefixed.split_once(' ').unwrap_or((prefixed, ""));
            source = Some(Source::parse(who));
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = r;
        }
        Some(Message {
            source,
            command: command.to_ascii_uppercase(),
            params,
        })
    }

    /// The parameter at `i`, or "".
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }
}

impl Source {
    fn parse(who: &str) -> Source {
        match who.split_once('!') {
            Some((nick, rest)) => {
                let (user, host) = rest.split_once('@').unwrap_or((rest, ""));
                Source::User {
                    nick: nick.to_owned(),
                    user: user.to_owned(),
                    host: host.to_owned(),
                }
            }
            // A nick alone (`:alice JOIN`) or a server name.
            None if !who.contains('.') => Source::User {
                nick: who.to_owned(),
                user: String::new(),
                host: String::new(),
            },
            None => Source::Server(who.to_owned()),
        }
    }
}

/// A line to send: `command` and its parameters, the last one as trailing
/// (`:` and free text). CR, LF and NUL in any parameter become spaces, so
/// nothing a skill says can end the line and start another command.
pub fn line(command: &str, params: &[&str]) -> String {
    let mut out = String::from(command);
    for (i, p) in params.iter().enumerate() {
        let clean: String = p
            .chars()
            .map(|c| {
                if matches!(c, '\r' | '\n' | '\0') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        out.push(' ');
        if i + 1 == params.len() {
            out.push(':');
            out.push_str(&clean);
        } else {
            // A middle parameter is one word: what follows a space would be
            // read as another parameter.
            out.push_str(clean.split(' ').next().unwrap_or(""));
        }
    }
    out.push_str("\r\n");
    out
}

/// Is `target` one place to send to: one channel or one nick, by the rules
/// `allow.send` is checked with (`crate::targets::irc`)? A list, a mask, a
/// service address or a line-breaking character is not.
pub fn is_single_target(target: &str) -> bool {
    crate::targets::irc(target).is_ok()
}

pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// CTCP (a message wrapped in `\x01`): its command and argument.
pub fn ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.split_once(' ').unwrap_or((inner, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_source_command_and_parameters() {
        let m =
            Message::parse(":alice!~a@host.example PRIVMSG #ops :sandbot: hello there").unwrap();
        assert_eq!(
            m.source,
            Some(Source::User {
                nick: "alice".into(),
                user: "~a".into(),
                host: "host.example".into()
            })
        );
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, ["#ops", "sandbot: hello there"]);

        let m = Message::parse("PING :irc.test.local").unwrap();
        assert_eq!(
            (&m.source, m.command.as_str(), m.param(0)),
            (&None, "PING", "irc.test.local")
        );

        let m = Message::parse("@time=2024-01-01T00:00:00Z :irc.test.local 001 sandbot :Welcome")
            .unwrap();
        assert_eq!(m.source, Some(Source::Server("irc.test.local".into())));
        assert_eq!(
            (m.command.as_str(), m.param(0), m.param(1)),
            ("001", "sandbot", "Welcome")
        );

        let m = Message::parse(":irc.test.local 433 * sandbot :Nickname already in use\r").unwrap();
        assert_eq!(m.params, ["*", "sandbot", "Nickname already in use"]);

        let m = Message::parse(":a!b@c  JOIN   #ops").unwrap();
        assert_eq!(
            (m.command.as_str(), m.params.as_slice()),
            ("JOIN", &["#ops".to_string()][..])
        );
        assert_eq!(Message::parse(""), None);
        assert_eq!(Message::parse(":only.a.source"), None);
    }

    #[test]
    fn what_the_bot_sends_is_one_line_whatever_a_skill_says() {
        assert_eq!(line("PRIVMSG", &["#ops", "hi"]), "PRIVMSG #ops :hi\r\n");
        assert_eq!(
            line("PRIVMSG", &["#ops", "a\r\nQUIT :bye\0"]),
            "PRIVMSG #ops :a  QUIT :bye \r\n"
        );
        assert_eq!(line("PRIVMSG", &["#ops more", "x"]), "PRIVMSG #ops :x\r\n");
        assert_eq!(line("NICK", &["sandbot"]), "NICK :sandbot\r\n");
    }

    #[test]
    fn ctcp_is_recognised() {
        assert_eq!(ctcp("\u{1}VERSION\u{1}"), Some(("VERSION", "")));
        assert_eq!(ctcp("\u{1}ACTION waves\u{1}"), Some(("ACTION", "waves")));
        assert_eq!(ctcp("hello"), None);
    }
}
