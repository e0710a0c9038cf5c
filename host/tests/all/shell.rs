//! The real binary over a pipe, as a script would drive it (and once on a
//! pseudo-terminal, as a person would).

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

/// With `unmatched: suggest` (the tests' header) a line nothing takes and
/// that is no slip of a command gets no answer.
#[test]
fn a_message_nothing_matches_gets_no_answer_when_unmatched_says_suggest() {
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

/// On a terminal the bot says, once it is up, where its chat page is, which
/// connectors listen and to type `help`; with stderr not a terminal (a log
/// file, the journal) it does not.
#[test]
fn a_terminal_is_told_where_the_chat_page_is_and_to_type_help() {
    use std::io::Read;
    // Port 0: the system picks one, and the banner must say which.
    let bot = BotDir::with_connectors(
        &["hello"],
        "  websocket: {}\nweb:\n  host: 127.0.0.1\n  port: 0\n",
    );
    // `script` runs the bot on a pseudo-terminal and copies what it writes.
    let command = format!(
        "{} start -c {}",
        env!("CARGO_BIN_EXE_sandbot"),
        bot.config().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen.contains("Ctrl-C stops it") && std::time::Instant::now() < deadline {
        if let Ok(bytes) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let port = seen
        .split("chat page  http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split("/chat").next())
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or_else(|| panic!("no chat page with its port on the terminal:\n{seen}"));
    for line in [
        "sandbot is up: 1 skill; connectors: shell, websocket",
        &format!("status     http://127.0.0.1:{port}/"),
        "type `help` at the prompt or on the chat page",
    ] {
        assert!(seen.contains(line), "no `{line}` on the terminal:\n{seen}");
    }

    let mut piped = bot.start();
    assert!(piped.ask("hello").contains("Hello"));
    assert!(
        !piped.log().contains("sandbot is up"),
        "the banner went to a pipe: {}",
        piped.log()
    );
}

/// The bot's name in front of a line is taken off (`sandbot: hello`,
/// `@sandbot hello`); a line said to the bot that nothing takes is never
/// met with silence: a likely slip gets the nearest command, anything else
/// a pointer to `help`; `unmatched: silent` turns that off.
#[test]
fn the_bots_name_is_taken_off_and_nothing_said_to_it_goes_unanswered() {
    let bot = BotDir::new(&["hello"], "");
    bot.write_config(
        "admins: [alice]\nconnectors:\n  shell: {bot-name: sandbot}\nskills-dir: skills\ndata-dir: data\nskills:\n  hello: {}\n",
    );
    let mut run = bot.start();
    assert_eq!(run.ask("sandbot: hello"), "Hello alice");
    assert_eq!(run.ask("@sandbot hello"), "Hello alice");
    assert_eq!(run.ask("SANDBOT, hello"), "Hello alice");
    assert_eq!(
        run.ask("frobnicate the widget now please"),
        "I don't know `frobnicate the widget`. Say `help` for what I can do."
    );
    let slip = run.ask("hepl");
    assert!(slip.contains("`help"), "a slip gets the nearest: {slip}");
    let (_, status, log) = run.finish();
    assert!(status.success(), "{log}");

    bot.write_config(
        "admins: [alice]\nunmatched: silent\nconnectors:\n  shell: {}\nskills-dir: skills\ndata-dir: data\nskills:\n  hello: {}\n",
    );
    let mut run = bot.start();
    run.say("frobnicate the widget");
    assert_eq!(
        run.ask("hello"),
        "Hello alice",
        "nothing answered the first line"
    );
}
