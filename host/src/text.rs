//! Text that came from outside (a skill, a chat line) on its way to a medium
//! that gives some characters power: a terminal obeys escape sequences, a
//! log reader trusts line breaks, a bidi override reorders what is shown.
//! These helpers neutralise such characters visibly, so nothing is lost and
//! nothing is forged.

use std::borrow::Cow;

/// Characters that must never reach a terminal or a log as themselves:
/// C0 controls (line breaks included; callers that keep line structure
/// split first), DEL, C1 controls (`\u{9b}` is a one-byte CSI on some
/// terminals), and the bidi controls that reorder displayed text.
pub fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// One line for a log: line breaks become `\n`, other dangerous characters
/// `\u{..}`, so a skill's text stays on its own line and colours nothing.
pub fn for_log(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One line of text for a terminal (no line breaks in `s`): tabs stay, C0
/// controls become their visible "control pictures" (ESC shows as `␛`),
/// the rest `\u{..}`.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\t' && is_dangerous(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push('\t'),
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?')),
            '\u{7f}' => out.push('\u{2421}'),
            c if is_dangerous(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Room [`cut_marked`] leaves for its mark.
pub const MARK_ROOM: usize = 40;

/// `s` in at most `max` bytes (for `max` of at least [`MARK_ROOM`]): as it
/// is when it fits, else its beginning and a mark of what was cut,
/// `… [61440 bytes cut]`, so a reader knows it is not the whole text.
pub fn cut_marked(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let kept = cut(s, max.saturating_sub(MARK_ROOM));
    Cow::Owned(format!("{kept}… [{} bytes cut]", s.len() - kept.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_get_one_line_and_no_escapes() {
        assert_eq!(for_log("plain"), "plain");
        assert_eq!(
            for_log("a\nERROR forged\x1b[31m"),
            "a\\nERROR forged\\u{1b}[31m"
        );
        assert_eq!(for_log("\u{202e}evil"), "\\u{202e}evil");
    }

    #[test]
    fn terminals_see_pictures_not_escapes() {
        assert_eq!(for_terminal("hi\tthere"), "hi\tthere");
        assert_eq!(
            for_terminal("\x1b]52;c;aGk=\x07"),
            "\u{241b}]52;c;aGk=\u{2407}"
        );
        assert_eq!(for_terminal("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn cuts_land_on_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("hi", 10), "hi");
    }

    #[test]
    fn a_marked_cut_fits_and_says_so() {
        assert_eq!(cut_marked("short", 64), "short");
        let long = "é".repeat(40_000);
        let kept = cut_marked(&long, 4096);
        assert!(kept.len() <= 4096, "{}", kept.len());
        assert!(
            kept.ends_with(&format!("… [{} bytes cut]", 80_000 - 4056)),
            "{kept}"
        );
    }
}
