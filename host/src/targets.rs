//! What a room name is to each connector kind: one place to send to, or
//! something that reaches elsewhere or nowhere. A skill names the room it
//! sends to as text; IRC reads `#ops,watcher` as two targets, Slack's
//! `<#C0123|ops>` is mention markup, a Matrix `#room:server` is an alias
//! (another server's say-so about where it points). `allow.send` wildcards
//! grant only rooms that are one place by these rules (`grants`), and the
//! IRC connector drops an answer to anything else as a last line of defence.
//! Pure functions of the text: no I/O, no lookups.

/// Why a room name is not one place on its connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotOne {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than {MAX_ROOM} bytes")]
    TooLong,
    #[error("it holds a control character, a space or another character no room name has")]
    BadCharacter,
    #[error("it is a list of targets (IRC sends to each name between the commas)")]
    List,
    #[error("it is a mask that reaches every user of a server")]
    Mask,
    #[error("it is a service address (`nick@server`), not a channel or a nick")]
    Service,
    #[error("it is not a channel or a nick")]
    NotIrc,
    #[error("it is Slack markup (`<#C…|name>`, `<@U…>`), not a channel or user id")]
    SlackMarkup,
    #[error("it is not a Slack channel id (C…, G…, D…), user id (U…, W…) or `#channel-name`")]
    NotSlack,
    #[error("it is a room alias, not a room id (`!id:server`)")]
    MatrixAlias,
    #[error("it is not a Matrix room id (`!id:server`)")]
    NotMatrix,
}

/// The longest room name any connector is asked to send to.
pub const MAX_ROOM: usize = 255;

/// Is `room` one place on a connector of kind `kind` (`irc`, `slack`,
/// `matrix`; any other kind's rooms are free text without controls)?
pub fn one_place(kind: &str, room: &str) -> Result<(), NotOne> {
    if room.is_empty() {
        return Err(NotOne::Empty);
    }
    if room.len() > MAX_ROOM {
        return Err(NotOne::TooLong);
    }
    match kind {
        "irc" => irc(room),
        "slack" => slack(room),
        "matrix" => matrix(room),
        _ if room.chars().any(crate::text::is_dangerous) => Err(NotOne::BadCharacter),
        _ => Ok(()),
    }
}

/// What an IRC connector's room names. One channel (`#ops`, `&local`,
/// `+modeless`, `!12345ops`) or one nick; a comma makes a list of targets
/// (RFC 2812 §3.3.1: `PRIVMSG #ops,watcher` goes to both), `$`/`#` masks
/// with wildcards reach every user of a server (operators only),
/// `nick@server`/`nick%host` address a service, and spaces, colons or
/// control characters would change the line the connector writes.
pub fn irc(target: &str) -> Result<(), NotOne> {
    if target.is_empty() {
        return Err(NotOne::Empty);
    }
    if target.len() > 200 {
        return Err(NotOne::TooLong);
    }
    if target.contains(',') {
        return Err(NotOne::List);
    }
    if target
        .chars()
        .any(|c| c.is_control() || crate::text::is_dangerous(c) || matches!(c, ' ' | ':'))
    {
        return Err(NotOne::BadCharacter);
    }
    if target.starts_with(['#', '&', '+', '!']) {
        // A channel's name may hold `!`, `@`, `%` and the like, but a mask
        // (`#*.example.org`) is a server-wide broadcast.
        if target.contains(['*', '?']) {
            return Err(NotOne::Mask);
        }
        return if target.len() > 1 {
            Ok(())
        } else {
            Err(NotOne::NotIrc)
        };
    }
    if target.starts_with('$') || target.contains(['*', '?']) {
        return Err(NotOne::Mask);
    }
    if target.contains(['@', '%']) {
        return Err(NotOne::Service);
    }
    // A nick: RFC 2812 §2.3.1 letters, digits and `[]\`_^{|}-`, not
    // starting with a digit or `-`.
    let first_ok = target
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_digit() && c != '-');
    let nick = first_ok
        && target
            .chars()
            .all(|c| c.is_alphanumeric() || "[]\\`_^{|}-".contains(c));
    if nick { Ok(()) } else { Err(NotOne::NotIrc) }
}

/// What a Slack connector's room names: a conversation id as the Web API
/// takes it (`C…` public, `G…` private, `D…` direct; `U…`/`W…` a user,
/// which `chat.postMessage` reads as their direct conversation), or a
/// channel by name (`#ops-eu`: lower-case letters, digits, `-`, `_`, `.`).
/// Mention markup such as `<#C0123|ops>` is text for people, not an id.
pub fn slack(room: &str) -> Result<(), NotOne> {
    if room.starts_with('<') || room.ends_with('>') || room.contains('|') {
        return Err(NotOne::SlackMarkup);
    }
    if let Some(name) = room.strip_prefix('#') {
        let ok = !name.is_empty()
            && name.len() <= 80
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        return if ok { Ok(()) } else { Err(NotOne::NotSlack) };
    }
    let id = room.len() >= 3
        && room.len() <= 32
        && room.starts_with(['C', 'G', 'D', 'U', 'W'])
        && room
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if id { Ok(()) } else { Err(NotOne::NotSlack) }
}

