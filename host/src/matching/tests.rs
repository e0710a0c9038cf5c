//! The index's rules, on manifests built in place: ranking, ambiguity
//! (between skills, and between a skill and a workflow), addressing,
//! webhooks and bounds.

use super::*;
use crate::event::Message;
use crate::manifest::MatcherSpec;

fn manifest(name: &str, matchers: Vec<(&str, MatcherKind)>) -> Manifest {
    Manifest {
        name: name.into(),
        version: "1".into(),
        description: String::new(),
        settings: None,
        matchers: matchers
            .into_iter()
            .map(|(id, kind)| MatcherSpec {
                id: id.into(),
                kind,
                help: String::new(),
            })
            .collect(),
    }
}

fn build(skills: &[Manifest]) -> Index {
    build_with(skills, &[])
}

/// An index over `skills`, then workflows' matchers as `flows`.
fn build_with(skills: &[Manifest], flows: &[Manifest]) -> Index {
    let compile_all = |ms: &[Manifest]| -> Vec<SkillMatchers> {
        ms.iter().map(|m| compile(m).unwrap()).collect()
    };
    let (skill_matchers, flow_matchers) = (compile_all(skills), compile_all(flows));
    let policy = Policy::default();
    Index::build_with(
        skills
            .iter()
            .zip(&skill_matchers)
            .map(|(m, c)| (m, c, &policy)),
        flows
            .iter()
            .zip(&flow_matchers)
            .map(|(m, c)| (m, c, &policy)),
    )
}

fn regex(p: &str, case_sensitive: bool) -> MatcherKind {
    MatcherKind::Regex {
        pattern: p.into(),
        case_sensitive,
    }
}

/// A message from alice, said to the bot (the alias tests use it too).
pub(super) fn say(text: &str) -> Event {
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

#[test]
fn longest_match_then_order_decides() {
    let skills = [
        manifest("a", vec![("short", regex("deploy", true))]),
        manifest("b", vec![("long", regex(r"deploy (?P<app>\w+)", true))]),
        manifest("c", vec![("same", regex(r"deploy (?P<what>\w+)", true))]),
    ];
    let index = build(&skills);
    let hits = index.route(&say("deploy api"));
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].skill().unwrap(), hits[0].matcher_id.as_str()),
        (1, "long")
    );
    assert_eq!(
        hits[0].captures,
        vec![("app".to_string(), "api".to_string())]
    );
}

#[test]
fn case_option_and_numbered_groups() {
    let skills = [manifest(
        "hello",
        vec![("greet", regex("^(hi|hello)$", false))],
    )];
    let index = build(&skills);
    let hits = index.route(&say("HeLLo"));
    assert_eq!(
        hits[0].captures,
        vec![("1".to_string(), "HeLLo".to_string())]
    );
    let strict = [manifest(
        "hello",
        vec![("greet", regex("^(hi|hello)$", true))],
    )];
    assert!(build(&strict).route(&say("HeLLo")).is_empty());
}

#[test]
fn always_runs_beside_and_catch_all_only_alone() {
    let skills = [
        manifest("seen", vec![("record", MatcherKind::Always)]),
        manifest("fallback", vec![("huh", MatcherKind::CatchAll)]),
        manifest("fallback2", vec![("huh2", MatcherKind::CatchAll)]),
        manifest("hello", vec![("greet", regex("^hi$", true))]),
    ];
    let index = build(&skills);
    let hits = index.route(&say("hi"));
    assert_eq!(
        hits.iter()
            .map(|h| (h.skill().unwrap(), h.why))
            .collect::<Vec<_>>(),
        vec![(3, Why::Chosen), (0, Why::Always)]
    );
    let hits = index.route(&say("what?"));
    assert_eq!(
        hits.iter()
            .map(|h| (h.skill().unwrap(), h.why))
            .collect::<Vec<_>>(),
        vec![(1, Why::CatchAll), (0, Why::Always)]
    );
}

