//! Skills written in Python, JavaScript and C (example-skills/python/remember,
//! example-skills/js/table, example-skills/c/calc, built by `make lang-skills`),
//! each loaded by the real binary beside the Rust `hello`.

use crate::common::{BotDir, Running};
use std::time::Duration;

/// Python and JavaScript components take 7–13 s each to compile the first
/// time (C and Rust well under a second), more on a busy machine; after that
/// they load from the bot's compile cache.
const FIRST_LOAD: Duration = Duration::from_secs(240);

/// Starts the bot and waits until it answers `hello`, which it does once
/// every skill is loaded.
fn start(bot: &BotDir) -> Running {
    let mut run = bot.start();
    run.say("hello");
    let first = run.try_answer(FIRST_LOAD).unwrap_or_else(|| {
        panic!(
            "no answer to `hello` within {FIRST_LOAD:?}; log:\n{}",
            run.log()
        )
    });
    assert_eq!(first, "Hello alice", "log:\n{}", run.log());
    run
}

fn lines(run: &Running, n: usize) -> Vec<String> {
    (0..n).map(|_| run.answer()).collect()
}

/// Ends the run cleanly and returns what it printed last.
fn finish(run: Running) -> String {
    let (rest, status, log) = run.finish();
    assert!(status.success(), "exit: {status}; log:\n{log}");
    rest.join("\n")
}

#[test]
fn python_remember_keeps_facts_in_memory_across_restarts() {
    let bot = BotDir::new(
        &["hello", "remember"],
        "skills:\n  hello: {}\n  remember: {}\n",
    );
    let mut run = start(&bot);
    assert_eq!(
        run.ask("what is the wifi password?"),
        "I don't know what the wifi password is"
    );
    assert_eq!(
        run.ask("remember the wifi password is hunter2"),
        "OK, I'll remember the wifi password is hunter2"
    );
    assert_eq!(
        run.ask("What is the WiFi password?"),
        "the WiFi password is hunter2",
        "keys are case-insensitive"
    );
    assert_eq!(
        run.ask("remember the deploy day is Thursday"),
        "OK, I'll remember the deploy day is Thursday"
    );
    // New facts are told from known ones by compare-and-swap, and counted
    // by increment: saying one again does not count it twice.
    assert_eq!(
        run.ask("remember the deploy day is Thursday"),
        "OK, I'll remember the deploy day is Thursday"
    );
    assert_eq!(run.ask("how many facts?"), "I know 2 facts");
    run.say("help");
    let help = finish(run);
    for line in [
        "remember <thing> is <value> — I keep it in mind (remember)",
        "what is <thing>? — I tell you what I remember (remember)",
        "forget <thing> — I forget it (remember)",
        "how many facts? — how many things I remember (remember)",
    ] {
        assert!(help.contains(line), "`{line}` missing from:\n{help}");
    }

    // A new process: the facts come back from the database.
    let mut run = start(&bot);
    assert_eq!(
        run.ask("what is the wifi password"),
        "the wifi password is hunter2"
    );
    assert_eq!(
        run.ask("forget the wifi password"),
        "OK, I forgot the wifi password"
    );
    assert_eq!(
        run.ask("what is the wifi password?"),
        "I don't know what the wifi password is"
    );
    assert_eq!(
        run.ask("forget the wifi password"),
        "I didn't know anything about the wifi password"
    );
    assert_eq!(run.ask("how many facts"), "I know 1 fact");
    assert_eq!(
        run.ask("what is the deploy day"),
        "the deploy day is Thursday"
    );
    assert_eq!(finish(run), "");

    // And the deletion lasts too.
    let mut run = start(&bot);
    assert_eq!(
        run.ask("what is the wifi password?"),
        "I don't know what the wifi password is"
    );
    assert_eq!(
        run.ask("what is the deploy day?"),
        "the deploy day is Thursday"
    );
    assert_eq!(finish(run), "");
}

#[test]
fn javascript_table_formats_rows() {
    let bot = BotDir::new(&["hello", "table"], "skills:\n  hello: {}\n  table: {}\n");
    let mut run = start(&bot);

    run.say("table name,qty apples,3 kiwis,12");
    assert_eq!(
        lines(&run, 4),
        [
            "| name   | qty |",
            "│ |--------|----:|",
            "│ | apples |   3 |",
            "│ | kiwis  |  12 |",
        ],
        "numbers are right-aligned"
    );

    run.say("table city,country; New York,USA; Paris,France");
    assert_eq!(
        lines(&run, 4),
        [
            "| city     | country |",
            "│ |----------|---------|",
            "│ | New York | USA     |",
            "│ | Paris    | France  |",
        ],
        "`;` separates rows whose cells have spaces"
    );

    run.say("TABLE a,b,c 1 2,3");
    assert_eq!(
        lines(&run, 4),
        [
            "| a | b | c |",
            "│ |--:|--:|---|",
            "│ | 1 |   |   |",
            "│ | 2 | 3 |   |",
        ],
        "short rows are padded"
    );

    assert_eq!(
        run.ask("table"),
        "usage: table <header> <row> ... with cells separated by commas, \
         e.g. `table name,qty apples,3 kiwis,12` (separate rows with `;` if cells have spaces)"
    );
    // Counted by increment, the last header kept by a batch; the usage
    // answer is no table.
    assert_eq!(
        run.ask("tables made?"),
        "3 tables made, the last one headed a, b, c"
    );
    run.say("help");
    let help = finish(run);
    assert!(
        help.contains("table a,b c,d ... — I format the rows as a table (table)"),
        "{help}"
    );
}

#[test]
fn c_calc_evaluates_expressions_and_reports_errors() {
    let bot = BotDir::new(&["hello", "calc"], "skills:\n  hello: {}\n  calc: {}\n");
    let mut run = start(&bot);
    for (question, answer) in [
        ("calc 2*(3+4)", "14"),
        ("calc 7/2", "3.5"),
        ("calc 2^10 - 1", "1023"),
        ("calc -2^2", "-4"),
        ("calc 2^-1", "0.5"),
        ("calc (1+2)*(3+4)/7", "3"),
        ("calc 0.1 + 0.2", "0.3"),
        ("calc 10 % 4", "2"),
        ("calc 1.5e3", "1500"),
        ("CALC 6 * 7", "42"),
    ] {
        assert_eq!(run.ask(question), answer, "{question}");
    }
    // Errors are the skill's `err` result, which the bot shows to the user.
    for (question, answer) in [
        ("calc 1/0", "⚠ calc: division by zero"),
        ("calc 5 % 0", "⚠ calc: modulo by zero"),
        ("calc 2*(3+", "⚠ calc: expected a number at the end"),
        ("calc 2 3", "⚠ calc: unexpected character at `3` (column 3)"),
        ("calc 1e308 * 10", "⚠ calc: the result is too large"),
    ] {
        assert_eq!(run.ask(question), answer, "{question}");
    }
    assert_eq!(
        run.ask("calc 1+1"),
        "2",
        "an error does not break the skill"
    );
    // Counted by increment: the eleven that gave a result.
    assert_eq!(run.ask("calculations?"), "11 calculations so far");
    assert_eq!(run.ask("hi"), "Hi alice");
    run.say("help");
    let help = finish(run);
    assert!(
        help.contains("calc <expression> — I do the arithmetic, e.g. calc 2*(3+4) (calc)"),
        "{help}"
    );
}
