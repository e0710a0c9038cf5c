//! The real binary over a pipe, as a script would drive it.

use crate::common::BotDir;

const EXAMPLES: &[&str] = &["hello", "seen", "dance", "loudnoises"];
const EXAMPLE_CONFIG: &str = "skills:\n  hello: {}\n  seen: {}\n  dance: {}\n  loudnoises: {}\n";

#[test]
fn hello_answers_with_the_users_name() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut run = bot.start();
    assert_eq!(run.ask("hello"), "Hello alice");
    assert_eq!(run.ask("Hey"), "Hey alice");
    assert_eq!(
        run.ask("HALLO"),
        "Hallo alice",
        "hello is listed before loudnoises, so it wins the tie"
    );
    let (rest, status, log) = run.finish();
    assert!(status.success(), "exit: {status}; log:\n{log}");
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
}

#[test]
fn a_message_nothing_matches_gets_no_answer() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut run = bot.start();
    run.say("what is the weather on mars");
    run.say("hello");
    // The pipe is handled in order: had the first line been answered, its
    // answer would come before the greeting.
    assert_eq!(run.answer(), "Hello alice");
    let (rest, status, _) = run.finish();
    assert!(status.success());
    assert!(rest.is_empty(), "unexpected output: {rest:?}");
}

#[test]
fn loudnoises_shouts_back() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut run = bot.start();
    assert_eq!(
        run.ask("DEPLOY THE THING NOW!"),
        "DEPLOY THE THING NOW!!! WHY ARE WE SHOUTING?"
    );
    run.say("quiet please");
    assert_eq!(run.ask("hi"), "Hi alice");
}

#[test]
fn dance_answers_over_several_messages() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut run = bot.start();
    run.say("dance");
    let steps: Vec<String> = (0..4).map(|_| run.answer()).collect();
    assert_eq!(steps, [":D|-<", ":D/-<", ":D|-<", ":D\\-<"]);
}

#[test]
fn seen_remembers_across_a_restart() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut first = bot.start();
    assert_eq!(first.ask("hello"), "Hello alice");
    assert_eq!(first.ask("seen bob"), "I have not seen bob");
    let (_, status, log) = first.finish();
    assert!(status.success(), "log:\n{log}");

    let mut second = bot.start();
    assert_eq!(
        second.ask("seen alice"),
        "alice was last seen just now in shell"
    );
    assert!(bot.path().join("data/memory.db").is_file());
}

#[test]
fn help_lists_what_skills_declared() {
    let bot = BotDir::new(EXAMPLES, EXAMPLE_CONFIG);
    let mut run = bot.start();
    run.say("help");
    let (lines, _, _) = run.finish();
    let text = lines.join("\n");
    assert!(
        text.contains("seen <user> — when and where <user> last spoke (seen)"),
        "{text}"
    );
    assert!(
        text.contains("reload — reload every skill (admins only)"),
        "{text}"
    );
}