#[test]
fn an_alias_beats_a_template_beats_a_regex_and_parameters_come_out() {
    let skills = [
        manifest(
            "r",
            vec![("re", regex(r"^deploy (?P<app>\w+) to (?P<env>\w+)$", false))],
        ),
        manifest(
            "p",
            vec![(
                "tpl",
                MatcherKind::ParseFormat("deploy {app} to {env}".into()),
            )],
        ),
        manifest(
            "a",
            vec![(
                "alias",
                MatcherKind::ActionAlias(crate::manifest::AliasSpec::new(
                    "deploy {{app}} to {{env=staging}}",
                )),
            )],
        ),
    ];
    let index = build(&skills);
    let hits = index.route(&say("Deploy web to prod timeout=30"));
    assert_eq!(
        (hits[0].skill().unwrap(), hits[0].matcher_id.as_str()),
        (2, "alias")
    );
    assert_eq!(
        hits[0].captures,
        vec![
            ("app".to_string(), "web".to_string()),
            ("env".to_string(), "prod".to_string()),
            ("timeout".to_string(), "30".to_string())
        ]
    );
    assert!(hits[0].rivals.is_empty());
    // Without the alias, the template wins over the regex.
    let index = build(&skills[..2]);
    let hits = index.route(&say("deploy web to prod"));
    assert_eq!(
        (hits[0].skill().unwrap(), hits[0].matcher_id.as_str()),
        (1, "tpl")
    );
}

#[test]
fn two_aliases_that_both_match_are_named_not_guessed() {
    let skills = [
        manifest(
            "deploy",
            vec![(
                "deploy",
                MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app}}")),
            )],
        ),
        manifest(
            "ship",
            vec![(
                "ship",
                MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app}} now")),
            )],
        ),
    ];
    let index = build(&skills);
    let hits = index.route(&say("deploy web now"));
    assert_eq!(hits.len(), 1);
    // Named most specific first.
    assert_eq!(hits[0].skill().unwrap(), 1);
    assert_eq!(hits[0].rivals, vec![(Target::Skill(0), 0)]);
    let hits = index.route(&say("deploy web"));
    assert!(hits[0].rivals.is_empty(), "only one fits: {hits:?}");
}

/// A workflow's alias is a matcher like a skill's: the same two aliases,
/// one a skill's and one a workflow's, get the answer two skills get; and
/// a workflow alias alone wins over a skill's regex, as an alias does.
#[test]
fn a_workflow_alias_and_a_skill_alias_are_ranked_as_two_skills_are() {
    let alias = |format: &str| MatcherKind::ActionAlias(crate::manifest::AliasSpec::new(format));
    let skills = [manifest(
        "deploy",
        vec![("deploy", alias("deploy {{app}}"))],
    )];
    let flows = [manifest(
        "ship",
        vec![("alias 1", alias("deploy {{app}} now"))],
    )];
    let hits = build_with(&skills, &flows).route(&say("deploy web now"));
    assert_eq!(hits.len(), 1);
    // As with two skills' aliases, the most specific is named first.
    assert_eq!(hits[0].target, Target::Workflow(0));
    assert_eq!(hits[0].rivals, vec![(Target::Skill(0), 0)]);
    // Only the workflow's fits: it is chosen, with its parameters.
    let regex_only = [manifest("r", vec![("re", regex(r"^deploy", false))])];
    let hits = build_with(&regex_only, &flows).route(&say("deploy web now"));
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].target, hits[0].why),
        (Target::Workflow(0), Why::Chosen)
    );
    assert_eq!(
        hits[0].captures,
        vec![("app".to_string(), "web".to_string())]
    );
    assert!(hits[0].rivals.is_empty());
    let flows = [manifest(
        "nightly",
        vec![("hook", MatcherKind::Webhook("nightly".into()))],
    )];
    let index = build_with(&[], &flows);
    assert_eq!(
        index
            .webhook(Target::Workflow(0), "nightly")
            .unwrap()
            .target,
        Target::Workflow(0)
    );
    assert!(index.webhook(Target::Skill(0), "nightly").is_none());
}

#[test]
fn respond_only_matchers_need_the_bot_addressed_and_disabled_skills_none() {
    let skills = [
        manifest(
            "deploy",
            vec![("deploy", regex(r"^deploy (?P<app>\w+)$", false))],
        ),
        manifest("any", vec![("word", regex(r"^deploy", false))]),
        manifest("huh", vec![("huh", MatcherKind::CatchAll)]),
    ];
    let compiled: Vec<SkillMatchers> = skills.iter().map(|m| compile(m).unwrap()).collect();
    let respond = Policy {
        addressed: vec![true],
        ..Policy::default()
    };
    let hear = Policy::default();
    let policies = [&respond, &hear, &respond];
    let index = Index::build(
        skills
            .iter()
            .zip(&compiled)
            .zip(policies)
            .map(|((m, c), p)| (m, c, p)),
    );
    let mut ambient = say("deploy api");
    if let Event::Message(m) = &mut ambient {
        m.addressed = false;
    }
    let hits = index.route(&ambient);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].skill().unwrap(), 1, "the hearing matcher takes it");
    assert_eq!(index.route(&say("deploy api"))[0].skill().unwrap(), 0);
    if let Event::Message(m) = &mut ambient {
        m.text = "what?".into();
    }
    assert!(
        index.route(&ambient).is_empty(),
        "the catch-all responds only"
    );
    assert_eq!(index.route(&say("what?"))[0].skill(), Some(2));
    let off = Policy {
        disabled: true,
        ..Policy::default()
    };
    let index = Index::build(
        skills
            .iter()
            .zip(&compiled)
            .zip([&off, &off, &hear])
            .map(|((m, c), p)| (m, c, p)),
    );
    let hits = index.route(&say("deploy api"));
    assert_eq!(
        hits.iter()
            .map(|h| (h.skill().unwrap(), h.why))
            .collect::<Vec<_>>(),
        vec![(2, Why::CatchAll)]
    );
}