/// What a Matrix connector's room names: a room id, `!opaque:server`
/// (or `!opaque` alone, as room version 12 makes them), the only form the
/// connector sends to. An alias (`#room:server`) is resolved by a server and
/// may be pointed elsewhere at any time; a user id (`@user:server`) is not a
/// room.
pub fn matrix(room: &str) -> Result<(), NotOne> {
    if room.starts_with('#') {
        return Err(NotOne::MatrixAlias);
    }
    let Some(id) = room.strip_prefix('!') else {
        return Err(NotOne::NotMatrix);
    };
    let (opaque, server) = match id.split_once(':') {
        Some((opaque, server)) => (opaque, Some(server)),
        None => (id, None),
    };
    let opaque_ok = !opaque.is_empty()
        && opaque
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, ':' | ',' | '<' | '>' | '|'));
    if opaque_ok && server.is_none_or(is_server_name) {
        Ok(())
    } else {
        Err(NotOne::NotMatrix)
    }
}

/// A Matrix server name: a host name, IPv4 or `[IPv6]` address, and an
/// optional `:port`.
fn is_server_name(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p))
            if !h.ends_with(':')
                && (h.starts_with('[') == h.ends_with(']'))
                && !p.contains(']') =>
        {
            (h, Some(p))
        }
        _ => (s, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            !v6.is_empty()
                && v6
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
        }
        None => {
            !host.is_empty()
                && host.len() <= 255
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        }
    };
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_irc_target_is_one_channel_or_one_nick() {
        for ok in [
            "#ops",
            "&local",
            "#ops-2",
            "!ABCDEops",
            "alice",
            "al[i]ce`",
            "Bob_^{|}",
            "NickServ",
        ] {
            assert_eq!(irc(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("#ops,watcher", NotOne::List),
            ("alice,bob", NotOne::List),
            ("#ops watcher", NotOne::BadCharacter),
            ("", NotOne::Empty),
            ("#", NotOne::NotIrc),
            ("$*.example.org", NotOne::Mask),
            ("#*.example.org", NotOne::Mask),
            ("*", NotOne::Mask),
            ("nickserv@services.example", NotOne::Service),
            ("bob%host", NotOne::Service),
            ("1abc", NotOne::NotIrc),
            ("-x", NotOne::NotIrc),
            ("a:b", NotOne::BadCharacter),
            ("#ops\r\nQUIT", NotOne::BadCharacter),
            ("alice!u@h", NotOne::Service),
            ("#ops\u{202e}", NotOne::BadCharacter),
        ] {
            assert_eq!(irc(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn a_slack_target_is_an_id_or_a_channel_name_never_markup() {
        for ok in [
            "C0123ABC",
            "G024BE91L",
            "D0A1B2C3",
            "U024BE7LH",
            "W012A3CDE",
            "#ops-eu",
            "#dev_2.x",
        ] {
            assert_eq!(slack(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("<#C0123ABC|ops>", NotOne::SlackMarkup),
            ("<#C0123ABC>", NotOne::SlackMarkup),
            ("<@U024BE7LH>", NotOne::SlackMarkup),
            ("<!channel>", NotOne::SlackMarkup),
            ("C0123ABC|ops", NotOne::SlackMarkup),
            ("c0123abc", NotOne::NotSlack),
            ("C0123ABC,C999", NotOne::NotSlack),
            ("#Ops", NotOne::NotSlack),
            ("#ops eu", NotOne::NotSlack),
            ("#", NotOne::NotSlack),
            ("@alice", NotOne::NotSlack),
            ("X0123ABC", NotOne::NotSlack),
        ] {
            assert_eq!(slack(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn a_matrix_target_is_a_room_id_never_an_alias() {
        for ok in [
            "!abc:example.org",
            "!AbC123:matrix.example.org:8448",
            "!x:127.0.0.1",
            "!x:[::1]:8008",
            "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM",
        ] {
            assert_eq!(matrix(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("#ops:example.org", NotOne::MatrixAlias),
            ("@alice:example.org", NotOne::NotMatrix),
            ("ops", NotOne::NotMatrix),
            ("!", NotOne::NotMatrix),
            ("!abc:", NotOne::NotMatrix),
            ("!a b:example.org", NotOne::NotMatrix),
            ("!abc:exa mple.org", NotOne::NotMatrix),
            ("!abc,!def:example.org", NotOne::NotMatrix),
            ("!abc:example.org:port", NotOne::NotMatrix),
        ] {
            assert_eq!(matrix(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn other_kinds_take_any_text_without_controls() {
        assert_eq!(one_place("shell", "shell"), Ok(()));
        assert_eq!(one_place("tcp", "ops room"), Ok(()));
        assert_eq!(one_place("websocket", "a\nb"), Err(NotOne::BadCharacter));
        assert_eq!(one_place("shell", ""), Err(NotOne::Empty));
        assert_eq!(
            one_place("shell", &"x".repeat(MAX_ROOM + 1)),
            Err(NotOne::TooLong)
        );
        assert_eq!(one_place("irc", "#a,#b"), Err(NotOne::List));
    }
}
