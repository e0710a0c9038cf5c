//! Cutting an answer into pieces a platform accepts, the one rule every
//! connector follows: IRC's 512-byte lines ([`split_to_fit`]), and whole
//! messages for Slack and Matrix ([`for_chat`]).
//!
//! A long answer becomes several messages, each within the platform's
//! size: cut between lines (a line longer than a message is cut at a space
//! near its end, never inside a character), a code fence open at a cut is
//! closed at the end of its message and opened again (with its language)
//! at the start of the next, and each message is marked `(2/3)` when there
//! is more than one. Past the connector's `max-parts`, the first message
//! goes out and then a short notice naming the event, whose execution
//! record in history keeps the answer.

use crate::event::EventId;

/// Cuts `line` into pieces of at most `max` bytes, at a space where one is
/// near the end of a piece, never inside a character.
pub fn split_to_fit(line: &str, max: usize) -> Vec<&str> {
    cut_line(line, max.max(4), bytes)
        .into_iter()
        .map(|(piece, _)| piece)
        .collect()
}

/// How much of a platform's message size one character takes.
pub type Weight = fn(char) -> usize;

/// Its UTF-8 bytes: what Matrix (and IRC) count.
pub fn bytes(c: char) -> usize {
    c.len_utf8()
}

/// The most one mark (`\n(12/34)`) takes, kept free in every message.
const MARK_ROOM: usize = 12;
/// The longest fence opener carried into the next message (```` ``` ````
/// and a language name).
const OPENER_MAX: usize = 24;
/// A closing fence: a line break and ```` ``` ````.
const CLOSER: &str = "\n```";

/// `text`'s weight.
fn weigh(text: &str, weight: Weight) -> usize {
    text.chars().map(weight).sum()
}

/// Cuts `line` into pieces weighing at most `max`, at the last space in a
/// piece's second half where there is one, never inside a character. Each
/// piece comes with whether a space was taken out before it (to join it
/// to the one before again).
fn cut_line(line: &str, max: usize, weight: Weight) -> Vec<(&str, bool)> {
    let mut pieces = Vec::new();
    let mut rest = line;
    let mut spaced = false;
    while weigh(rest, weight) > max {
        let mut end = 0;
        let mut used = 0;
        for (at, c) in rest.char_indices() {
            let w = weight(c);
            if used + w > max {
                break;
            }
            used += w;
            end = at + c.len_utf8();
        }
        // A character heavier than a whole piece still moves on.
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        if let Some(space) = rest[..end].rfind(' ').filter(|&at| at >= end / 2 && at > 0) {
            end = space;
        }
        pieces.push((&rest[..end], spaced));
        let next = &rest[end..];
        spaced = next.starts_with(' ');
        rest = next.strip_prefix(' ').unwrap_or(next);
    }
    pieces.push((rest, spaced));
    pieces
}

/// Whether `line` opens or closes a fenced code block.
fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// What opens a fence again in the next message: ```` ``` ```` and the
/// language (its first word, ASCII), at most [`OPENER_MAX`] bytes.
fn opener(line: &str) -> String {
    let info = line.trim_start().trim_start_matches('`');
    let language: String = info
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "+-_.#".contains(*c))
        .take(OPENER_MAX - 3)
        .collect();
    format!("```{language}")
}

