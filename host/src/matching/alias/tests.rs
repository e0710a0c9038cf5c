//! The alias table: StackStorm's documented behaviour, its parser's own
//! tests (st2common `test_action_alias_utils.py`), hubot-stackstorm's
//! fixtures, and the defects of issue 32, each row run through the real
//! index as a message would be.

use super::*;
use crate::manifest::{AliasSpec, Manifest, MatcherKind, MatcherSpec};
use crate::matching::tests::say;
use crate::matching::{Index, Policy, SkillMatchers};

/// What a row must give.
#[derive(Debug)]
enum Want {
    /// These parameters, in this order.
    P(&'static [(&'static str, &'static str)]),
    /// Nothing matches.
    No,
    /// The alias does not load; the error contains this.
    Load(&'static str),
    /// It matches and is refused with words containing this.
    Refused(&'static str),
}
use Want::*;

/// (formats of one alias, fixed parameters, message, what it gives).
type Row = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
    Want,
);

const NONE: &[(&str, &str)] = &[];

/// One alias with these formats (aliases for the same matcher, as the
/// operator's `aliases:` make them) through the index; `Err` when it does
/// not load.
fn run(
    formats: &[&str],
    fixed: &[(&str, &str)],
    text: &str,
) -> Result<Option<crate::matching::Hit>, String> {
    let manifest = Manifest {
        name: "s".into(),
        version: "1".into(),
        description: String::new(),
        settings: None,
        matchers: formats
            .iter()
            .map(|f| MatcherSpec {
                id: "alias".into(),
                kind: MatcherKind::ActionAlias(AliasSpec {
                    format: (*f).to_owned(),
                    parameters: fixed
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ack: None,
                    multiple: false,
                }),
                help: String::new(),
            })
            .collect(),
    };
    let compiled: SkillMatchers = crate::matching::compile(&manifest)?;
    let policy = Policy::default();
    let index = Index::build([(&manifest, &compiled, &policy)]);
    let mut hits = index.route(&say(text));
    assert!(hits.len() <= 1, "one alias, one hit: {hits:?}");
    Ok(hits.pop())
}

fn check(row: &Row) -> Result<(), String> {
    let (formats, fixed, text, want) = row;
    let got = run(formats, fixed, text);
    let fine = match (want, &got) {
        (Load(words), Err(e)) => e.contains(words),
        (No, Ok(None)) => true,
        (P(expected), Ok(Some(hit))) => {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            hit.captures == expected && hit.rivals.is_empty() && hit.refused.is_none()
        }
        (Refused(words), Ok(Some(hit))) => {
            hit.refused.as_deref().is_some_and(|r| r.contains(words))
        }
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        let got = match got {
            Ok(Some(hit)) => format!(
                "{:?} refused={:?} rivals={:?}",
                hit.captures, hit.refused, hit.rivals
            ),
            Ok(None) => "no match".into(),
            Err(e) => format!("load error: {e}"),
        };
        Err(format!(
            "{formats:?} fixed {fixed:?}, message {text:?}: want {want:?}, got {got}"
        ))
    }
}

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // --- StackStorm's documented formats -----------------------------------
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to prod", P(&[("app", "web"), ("env", "prod")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to", P(&[("app", "web"), ("env", "staging")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "DEPLOY web TO prod", P(&[("app", "web"), ("env", "prod")])),
    (&["tag {{k}} {{v}}"], NONE, "tag a b c", P(&[("k", "a"), ("v", "b c")])),
    (&["tag {{k}} {{v}}"], NONE, "tag \"a b\" c", P(&[("k", "a b"), ("v", "c")])),
    (&["say {{text}}"], NONE, "say 'hello there'", P(&[("text", "hello there")])),
    (&["run {{cmd}} with {{args}}"], NONE, "run ls with {\"flags\": \"-la\"}", P(&[("cmd", "ls"), ("args", "{\"flags\": \"-la\"}")])),
    (&["run {{cmd}} with {{args}}"], NONE, "run ls with {\"a\": 1} timeout=5", P(&[("cmd", "ls"), ("args", "{\"a\": 1}"), ("timeout", "5")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to prod timeout=120", P(&[("app", "web"), ("env", "prod"), ("timeout", "120")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to prod env=qa", P(&[("app", "web"), ("env", "qa")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to env=\"q a\"", P(&[("app", "web"), ("env", "q a")])),
    (&["deploy {{app}} to {{env=staging}}"], NONE, "deploy web to prod note=\"two words\"", P(&[("app", "web"), ("env", "prod"), ("note", "two words")])),
    (&["run {{cmd}}"], NONE, "run make x=1 all", P(&[("cmd", "make x=1 all")])),
    (&["run {{cmd}}"], NONE, "run x=1 all", P(&[("cmd", "x=1 all")])),
    (&["(run|execute) {{cmd}}( on {{hosts=localhost}})?"], NONE, "execute uptime on web1", P(&[("cmd", "uptime"), ("hosts", "web1")])),
    (&["(run|execute) {{cmd}}( on {{hosts=localhost}})?"], NONE, "run uptime", P(&[("cmd", "uptime"), ("hosts", "localhost")])),
    (&["status"], NONE, "status", P(&[])),
    (&["status"], NONE, "show status now", No),
    (&["status"], NONE, "  status  ", P(&[])),
    (&["status$"], NONE, "show status", No),
    (&["^status"], NONE, "status please", No),
    (&["deploy {{app}} now"], NONE, "deploy  now", No),
    (&["say {{text}}"], NONE, "say", No),
    // --- st2common test_action_alias_utils.py ------------------------------
    (&[""], NONE, "a=foobar1", P(&[("a", "foobar1")])),
    (&["foo"], NONE, "foo a=\"foobar2 poonies bar\"", P(&[("a", "foobar2 poonies bar")])),
    (&["foo"], NONE, "foo a='foobar2 poonies bar'", P(&[("a", "foobar2 poonies bar")])),
    (&["foo"], NONE, "foo a={\"foobar2\": \"poonies\"}", P(&[("a", "{\"foobar2\": \"poonies\"}")])),
    (&[""], NONE, "a=foobar1 b=\"boobar2 3 4\" c='coobar3 4' d={\"a\": \"b\"}", P(&[("a", "foobar1"), ("b", "boobar2 3 4"), ("c", "coobar3 4"), ("d", "{\"a\": \"b\"}")])),
    (&["{{ captain }} is my captain"], NONE, "Malcolm Reynolds is my captain weirdo=\"River Tam\"", P(&[("captain", "Malcolm Reynolds"), ("weirdo", "River Tam")])),
    (&["skip {{a}} more skip {{b}} and skip more."], NONE, "skip a1 more skip b1 and skip more.", P(&[("a", "a1"), ("b", "b1")])),
    (&["skip {{a}} more skip {{b}}"], NONE, "skip a1 more skip b1", P(&[("a", "a1"), ("b", "b1")])),
    (&["skip {{a}} more skip {{b}} and skip more."], NONE, "skip \"a1 a2\" more skip b1 and skip more.", P(&[("a", "a1 a2"), ("b", "b1")])),
    (&["acl {{a}} {{b}} {{c}} {{d=1}}"], NONE, "acl \"a1 a2\" \"b1\" \"c1\"", P(&[("a", "a1 a2"), ("b", "b1"), ("c", "c1"), ("d", "1")])),
    (&["acl {{a=test}}"], NONE, "acl", P(&[("a", "test")])),
    (&["skip {{a}} more skip."], NONE, "skip {\"a\": \"b\", \"c\": \"d\"} more skip.", P(&[("a", "{\"a\": \"b\", \"c\": \"d\"}")])),
    (&["skip {{a}} more skip {{b}}."], NONE, "skip {\"a\": \"b\", \"c\": \"d\"} more skip x.", P(&[("a", "{\"a\": \"b\", \"c\": \"d\"}"), ("b", "x")])),
    (&["s {{a}} more {{ b }} more {{ c=99 }} more {{ d = 99 }}"], NONE, "s one more two more three more", P(&[("a", "one"), ("b", "two"), ("c", "three"), ("d", "99")])),
    (&["skip {{ a = value }} more"], NONE, "skip one more", P(&[("a", "one")])),
    (&["skip {{ a = value }} more"], NONE, "skip more", P(&[("a", "value")])),
    (&["two by two hands of {{ color = {{ colors.default_color }} }}"], NONE, "two by two hands of", P(&[("color", "{{ colors.default_color }}")])),
    (&["testing {{ a }}"], NONE, "testing value b=value2", P(&[("a", "value"), ("b", "value2")])),
    (&["testing {{ a=new }}"], NONE, "testing b=\"another value\"", P(&[("a", "new"), ("b", "another value")])),
    (&["testing {{ b=abc }} {{ c=xyz }}"], NONE, "testing newvalue d={\"1\": \"2\"} e=\"long value\"", P(&[("b", "newvalue"), ("c", "xyz"), ("d", "{\"1\": \"2\"}"), ("e", "long value")])),
    (&["skip {{d=test1}} more skip {{e=test1}}."], NONE, "skip more skip.", P(&[("d", "test1"), ("e", "test1")])),
    (&["skip {{d=test}} more skip {{e=test}}"], NONE, "skip ponies more skip", P(&[("d", "ponies"), ("e", "test")])),
    (&["skip {{d}} more skip {{e}}."], NONE, "skip more skip.", No),
    (&["{{ p0='http' }} g {{ p1=p }} a {{ url }} {{ p2={'a':'b'} }} {{ p3={{ e.i }} }}"], NONE,
        "g a http://google.com {{ execution.id }} p4='testing' p5={'a':'c'}",
        P(&[("p0", "http"), ("p1", "p"), ("url", "http://google.com"), ("p2", "{{ execution.id }}"), ("p3", "{{ e.i }}"), ("p4", "testing"), ("p5", "{'a':'c'}")])),
    (&["foo bar ponies"], NONE, "foo lulz ponies", No),
    (&["foo bar"], NONE, "foo bar pony1=foo pony2=bar", P(&[("pony1", "foo"), ("pony2", "bar")])),
    (&[r"^\s*foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)"], NONE, "foo ASDF-1234", P(&[("issue_key", "ASDF-1234")])),
    (&[r"^\s*foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)"], NONE, "bar foo ASDF-1234", No),
    (&[r"foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)\s*$"], NONE, "foo ASDF-1234", P(&[("issue_key", "ASDF-1234")])),
    (&[r"foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)\s*$"], NONE, "foo ASDF-1234 bar", No),
    (&[r"^\s*foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+) bar\s*$"], NONE, "foo ASDF-1234 bar", P(&[("issue_key", "ASDF-1234")])),
    (&[r"^\s*foo (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)\s*$"], NONE, "bar ASDF-1234", No),
    // An anchor inside a group is the format's own: no `^` is added, and it
    // is found within the sentence (st2 fixture `alias_match_multiple`).
    (&[r"(?:\b|^)duplicate of (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)(?:\b|$)"], NONE,
        "JKROWLING-4 is a duplicate of JRRTOLKIEN-24 which is a duplicate of DRSEUSS-12",
        P(&[("issue_key", "JRRTOLKIEN-24")])),
    (&[r"(?:\b|^)duplicate of (?P<issue_key>[A-Z][A-Z0-9]+-[0-9]+)(?:\b|$)"], NONE, "a duplicate of nothing", No),
    // --- hubot-stackstorm's fixtures (the chat side) ----------------------
    (&["alias1 fmt1 {{param}} breaking words {{param2=default}}"], NONE, "alias1 fmt1 value breaking words", P(&[("param", "value"), ("param2", "default")])),
    (&["alias2 fmt1 {{param1}} {{param2}}", "alias2 fmt2 {{param1}} some more words"], NONE, "alias2 fmt2 a some more words", P(&[("param1", "a")])),
    (&["alias3 fmt1 {{param1}} {{param2}} {{param3=default}} trailing words"], NONE, "alias3 fmt1 a b trailing words", P(&[("param1", "a"), ("param2", "b"), ("param3", "default")])),
    (&["alias4 fmt1 {{param1}} word {{param2}}", "alias4 fmt1 {{param1}}"], NONE, "alias4 fmt1 value1 word value2", P(&[("param1", "value1"), ("param2", "value2")])),
    (&["alias4 fmt1 {{param1}} word {{param2}}", "alias4 fmt1 {{param1}}"], NONE, "alias4 fmt1 value1", P(&[("param1", "value1")])),
    // --- issue 32: each defect -------------------------------------------
    // The only parameter has a default.
    (&["run {{thing={'key': 'value'}}}"], NONE, "run", P(&[("thing", "{'key': 'value'}")])),
    (&["run {{thing={'key': 'value'}}}"], NONE, "run {\"a\": 1}", P(&[("thing", "{\"a\": 1}")])),
    // The format's own named group is a parameter.
    (&["(?P<verb>run|execute) {{cmd}}"], NONE, "execute uptime", P(&[("verb", "execute"), ("cmd", "uptime")])),
    // Smart quotes are quotes.
    (&["say {{text}}"], NONE, "say “two words”", P(&[("text", "two words")])),
    (&["say {{text}}"], NONE, "say ‘two words’", P(&[("text", "two words")])),
    (&["say {{text}} to {{who}}"], NONE, "say “hi there” to ‘bob smith’", P(&[("text", "hi there"), ("who", "bob smith")])),
    (&["foo"], NONE, "foo note=“two words”", P(&[("note", "two words")])),
    // Several lines.
    (&["say {{text}}"], NONE, "say hello\nworld", P(&[("text", "hello\nworld")])),
    (&["run {{cmd}} on {{host}}"], NONE, "run date\non localhost", P(&[("cmd", "date"), ("host", "localhost")])),
    (&["foo"], NONE, "foo\na=1", P(&[("a", "1")])),
    // Extra spaces between words.
    (&["run {{cmd}} on {{host}}"], NONE, "run  date   on   localhost", P(&[("cmd", "date"), ("host", "localhost")])),
    (&["run date on {{host=localhost}}"], NONE, "run   date\ton", P(&[("host", "localhost")])),
    // An empty quoted value is empty, not missing.
    (&["say {{text}}"], NONE, "say \"\"", P(&[("text", "")])),
    (&["say {{text}}"], NONE, "say ''", P(&[("text", "")])),
    (&["foo"], NONE, "foo a=\"\"", P(&[("a", "")])),
    // Regex characters in plain words: refused where the format would not
    // match its own words, loaded where they are harmless or escaped.
    (&["c++ {{x}}"], NONE, "cc two", Load("`+` at byte 2")),
    (&["price {{amount}} $"], NONE, "price 5 $", Load("`$` at byte 17")),
    (&["are you there?"], NONE, "are you there?", Load("`?` at byte 13")),
    (&[r"price {{amount}} \$"], NONE, "price 5 $", P(&[("amount", "5")])),
    (&[r"c\+\+ {{x}}"], NONE, "c++ two", P(&[("x", "two")])),
    (&["v1.2 {{x}}"], NONE, "v1.2 beta", P(&[("x", "beta")])),
    (&["zz{2} {{x}}"], NONE, "zzz top", P(&[("x", "top")])),
    (&["(a|b)++ {{x}}"], NONE, "a x", Load("`+` at byte 6")),
    // Two formats of one alias: the most specific wins, in either order.
    (&["deploy {{pack}}", "deploy {{pack}} to {{host}}"], NONE, "deploy web to db1", P(&[("pack", "web"), ("host", "db1")])),
    (&["deploy {{pack}} to {{host}}", "deploy {{pack}}"], NONE, "deploy web to db1", P(&[("pack", "web"), ("host", "db1")])),
    (&["deploy {{pack}}", "deploy {{pack}} to {{host}}"], NONE, "deploy web", P(&[("pack", "web")])),
    // A fixed parameter cannot be overridden; the others still can.
    (&["deploy {{app}}"], &[("env", "prod")], "deploy web env=dev", Refused("`env` cannot be overridden")),
    (&["deploy {{app}}"], &[("env", "prod")], "deploy web", P(&[("app", "web"), ("env", "prod")])),
    (&["deploy {{app}}"], &[("env", "prod")], "deploy web timeout=5", P(&[("app", "web"), ("timeout", "5"), ("env", "prod")])),
    (&["deploy {{app}} to {{env}}"], &[("env", "prod")], "deploy web to dev", Load("`env` is fixed")),
    // `key=value` inside a value is part of it.
    (&["licensing {{key}}"], NONE, "licensing abc==", P(&[("key", "abc==")])),
    (&["licensing {{key}}"], NONE, "licensing abc== seats=5", P(&[("key", "abc=="), ("seats", "5")])),
    (&["licensing {{key}}"], NONE, "licensing a=b", P(&[("key", "a=b")])),
    (&["say {{text}}"], NONE, "say \"a=b\"", P(&[("text", "a=b")])),
    (&["foo"], NONE, "foo a.b-c=1", P(&[("a.b-c", "1")])),
    // Load errors point into the user's format.
    (&["deploy ( {{app}}"], NONE, "deploy x", Load("at byte 7")),
    (&["deploy {{app}} (?=now)"], NONE, "deploy x now", Load("at byte 15")),
    (&["deploy {{app}} (?P<app>x)"], NONE, "deploy x x", Load("at byte 19")),
    (&["deploy {{app"], NONE, "deploy x", Load("never closed")),
    (&["deploy {{}}"], NONE, "deploy x", Load("does not name")),
    (&["deploy {{a b}}"], NONE, "deploy x", Load("does not name")),
    (&["{{a}} {{a}}"], NONE, "x y", Load("twice")),
];

#[test]
fn stackstorm_alias_table() {
    assert!(TABLE.len() >= 60, "{} rows", TABLE.len());
    let failures: Vec<String> = TABLE.iter().filter_map(|row| check(row).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows fail:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

#[test]
fn trailing_pairs_are_cut_from_the_end_only() {
    assert_eq!(
        trailing_pairs("deploy web a=1 b='x y'"),
        (
            "deploy web",
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        )
    );
    assert_eq!(trailing_pairs("x=1 deploy"), ("x=1 deploy", vec![]));
    assert_eq!(trailing_pairs("licence abc=="), ("licence abc==", vec![]));
}

#[test]
fn load_errors_name_the_place_and_the_fix() {
    assert_eq!(
        compile("deploy ( {{app}}").unwrap_err(),
        "the format is not a valid regex at byte 7 (`( {{app}}`): unclosed group"
    );
    assert_eq!(
        compile("c++ {{x}}").unwrap_err(),
        "`+` at byte 2 repeats a repetition (as in `c++`), which StackStorm's regexes refuse \
         too; write `\\+` for the character itself"
    );
    let e = compile("price {{amount}} $").unwrap_err();
    assert!(e.starts_with("`$` at byte 17 is regex syntax"), "{e}");
    assert!(
        e.contains("`price x1 $`") && e.contains(r"write `\$`"),
        "{e}"
    );
}

/// The index finds an alias by its first word and the blank after it
/// (`ship9 `), so that `ship9` is not a candidate for `ship99 web`: the hot
/// path runs one regex, not one per alias whose name is a prefix.
#[test]
fn command_prefixes_run_through_the_first_blank() {
    let keys = |format: &str| {
        let alias = compile(format).unwrap();
        crate::matching::regex_index::compile(&alias.regex, false)
            .unwrap()
            .keys
    };
    let ship = keys("ship9 {{app}}( to {{env=staging}})?");
    assert!(ship.contains(&b"ship9 ".to_vec()), "{ship:?}");
    assert!(
        ship.iter().all(|k| k.len() == 6 && k.starts_with(b"ship9")),
        "{ship:?}"
    );
    let run = keys("run date on {{host}}");
    assert!(run.contains(&b"run ".to_vec()), "{run:?}");
}

/// Formats are untrusted (skills write them): any text either loads as a
/// pattern the index accepts (and reads any message it matches) or is
/// refused with a reason; nothing panics.
#[test]
fn any_format_loads_or_is_refused() {
    let alphabet: Vec<char> = "{{}}={$^+?*()[]|\\ \"'“”‘’ab1_.,-\n".chars().collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..1_000 {
        let len = next() % 24;
        let format: String = (0..len)
            .map(|_| alphabet[next() % alphabet.len()])
            .collect();
        match compile(&format) {
            Ok(alias) => {
                crate::matching::regex_index::compile(&alias.regex, false).unwrap_or_else(|e| {
                    panic!(
                        "`{format}` loaded as `{}`, which the index refuses: {e}",
                        alias.regex
                    )
                });
                // And any message it matches gives parameters.
                let re = regex::RegexBuilder::new(&alias.regex)
                    .case_insensitive(true)
                    .build()
                    .unwrap();
                for _ in 0..4 {
                    let len = next() % 24;
                    let text: String = (0..len)
                        .map(|_| alphabet[next() % alphabet.len()])
                        .collect();
                    if let Some(caps) = re.captures(&text) {
                        let captures: Vec<(String, String)> = re
                            .capture_names()
                            .flatten()
                            .filter_map(|n| Some((n.to_owned(), caps.name(n)?.as_str().to_owned())))
                            .collect();
                        std::hint::black_box(alias.parameters(&text, &captures));
                        std::hint::black_box(alias.refusal(&captures));
                    }
                }
                loaded += 1;
            }
            Err(e) => {
                assert!(!e.is_empty(), "`{format}`");
                refused += 1;
            }
        }
    }
    assert!(
        loaded > 50 && refused > 50,
        "{loaded} loaded, {refused} refused"
    );
}
