//! Names are data. Skill files, a workflow file and a connector named to
//! forge lines (line breaks, quotes, braces, backslashes, a tab, dots, a
//! name of 240 bytes) are refused at load with an error naming the file or
//! the configuration field, shown escaped; and every place a name or a
//! user's text is shown, `/metrics`, `skills`, `reload`, `history`, `help`,
//! `workflow reload` and the log, keeps each item on its own line: no line
//! is forged.

use crate::common::{BotDir, Running, free_port, http, sandbot, wait_for_port};
use std::time::Duration;

/// Hostile skill file names (without `.wasm`).
fn hostile() -> Vec<String> {
    vec![
        "rw\"} 1\nsandbot_forged_total{skill=\"x".into(),
        "quote\"name".into(),
        "brace{x}".into(),
        "back\\slash".into(),
        "two\nlines\r\nERROR forged".into(),
        "tab\there".into(),
        "dots.in.name".into(),
        "long".repeat(60),
    ]
}

/// Says `text`; returns every line of the answer (the shell marks lines
/// that continue one with `│ `, kept here).
fn ask_all(run: &mut Running, text: &str) -> Vec<String> {
    run.say(text);
    let mut lines = vec![run.answer()];
    while let Some(line) = run.try_answer(Duration::from_millis(300)) {
        lines.push(line);
    }
    lines
}

/// Lines that start as something other than a log line would: what a
/// forged name would make.
fn forged<'a>(text: &'a str, starts: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            let l = l.trim_start_matches("│ ").trim_start();
            starts.iter().any(|s| l.starts_with(s))
        })
        .collect()
}

const FORGERIES: &[&str] = &["sandbot_forged", "lines", "ERROR forged", "forged"];

#[test]
fn hostile_names_are_refused_and_forge_no_line_where_names_are_shown() {
    let port = free_port();
    let bot = BotDir::new(&["hello", "loudnoises"], "");
    // The shell's user and room are outside text too: a line break and
    // quotes in both.
    bot.write_config(&format!(
        "admins: ['shell:*']\nskills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {{user: \"mal\\nlory \\\"x\\\"}}\", room: \"ro\\\"om{{1}}\\nforged\"}}\nweb: {{port: {port}}}\n"
    ));
    for name in hostile() {
        bot.install("hello", &name);
    }
    let workflows = bot.path().join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let tasks = "tasks:\n  t:\n    action: loudnoises\n";
    std::fs::write(workflows.join("wf\"}\nforged.yaml"), tasks).unwrap();
    std::fs::write(workflows.join("fine.yaml"), tasks).unwrap();

    let mut run = bot.start();
    // The bot serves what is well named.
    assert_eq!(
        run.ask("LOUD NOISES"),
        "LOUD NOISES!!! WHY ARE WE SHOUTING?"
    );

    // `skills`: the two loaded, then each refused file as not loaded, a
    // line each, its name escaped.
    let skills = ask_all(&mut run, "skills");
    assert_eq!(skills.len(), 3 + hostile().len(), "{skills:?}");
    assert_eq!(skills[0], "2 skills:");
    assert!(skills[1].contains("hello 0.1.0") && skills[2].contains("loudnoises 0.1.0"));
    for line in &skills[3..] {
        assert!(line.contains("— ✗ not loaded: "), "{line}");
        assert!(line.contains("its file name is not a skill name"), "{line}");
    }
    assert!(
        skills
            .iter()
            .any(|l| l.contains(r#"two\nlines\r\nERROR forged — ✗ not loaded"#)),
        "{skills:#?}"
    );

    // `reload`: the summary, then one line per refused file, escaped.
    let report = ask_all(&mut run, "reload");
    assert_eq!(report.len(), 1 + hostile().len(), "{report:#?}");
    assert!(report[0].starts_with("reloaded 2 skills: "), "{report:?}");
    assert!(report[0].contains(r#"rw"} 1\nsandbot_forged_total{skill="x failed to load"#));
    for line in &report[1..] {
        assert!(line.starts_with("│ "), "{line}");
        assert!(line.contains("its file name is not a skill name"), "{line}");
    }
    assert!(
        report
            .iter()
            .any(|l| l.contains(r#"two\nlines\r\nERROR forged"#)),
        "{report:#?}"
    );
    let long = report
        .iter()
        .find(|l| l.starts_with("│ longlong"))
        .expect("the long name's line");
    assert!(long.contains(&format!("{}…", "long".repeat(20))), "{long}");
    assert!(long.contains("it is 240 bytes"), "{long}");

    // `history`: the user's and the room's line breaks stay escaped.
    let history = ask_all(&mut run, "history");
    assert_eq!(history[0], "The last run:", "{history:?}");
    assert_eq!(history.len(), 2, "{history:?}");
    // (However long it took: `ok (0 ms)` on a quiet machine.)
    assert!(
        history[1].contains(r#" ms)  mal\nlory "x"} shell:ro"om{1}\nforged  ["#),
        "{history:?}"
    );

    // `help` and `workflows`: the refused workflow is nowhere; reloading
    // the workflows names its file escaped, on one line.
    let help = ask_all(&mut run, "help");
    assert!(help.iter().all(|l| !l.contains("forged")), "{help:?}");
    let workflows = ask_all(&mut run, "workflow reload");
    assert_eq!(workflows.len(), 1, "{workflows:?}");
    assert!(
        workflows[0].contains(r#"wf"}\nforged.yaml: the file's name is not a workflow name"#),
        "{workflows:?}"
    );
    assert_eq!(ask_all(&mut run, "workflows").len(), 1);

    // `/metrics`: parses, and counts the refused files as failed loads.
    wait_for_port(port);
    let (status, text) = http(port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{text}");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    assert!(forged(&text, FORGERIES).is_empty(), "{text}");
    assert!(
        scrape.samples.iter().all(|s| !s.metric.contains("forged")),
        "{text}"
    );
    let failures = scrape
        .samples
        .iter()
        .find(|s| s.metric == "sandbot_skill_load_failures_total")
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        });
    // Counted at start and again at `reload`.
    assert_eq!(failures, Some(2.0 * hostile().len() as f64), "{text}");

    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");
    // The log: every refusal said, escaped, and no line forged.
    assert!(forged(&log, FORGERIES).is_empty(), "{log}");
    assert!(
        log.contains(r#"quote"name.wasm: its file name is not a skill name: it holds `"`"#),
        "{log}"
    );
    assert!(
        log.contains(r#"two\nlines\r\nERROR forged.wasm: its file name is not a skill name"#),
        "{log}"
    );
    assert!(
        log.contains(r#"wf"}\nforged.yaml: the file's name is not a workflow name"#),
        "{log}"
    );
}

#[test]
fn a_connector_whose_name_is_not_a_name_is_refused_at_start() {
    let bot = BotDir::new(&["hello"], "");
    bot.write_config(
        "skills-dir: skills\ndata-dir: data\nconnectors:\n  shell: {}\n  \"co\\\"nn\\nector\": {type: shell}\n",
    );
    let config = bot.config();
    let (status, _, stderr) = sandbot(&["start", "-c", config.to_str().unwrap()]);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"connectors.co"nn\nector: not a name: it holds `"`"#),
        "{stderr}"
    );
    assert!(forged(&stderr, &["ector"]).is_empty(), "{stderr}");
}