/// `text` as messages weighing at most `max` each (see the module's
/// rules), marked `(i/n)` when there is more than one. `max` below 64 is
/// taken as 64.
pub fn split_message(text: &str, max: usize, weight: Weight) -> Vec<String> {
    let max = max.max(64);
    if weigh(text, weight) <= max {
        return vec![text.to_owned()];
    }
    let budget = max - MARK_ROOM;
    // A piece of a line must fit beside a reopened fence and its closer.
    let piece_max = budget - OPENER_MAX - 1 - CLOSER.len();
    let closer = weigh(CLOSER, weight);
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    // Something besides a reopened fence is in `current`.
    let mut has_content = false;
    // The fence open at the end of `current`, by its opener.
    let mut fence: Option<String> = None;
    for line in text.split('\n') {
        let fence_line = is_fence(line);
        for (i, (piece, spaced)) in cut_line(line, piece_max, weight).into_iter().enumerate() {
            let after = match (&fence, fence_line) {
                (Some(_), true) => None,
                (None, true) => Some(opener(line)),
                (open, false) => open.clone(),
            };
            // What goes before the piece: nothing at the start of a
            // message, a line break after a reopened fence or between
            // lines, and a line's later pieces join it again (with the
            // space the cut took) where they share a message.
            let sep = |has_content: bool, current: &str| match (has_content, i) {
                (false, _) if current.is_empty() => "",
                (false, _) | (true, 0) => "\n",
                (true, _) if spaced => " ",
                (true, _) => "",
            };
            let close = if after.is_some() { closer } else { 0 };
            let w = weigh(piece, weight);
            if has_content && used + sep(has_content, &current).len() + w + close > budget {
                if fence.is_some() {
                    current.push_str(CLOSER);
                }
                parts.push(std::mem::take(&mut current));
                used = 0;
                has_content = false;
                if let Some(open) = &fence {
                    current.push_str(open);
                    used = weigh(open, weight);
                }
            }
            let sep = sep(has_content, &current);
            current.push_str(sep);
            used += sep.len();
            current.push_str(piece);
            used += w;
            has_content = true;
            fence = after;
        }
    }
    if has_content {
        parts.push(current);
    }
    let n = parts.len();
    if n > 1 {
        for (i, part) in parts.iter_mut().enumerate() {
            part.push_str(&format!("\n({}/{n})", i + 1));
        }
    }
    parts
}

/// The messages that carry `text` on a platform whose messages weigh at
/// most `max`: [`split_message`]'s, or past `max_parts` of them the first
/// and then a notice that says where the whole answer is kept (the record
/// of the execution that answered `event`).
pub fn for_chat(
    text: &str,
    max: usize,
    max_parts: usize,
    weight: Weight,
    event: Option<EventId>,
) -> Vec<String> {
    let mut parts = split_message(text, max, weight);
    let n = parts.len();
    if n <= max_parts.max(1) {
        return parts;
    }
    parts.truncate(1);
    parts.push(too_long(text.len(), n, max_parts, event));
    parts
}

