//! Names are data: a skill's name (its file's stem, or its key under
//! `skills:`), a workflow's (its file's stem) and a connector's (its key
//! under `connectors:`) reach log lines, chat listings, metric labels,
//! store keys and chat commands. Each is checked where it is loaded: ASCII
//! letters, digits, `-` and `_`, starting with a letter or a digit, at most
//! [`MAX_LEN`] bytes. What fails is refused, and shown only escaped
//! ([`shown`]), so a file named to forge a line forges nothing.

/// The longest name.
pub const MAX_LEN: usize = 64;

/// What a name may be, for error messages.
pub const RULE: &str =
    "letters, digits, `-` and `_`, starting with a letter or a digit, at most 64 bytes";

/// Is `name` a name? The error says what is wrong (not the name itself:
/// the caller shows it with [`shown`]).
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("it is empty; a name is {RULE}"));
    }
    if name.len() > MAX_LEN {
        return Err(format!("it is {} bytes; a name is {RULE}", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "it holds {}; a name is {RULE}",
            match c {
                ' ' => "a space".to_owned(),
                c if c.is_ascii_graphic() => format!("`{c}`"),
                c => format!("U+{:04X}", c as u32),
            }
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("it starts with `{}`; a name is {RULE}", &name[..1]));
    }
    Ok(())
}

/// `name` as a message may show it: on one line, control characters
/// escaped, and cut after 80 bytes (marked `…`).
pub fn shown(name: &str) -> String {
    const SHOWN: usize = 80;
    let cut = crate::text::cut(name, SHOWN);
    let mut out = crate::text::for_log(cut).into_owned();
    if cut.len() < name.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_a_charset_and_a_length() {
        for ok in [
            "hello",
            "webhook-alert",
            "hello_v2",
            "9lives",
            &"a".repeat(64),
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            (&"a".repeat(65) as &str, "65 bytes"),
            ("rw\"} 1\nsandbot_forged_total{skill=\"x", "holds `\"`"),
            ("a b", "a space"),
            ("line\nbreak", "U+000A"),
            ("back\\slash", "`\\`"),
            ("dots.in.it", "`.`"),
            ("-flag", "starts with `-`"),
            ("café", "U+00E9"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_shown_name_stays_on_one_line_and_short() {
        assert_eq!(shown("rw\"} 1\nx"), "rw\"} 1\\nx");
        let long = shown(&"x".repeat(300));
        assert_eq!(long, format!("{}…", "x".repeat(80)));
    }
}
