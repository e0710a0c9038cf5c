//! A pattern as it reads ASCII text: every class cut to its ASCII members,
//! every Unicode word boundary an ASCII one. On a text that is all ASCII
//! it matches exactly where, and with exactly the captures, the pattern
//! itself does: each class meets only ASCII characters there, and Unicode's
//! word characters among ASCII are ASCII's (`[0-9A-Za-z_]`). Its automaton
//! is tiny where the pattern's is not: Unicode `\w` alone compiles to about
//! a thousand NFA states (and as many again reversed, for the lazy DFA),
//! which made a skill's first message cost over a millisecond and leave
//! about 100 KB behind (issue 34). Most chat is ASCII: a skill's full
//! automaton is built only once a non-ASCII message reaches it.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

/// The ASCII reading of `hir`, as a pattern to compile case-sensitively
/// (any case folding is already in its classes); `None` when that is `hir`
/// itself (no class reaches past ASCII, no Unicode word boundary).
pub fn reading(hir: &Hir) -> Option<String> {
    let ascii = cut(hir);
    (ascii != *hir).then(|| ascii.to_string())
}

fn cut(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let mut c = c.clone();
            c.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7f')]));
            Hir::class(Class::Unicode(c))
        }
        HirKind::Look(look) => Hir::look(match *look {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => other,
        }),
        HirKind::Capture(c) => Hir::capture(regex_syntax::hir::Capture {
            sub: Box::new(cut(&c.sub)),
            ..c.clone()
        }),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(cut(&r.sub)),
            ..r.clone()
        }),
        HirKind::Concat(xs) => Hir::concat(xs.iter().map(cut).collect()),
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(cut).collect()),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(Class::Bytes(_)) => hir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(pattern: &str, case_sensitive: bool) -> Hir {
        regex_syntax::ParserBuilder::new()
            .case_insensitive(!case_sensitive)
            .build()
            .parse(pattern)
            .unwrap()
    }

    /// Every group's span, or None for no match.
    fn spans(re: &regex::Regex, text: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let caps = re.captures(text)?;
        Some(
            (0..caps.len())
                .map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }

    /// The full pattern and its ASCII reading, on one text: the same match,
    /// the same captures, the same group names.
    fn agree(pattern: &str, case_sensitive: bool, text: &str) -> Result<(), String> {
        // Not every pattern put together is valid (a group named twice).
        let Ok(full) = regex::RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .build()
        else {
            return Ok(());
        };
        let Some(ascii) = reading(&parse(pattern, case_sensitive)) else {
            return Ok(());
        };
        let ascii = regex::Regex::new(&ascii).map_err(|e| format!("{pattern}: {e}"))?;
        let names = |re: &regex::Regex| {
            re.capture_names()
                .map(|n| n.map(str::to_owned))
                .collect::<Vec<_>>()
        };
        if names(&full) != names(&ascii) {
            return Err(format!(
                "{pattern}: groups {:?} / {:?}",
                names(&full),
                names(&ascii)
            ));
        }
        if spans(&full, text) != spans(&ascii, text) {
            return Err(format!(
                "{pattern} on {text:?}: {:?} / {:?} (ASCII reading {ascii})",
                spans(&full, text),
                spans(&ascii, text)
            ));
        }
        Ok(())
    }

    #[test]
    fn the_ascii_reading_matches_ascii_text_as_the_pattern_does() {
        let patterns = [
            (r"^cmd7 (?P<x>\w+)$", true),
            (r"^deploy (?P<app>\w+) to (?P<env>\w+)$", true),
            (r"\bstatus\b of (\d+)", true),
            (r"^(hi|hello)$", false),
            (r"^[^a-z]*[A-Z]{2,}[^a-z]*$", true),
            (r"^seen @?(?P<user>[\w.@-]+)\??$", false),
            (r"(?i)^kick (\S+) (.*)$", true),
            (r"^show ſtatus\b", false),
            (r"^\s*ship\s+(?P<app>\S.*?)\s*$", false),
            (r"\b{start}w\w*\b{end}", true),
            (r"(?m)^(\W+)$", true),
            (r"[\p{Greek}a]+", true),
            (r"^é(x)?", true),
            (r"(?-u:\b)x", true),
        ];
        let texts = [
            "cmd7 word7",
            "cmd7 ",
            "deploy api to prod",
            "status of 34",
            "HELLO",
            "hi",
            "ABC DEF!",
            "seen @bob.x?",
            "SEEN Bob",
            "kick bob now",
            "show status",
            "SHOW STATUS",
            "  SHIP web  ",
            "with words",
            "!!\n--",
            "aaa",
            "x",
            "",
            "_ x_y",
        ];
        for (pattern, case_sensitive) in patterns {
            for text in texts {
                agree(pattern, case_sensitive, text).unwrap();
            }
        }
    }

    /// Patterns made only of ASCII classes and literals need no second
    /// automaton; `\w`, `(?i)k` (the Kelvin sign) and `\b` do.
    #[test]
    fn a_pattern_already_ascii_has_no_reading() {
        assert_eq!(reading(&parse("^hello [a-z]+$", true)), None);
        assert_eq!(reading(&parse(r"^(?-u:\w)+$", true)), None);
        assert_eq!(
            reading(&parse(r"^cmd7 (?P<x>\w+)$", true)).as_deref(),
            Some(r"(?:\A(?:cmd7 )(?P<x>[0-9A-Z_a-z]+)\z)")
        );
        assert!(reading(&parse("kick", false)).is_some());
        assert!(reading(&parse(r"\bx", true)).is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..Default::default() })]
        /// Patterns put together from pieces that read non-ASCII (Unicode
        /// classes, case folding, word boundaries), on ASCII texts.
        #[test]
        fn any_pattern_reads_ascii_text_alike(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(r"\w"), Just(r"\W"), Just(r"\d"), Just(r"\s"), Just(r"\S"), Just("."),
                    Just(r"\b"), Just(r"\B"), Just("[^a-c]"), Just("k"), Just("s"), Just("a"),
                    Just(" "), Just("(x|y)"), Just("^"), Just("$"), Just(r"\b{end}"),
                    Just(r"(?P<g>\w+)"), Just(r"[\w.-]"), Just(r"\pL"),
                ],
                1..7,
            ),
            repeat in proptest::collection::vec(prop_oneof![Just(""), Just("+"), Just("*"), Just("?"), Just("{2}")], 7),
            case_sensitive in any::<bool>(),
            text in "[a-zA-Z0-9 _.\\-!\n]{0,16}",
        ) {
            let pattern: String = pieces
                .iter()
                .zip(&repeat)
                .map(|(p, r)| if ["^", "$", r"\b", r"\B", r"\b{end}"].contains(p) { p.to_string() } else { format!("(?:{p}){r}") })
                .collect();
            prop_assert_eq!(agree(&pattern, case_sensitive, &text), Ok(()));
        }
    }
}
