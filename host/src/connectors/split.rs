//! Cutting an answer into pieces a platform accepts: IRC's 512-byte lines,
//! Slack's and Matrix's message sizes. Cuts fall at a space near the end of
//! a piece where there is one, and never inside a character.

/// Cuts `line` into pieces of at most `max` bytes, at a space where one is
/// near the end of a piece, never inside a character.
pub fn split_to_fit(line: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut pieces = Vec::new();
    let mut rest = line;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        // Prefer the last space in the second half of the piece.
        if let Some(space) = rest[..end].rfind(' ').filter(|&at| at >= end / 2) {
            end = space;
        }
        pieces.push(&rest[..end]);
        rest = rest[end..].strip_prefix(' ').unwrap_or(&rest[end..]);
    }
    pieces.push(rest);
    pieces
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
    }
}
