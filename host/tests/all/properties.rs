//! Property tests for the parsers that read untrusted input: the
//! configuration loader (and the connector registry behind it), manifest
//! validation and matcher compilation. Whatever they are fed, they return a
//! value or an error that says where: they never panic, and what they
//! accept keeps their bounds. (The shell's line reader has its own, beside
//! it.) Case counts are kept small so `make test` stays quick.

use proptest::prelude::*;
use sandbot::event::{Event, Message};
use sandbot::manifest::{EventKind, Manifest, MatcherKind, MatcherSpec, SettingSpec};
use std::path::Path;

const CASES: u32 = 192;

fn the_default_configuration() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configuration.yaml"
    ))
    .unwrap()
}

/// The repository's configuration with a few random edits: near misses are
/// where real mistakes are.
fn edited_configuration() -> impl Strategy<Value = String> {
    let base = the_default_configuration();
    let n = base.len();
    proptest::collection::vec(
        (
            0..n,
            prop_oneof![
                Just(String::new()),
                "[ -~]{1,3}",
                Just("\n".to_string()),
                Just(":".to_string()),
                Just("  ".to_string()),
                Just("${".to_string()),
            ],
        ),
        1..6,
    )
    .prop_map(move |edits| {
        let mut text = base.clone();
        for (at, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let end = (at + insert.len().max(1)).min(text.len());
            let end = (end..=text.len())
                .find(|e| text.is_char_boundary(*e))
                .unwrap_or(text.len());
            text.replace_range(at..end, &insert);
        }
        text
    })
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("/etc/sandbot/configuration.yaml");
    let lines = text.lines().count().max(1);
    let parsed = sandbot::config::parse(text, file)
        .and_then(|c| sandbot::connectors::registry::instances(&c).map(|_| c));
    if let Err(e) = parsed {
        prop_assert_eq!(&e.file, file);
        if let Some(line) = e.line {
            prop_assert!(
                line >= 1 && line <= lines + 1,
                "line {} of {}: {}",
                line,
                lines,
                e
            );
        }
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

fn text_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 .-]{0,20}",
        "\\PC{0,80}",
        any::<String>(),
        Just("\u{1b}[31m".to_string()),
        Just("x".repeat(300)),
    ]
}

fn matcher_kind() -> impl Strategy<Value = MatcherKind> {
    prop_oneof![
        (pattern(), any::<bool>()).prop_map(|(pattern, case_sensitive)| MatcherKind::Regex {
            pattern,
            case_sensitive
        }),
        Just(MatcherKind::Always),
        Just(MatcherKind::CatchAll),
        Just(MatcherKind::EventType(EventKind::Join)),
        "[a-z {}]{0,30}".prop_map(MatcherKind::ParseFormat),
    ]
}

/// Strings built from regex syntax, most of them broken.
fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z\\\\()\\[\\]{}|*+?.^$0-9,wdsb:-]{0,24}",
        Just(r"\w{1000}x1".to_string()),
        Just("a[ab]{24}c".to_string()),
        Just(r"^deploy (?P<app>\w+) to (?P<env>\w+)$".to_string()),
    ]
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        text_field(),
        text_field(),
        proptest::collection::vec((text_field(), matcher_kind(), text_field()), 0..6),
        proptest::option::of(proptest::collection::vec(
            (text_field(), text_field(), any::<bool>()),
            0..4,
        )),
    )
        .prop_map(|(name, version, matchers, settings)| Manifest {
            name,
            version,
            description: String::new(),
            matchers: matchers
                .into_iter()
                .map(|(id, kind, help)| MatcherSpec { id, kind, help })
                .collect(),
            settings: settings.map(|s| {
                s.into_iter()
                    .map(|(name, help, required)| SettingSpec {
                        name,
                        help,
                        required,
                    })
                    .collect()
            }),
        })
}

fn say(text: &str) -> Event {
    Event::Message(Message {
        id: "1".into(),
        text: text.into(),
        user: "alice".into(),
        user_id: "alice".into(),
        room: "ops".into(),
        connector: "shell".into(),
        thread: None,
        received_at: 0,
        addressed: true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn any_text_as_configuration_parses_or_names_its_line(text in "[ -~\n]{0,400}") {
        check_config(&text)?;
    }

    #[test]
    fn an_edited_configuration_parses_or_names_its_line(text in edited_configuration()) {
        check_config(&text)?;
    }

    #[test]
    fn accepted_manifests_are_short_and_printable(m in manifest()) {
        if m.validate().is_ok() {
            for field in [&m.name, &m.version].into_iter().chain(m.matchers.iter().map(|x| &x.id)) {
                prop_assert!(!field.trim().is_empty() && field.len() <= sandbot::manifest::MAX_NAME);
                prop_assert!(!field.chars().any(sandbot::text::is_dangerous));
            }
            for x in &m.matchers {
                prop_assert!(x.help.len() <= sandbot::manifest::MAX_HELP);
                prop_assert!(!x.help.chars().any(sandbot::text::is_dangerous));
            }
            for s in m.settings.iter().flatten() {
                prop_assert!(!s.name.trim().is_empty() && s.name.len() <= sandbot::manifest::MAX_NAME);
                prop_assert!(s.help.len() <= sandbot::manifest::MAX_HELP);
                prop_assert!(!s.name.chars().chain(s.help.chars()).any(sandbot::text::is_dangerous));
            }
        }
    }

    #[test]
    fn matchers_compile_within_bounds_and_route_any_text(m in manifest(), text in "\\PC{0,64}") {
        if let Ok(compiled) = sandbot::matching::compile(&m) {
            prop_assert!(m.matchers.len() <= sandbot::matching::MAX_MATCHERS);
            let index = sandbot::matching::Index::build([(&m, &compiled, &sandbot::matching::Policy::default())]);
            for hit in index.route(&say(&text)) {
                prop_assert_eq!(hit.skill(), Some(0));
            }
        }
    }
}