#[test]
fn templates_give_fields_by_name_and_number() {
    let skills = [manifest(
        "remind",
        vec![(
            "in",
            MatcherKind::ParseFormat("remind me in {minutes:d} minutes to {}".into()),
        )],
    )];
    let hits = build(&skills).route(&say("remind me in 5 minutes to stretch"));
    assert_eq!(
        hits[0].captures,
        vec![
            ("minutes".to_string(), "5".to_string()),
            ("1".to_string(), "stretch".to_string())
        ]
    );
}

#[test]
fn webhooks_match_their_exact_path_and_crontabs_are_checked() {
    let skills = [
        manifest("a", vec![("hook", MatcherKind::Webhook("/alert".into()))]),
        manifest(
            "b",
            vec![
                ("greet", regex("^hi$", true)),
                ("hook", MatcherKind::Webhook("alert/v2".into())),
            ],
        ),
    ];
    let index = build(&skills);
    assert_eq!(
        index.webhook(Target::Skill(0), "alert").unwrap().matcher_id,
        "hook"
    );
    assert_eq!(
        index.webhook(Target::Skill(0), "//alert").unwrap().target,
        Target::Skill(0)
    );
    assert_eq!(
        index.webhook(Target::Skill(1), "alert/v2").unwrap().matcher,
        1
    );
    assert!(index.webhook(Target::Skill(1), "alert").is_none());
    assert!(index.webhook(Target::Skill(0), "alert/").is_none());
    assert!(index.webhook(Target::Skill(2), "alert").is_none());

    let bad = manifest("x", vec![("w", MatcherKind::Webhook("a/*".into()))]);
    assert!(compile(&bad).unwrap_err().contains("webhook matcher `w`"));
    let twice = manifest(
        "x",
        vec![
            ("w1", MatcherKind::Webhook("a".into())),
            ("w2", MatcherKind::Webhook("/a".into())),
        ],
    );
    assert!(compile(&twice).unwrap_err().contains("`w1` and `w2`"));
    let cron = |e: &str, z: Option<&str>| {
        manifest(
            "x",
            vec![(
                "daily",
                MatcherKind::Crontab {
                    expression: e.into(),
                    timezone: z.map(Into::into),
                },
            )],
        )
    };
    assert_eq!(
        compile(&cron("0 9 * * *", Some("Europe/Paris")))
            .unwrap()
            .crontabs()
            .len(),
        1
    );
    let e = compile(&cron("0 9 * *", None)).unwrap_err();
    assert!(e.starts_with("crontab matcher `daily`: "), "{e}");
    let e = compile(&cron("0 9 * * *", Some("Europe/Pariss"))).unwrap_err();
    assert!(
        e.contains("crontab matcher `daily`: unknown time zone"),
        "{e}"
    );
}

#[test]
fn bad_patterns_are_reported_per_matcher() {
    let m = manifest("x", vec![("broken", regex("(unclosed", true))]);
    assert!(
        compile(&m)
            .unwrap_err()
            .contains("matcher `broken` has a bad regex")
    );
    let m = manifest(
        "x",
        vec![(
            "a",
            MatcherKind::ActionAlias(crate::manifest::AliasSpec::new("deploy {{app")),
        )],
    );
    assert!(
        compile(&m)
            .unwrap_err()
            .contains("matcher `a` has a bad alias")
    );
    let m = manifest(
        "x",
        vec![("t", MatcherKind::ParseFormat("in {m:x}".into()))],
    );
    assert!(
        compile(&m)
            .unwrap_err()
            .contains("matcher `t` has a bad template")
    );
}