/// The notice for an answer past `max-parts`.
pub fn too_long(bytes: usize, parts: usize, max_parts: usize, event: Option<EventId>) -> String {
    let whole = match event {
        Some(id) => format!(
            "the whole answer is in its execution's record in history (event {id}: `GET /api/executions/{id}-0`)"
        ),
        None => "the whole answer is in its execution's record in history".into(),
    };
    format!(
        "… the answer is {bytes} bytes, {parts} messages here, over this connector's max-parts ({max_parts}); {whole}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_lines_are_cut_at_spaces_and_never_inside_a_character() {
        assert_eq!(split_to_fit("short", 10), vec!["short"]);
        assert_eq!(
            split_to_fit("aaaa bbbb cccc", 10),
            vec!["aaaa bbbb", "cccc"]
        );
        let e = "é".repeat(10); // 20 bytes
        for piece in split_to_fit(&e, 7) {
            assert!(piece.len() <= 7 && piece.chars().all(|c| c == 'é'));
        }
    }

    fn numbered(n: usize, width: usize) -> String {
        (1..=n)
            .map(|i| format!("{i:03} {}", "x".repeat(width)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Slack's weight: its escapes (`&amp;`, `&lt;`, `&gt;`) count.
    fn escaped(c: char) -> usize {
        match c {
            '&' => 5,
            '<' | '>' => 4,
            c => c.len_utf8(),
        }
    }

    #[test]
    fn the_rules_in_a_table() {
        // (text, max, expected messages)
        let fenced = format!("intro\n```rust\n{}\n```\nafter", numbered(6, 10));
        let table: Vec<(String, usize, Vec<String>)> = vec![
            // Fits: as it is, unmarked.
            ("one\ntwo".into(), 64, vec!["one\ntwo".into()]),
            ("".into(), 64, vec!["".into()]),
            // Cut between lines, marked.
            (
                numbered(6, 20),
                80,
                vec![
                    format!("{}\n(1/3)", numbered(2, 20)),
                    format!("003 {x}\n004 {x}\n(2/3)", x = "x".repeat(20)),
                    format!("005 {x}\n006 {x}\n(3/3)", x = "x".repeat(20)),
                ],
            ),
            // A fence open at a cut is closed and opened again with its language.
            (
                fenced.clone(),
                80,
                vec![
                    format!(
                        "intro\n```rust\n001 {x}\n002 {x}\n003 {x}\n```\n(1/2)",
                        x = "x".repeat(10)
                    ),
                    format!(
                        "```rust\n004 {x}\n005 {x}\n006 {x}\n```\nafter\n(2/2)",
                        x = "x".repeat(10)
                    ),
                ],
            ),
        ];
        for (text, max, want) in table {
            let got = split_message(&text, max, bytes);
            assert_eq!(got, want, "for {text:?} at {max}");
            for part in &got {
                assert!(part.len() <= max.max(64), "{part:?}");
            }
        }
    }

    #[test]
    fn a_line_longer_than_a_message_is_cut_at_a_space() {
        let line = "word ".repeat(40); // 200 bytes, one line
        let got = split_message(line.trim_end(), 80, bytes);
        assert!(got.len() > 2, "{got:?}");
        for part in &got {
            assert!(part.len() <= 80, "{part:?}");
            let body = part.rsplit_once('\n').unwrap().0;
            assert!(body.split(' ').all(|w| w == "word"), "{part:?}");
            assert!(!body.contains('\n'), "one line stays one line: {part:?}");
        }
    }

    #[test]
    fn slack_escapes_count_toward_the_size() {
        let text = "&".repeat(300);
        let got = split_message(&text, 200, escaped);
        for part in &got {
            assert!(
                weigh(part, escaped) <= 200,
                "{} over 200",
                weigh(part, escaped)
            );
        }
        assert_eq!(
            got.iter().map(|p| p.matches('&').count()).sum::<usize>(),
            300
        );
    }

    #[test]
    fn past_max_parts_the_first_part_and_a_notice() {
        let text = numbered(100, 60);
        let id = EventId(0xab);
        let got = for_chat(&text, 500, 4, bytes, Some(id));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("001 ") && got[0].ends_with("/15)"),
            "{}",
            got[0]
        );
        assert!(
            got[1].contains(&format!("{} bytes", text.len())),
            "{}",
            got[1]
        );
        assert!(got[1].contains("max-parts (4)"), "{}", got[1]);
        assert!(got[1].contains("00000000000000ab-0"), "{}", got[1]);
        // Within the cap, every part.
        assert_eq!(for_chat(&text, 500, 20, bytes, Some(id)).len(), 15);
    }

    fn fences_balanced(part: &str) -> bool {
        part.lines().filter(|l| is_fence(l)).count() % 2 == 0
    }

    proptest! {
        #[test]
        fn every_piece_fits_and_nothing_but_cut_spaces_is_lost(line in "[a-zé✓ ]{0,300}", max in 4usize..80) {
            let pieces = split_to_fit(&line, max);
            for p in &pieces {
                prop_assert!(p.len() <= max, "{p:?} is {} bytes > {max}", p.len());
            }
            let strip = |s: &str| s.replace(' ', "");
            prop_assert_eq!(strip(&pieces.concat()), strip(&line));
        }

        /// Any text: every message fits, fences are balanced in each when
        /// they were in the whole, and the text comes back (marks, added
        /// fences and cut spaces aside) in order.
        #[test]
        fn every_message_fits_fences_balance_and_nothing_is_lost(
            lines in proptest::collection::vec("(```[a-z]{0,30})|[a-zé✓ &<]{0,120}", 0..40),
            max in 96usize..400,
        ) {
            let text = lines.join("\n");
            let weight: Weight = if max % 2 == 0 { bytes } else { escaped };
            let parts = split_message(&text, max, weight);
            let n = parts.len();
            let whole_balanced = fences_balanced(&text);
            let mut back = String::new();
            for (i, part) in parts.iter().enumerate() {
                prop_assert!(weigh(part, weight) <= max, "{part:?} over {max}");
                if whole_balanced {
                    prop_assert!(fences_balanced(part), "{part:?}");
                }
                let mut body = part.as_str();
                if n > 1 {
                    let mark = format!("\n({}/{n})", i + 1);
                    prop_assert!(body.ends_with(&mark));
                    body = &body[..body.len() - mark.len()];
                }
                back.push_str(body);
                back.push('\n');
            }
            // Fence lines are never cut: leave them out of both sides (the
            // added ones have no counterpart), and the spaces cuts take.
            let keep = |s: &str| {
                s.split('\n')
                    .filter(|l| !is_fence(l))
                    .collect::<String>()
                    .replace(' ', "")
            };
            prop_assert_eq!(keep(&back), keep(&text));
        }
    }
}
