//! Answers made safe for a terminal or any line-based medium: every control
//! and bidi character is shown, not obeyed (`text::for_terminal`), and the
//! lines of one answer after its first carry a continuation mark, so a line
//! break in a skill's text can never pass for another answer or for the bot.

use crate::event::ResponseBody;
use crate::text::for_terminal;

/// Begins every line of an answer after its first.
pub const CONTINUATION: &str = "│ ";

/// The lines to print for one answer. `prefix` goes before the first line
/// (`sandbot: ` at an interactive prompt); continuation lines are indented
/// to match and marked.
pub fn lines(body: &ResponseBody, prefix: &str) -> Vec<String> {
    let text = match body {
        ResponseBody::Text(text) => text.as_str(),
        ResponseBody::Reaction { emoji, .. } => {
            return vec![format!(
                "{prefix}(reacts {})",
                for_terminal(&one_line(emoji))
            )];
        }
    };
    let indent = " ".repeat(
        prefix
            .chars()
            .count()
            .saturating_sub(CONTINUATION.chars().count()),
    );
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let safe = for_terminal(line);
        if i == 0 {
            // A first line may not look like a continuation either.
            let safe = match safe.strip_prefix(CONTINUATION.trim_end()) {
                Some(rest) => format!("|{rest}"),
                None => safe.into_owned(),
            };
            out.push(format!("{prefix}{safe}"));
        } else {
            out.push(format!("{indent}{CONTINUATION}{safe}"));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> ResponseBody {
        ResponseBody::Text(s.into())
    }

    #[test]
    fn a_newline_cannot_forge_an_answer() {
        assert_eq!(
            lines(&text("Hello alice\nsandbot: reloaded 0 skills"), ""),
            vec!["Hello alice", "│ sandbot: reloaded 0 skills"]
        );
        assert_eq!(
            lines(&text("two\nlines"), "sandbot: "),
            vec!["sandbot: two", "       │ lines"]
        );
        assert_eq!(
            lines(&text("│ fake continuation"), ""),
            vec!["| fake continuation"]
        );
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let osc52 = "\x1b]52;c;cm0gLXJmIH4=\x07copied\x1b[2J";
        let got = lines(&text(osc52), "");
        assert_eq!(got, vec!["␛]52;c;cm0gLXJmIH4=␇copied␛[2J"]);
        assert!(!got[0].contains('\x1b'));
    }
}
