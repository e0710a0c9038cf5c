//! The bot's name at the start of a line: `sandbot: deploy api`,
//! `sandbot, hi`, `@sandbot hi` (any case) are said to the bot, and the name
//! is taken off before matching, on every connector where people type it
//! (the shell, the web page and websocket, IRC). Slack and Matrix mention
//! the bot in their own markup, read by their connectors.

/// The text after the bot's name, if the line begins with it: the name
/// (with or without `@`), then `:` or `,` or a blank. `sandbotx: …` is
/// someone else.
pub fn after_name<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let text = text.trim_start();
    let text = text.strip_prefix('@').unwrap_or(text);
    if name.is_empty() {
        return None;
    }
    let head = text.get(..name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = &text[name.len()..];
    match rest.strip_prefix([':', ',']) {
        Some(after) => Some(after.trim_start()),
        None if rest.starts_with(char::is_whitespace) => Some(rest.trim_start()),
        None => None,
    }
}

/// `text` without the bot's name in front, when it has it.
pub fn strip_name<'t>(text: &'t str, name: &str) -> &'t str {
    after_name(text, name).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_in_its_usual_forms_is_taken_off() {
        for said in [
            "sandbot: hello",
            "SandBot, hello",
            "@sandbot hello",
            "@sandbot: hello",
            "sandbot hello",
            "  sandbot:   hello",
        ] {
            assert_eq!(after_name(said, "sandbot"), Some("hello"), "{said}");
        }
        for other in ["sandbotx: hello", "sand", "hello sandbot", "@sandbotx hi"] {
            assert_eq!(after_name(other, "sandbot"), None, "{other}");
        }
        assert_eq!(strip_name("hello", "sandbot"), "hello");
        assert_eq!(strip_name("sandbot: hi", ""), "sandbot: hi");
    }
}
