//! The web chat page in a real headless Chromium (Debian's `chromium`,
//! driven through `chromedriver` by WebDriver): open it, say hello, see the
//! answer; stop the bot and start it again, see the page notice, reconnect
//! and answer again. Screenshots are kept in `target/test-artifacts/`.

use crate::common::{BotDir, Running, free_port, wait_for_port};
use crate::webdriver::Session;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver and the browsers it starts, in a process group of their
/// own: killed together when the test ends, so a test that fails before it
/// closes its session leaves no Chromium behind (killing chromedriver alone
/// did).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on a process group this test made.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> (Driver, u16) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = Command::new("chromedriver")
        .process_group(0)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is not installed: `make test` installs it (host/tests/servers.sh)");
    wait_for_port(port);
    (Driver(child), port)
}

async fn browser(driver_port: u16, profile: &std::path::Path) -> Session {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=900,700",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    Session::start(&format!("http://127.0.0.1:{driver_port}"), caps)
        .await
        .expect("starting headless chromium")
}

/// Waits until `script` (a JS expression) is true in the page.
async fn until(page: &Session, what: &str, script: &str) {
    for _ in 0..400 {
        let v = page.execute(&format!("return ({script});")).await.unwrap();
        if v.as_bool() == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = page
        .execute("return document.body.innerText;")
        .await
        .unwrap();
    panic!("the page never showed {what}; it shows:\n{state}");
}

async fn ask(page: &Session, text: &str) {
    let input = page.find("#text").await.unwrap();
    input.send_keys(&format!("{text}\n")).await.unwrap();
}

const BOT_SAID: &str = "[...document.querySelectorAll('.row.bot .bubble')].map(b => b.textContent)";

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_talks_and_reconnects_after_a_restart() {
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["hello", "dance"],
        &format!("  websocket: {{bot-name: sandbot}}\nweb: {{port: {port}}}\n"),
    );
    let run = Running::start(&bot.config(), &[]);
    wait_for_port(port);
    let (_driver, driver_port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let page = browser(driver_port, profile.path()).await;
    page.goto(&format!("http://127.0.0.1:{port}/chat"))
        .await
        .unwrap();
    until(
        &page,
        "that it is online",
        "document.getElementById('state').textContent === 'online'",
    )
    .await;

    ask(&page, "hello").await;
    until(
        &page,
        "the greeting",
        &format!("{BOT_SAID}.some(t => t.startsWith('Hello guest-'))"),
    )
    .await;
    ask(&page, "help").await;
    until(
        &page,
        "the multi-line help",
        &format!(
            "{BOT_SAID}.some(t => t.startsWith('I answer to:\\n') && t.includes('help [word] — '))"
        ),
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("chat.png"), &shot).unwrap();

    // The bot goes away: the page says so, and comes back when it does.
    drop(run);
    until(
        &page,
        "that it is offline",
        "document.getElementById('state').className === 'offline'",
    )
    .await;
    let run = Running::start(&bot.config(), &[]);
    wait_for_port(port);
    until(
        &page,
        "that it is online again",
        "document.getElementById('state').textContent === 'online'",
    )
    .await;
    until(
        &page,
        "the reconnection",
        "document.body.innerText.includes('reconnected')",
    )
    .await;
    ask(&page, "hi").await;
    until(
        &page,
        "an answer after the restart",
        &format!("{BOT_SAID}.some(t => t.startsWith('Hi guest-'))"),
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("chat-reconnected.png"), &shot).unwrap();
    page.close().await.unwrap();
    drop(run);
}

/// The page knows who you are and what was said: a name you pick is kept
/// in the browser and is your identity across reconnects (`history` after a
/// reload still shows your earlier run), the conversation comes back after a
/// reload, every message has its time; a connector that wants a token gets
/// a field for it, with the server's reason, instead of retrying forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_who_you_are_and_what_was_said_and_asks_for_a_token() {
    let port = free_port();
    let bot = BotDir::with_connectors(
        &["hello"],
        &format!(
            "  websocket: {{bot-name: sandbot}}\nweb: {{port: {port}}}\nhistory: {{max-age: 1d}}\n"
        ),
    );
    let run = Running::start(&bot.config(), &[]);
    wait_for_port(port);
    let (_driver, driver_port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let page = browser(driver_port, profile.path()).await;
    let url = format!("http://127.0.0.1:{port}/chat");
    page.goto(&url).await.unwrap();
    let online = "document.getElementById('state').textContent === 'online'";
    until(&page, "that it is online", online).await;
    page.execute(
        "const n = document.getElementById('name'); n.value = 'ada'; \
         n.dispatchEvent(new Event('change')); return true;",
    )
    .await
    .unwrap();
    ask(&page, "hello").await;
    until(
        &page,
        "the greeting",
        &format!("{BOT_SAID}.includes('Hello ada')"),
    )
    .await;
    until(
        &page,
        "a time beside each message",
        "[...document.querySelectorAll('.row .at')].length >= 2 && \
         [...document.querySelectorAll('.row .at')].every(t => /^\\d\\d:\\d\\d$/.test(t.textContent))",
    )
    .await;

    // A reload: the same name, the conversation back, the same identity.
    page.goto(&url).await.unwrap();
    until(&page, "that it is online after the reload", online).await;
    until(
        &page,
        "the earlier conversation",
        &format!("{BOT_SAID}.includes('Hello ada')"),
    )
    .await;
    let picked = page
        .execute("return document.getElementById('name').value;")
        .await
        .unwrap();
    assert_eq!(picked, "ada");
    ask(&page, "history").await;
    until(
        &page,
        "the run from before the reload, as ada's own",
        &format!("{BOT_SAID}.some(t => t.startsWith('The last run:') && t.includes('hello 0.1.0/greet') && t.includes('~ada websocket:'))"),
    )
    .await;
    drop(run);

    // With a token: the reason and a field, then the conversation.
    bot.write_config(&std::fs::read_to_string(bot.config()).unwrap().replace(
        "websocket: {bot-name: sandbot}",
        "websocket: {bot-name: sandbot, token: s3cret}",
    ));
    let run = Running::start(&bot.config(), &[]);
    wait_for_port(port);
    page.goto(&url).await.unwrap();
    until(
        &page,
        "the reason and the token field",
        "!document.getElementById('auth').hidden && \
         document.getElementById('why').textContent.includes('a valid token is needed') && \
         document.getElementById('state').textContent === 'needs a token'",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("chat-token.png"), &shot).unwrap();
    let field = page.find("#token").await.unwrap();
    field.send_keys("s3cret\n").await.unwrap();
    until(&page, "that it is online with the token", online).await;
    ask(&page, "hi").await;
    until(
        &page,
        "an answer",
        &format!("{BOT_SAID}.includes('Hi ada')"),
    )
    .await;
    page.close().await.unwrap();
    drop(run);
}

/// The operator's console in the browser: log in with the keyboard, see a
/// skill that failed to load with its error, upload a new one and approve
/// it after reading its grants, hear it in the chat page, turn it and
/// another off, find executions by a filter and open one, approve a
/// workflow's step from its run's graph, see the configuration, log out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_turns_a_skill_off_and_finds_its_executions() {
    let port = free_port();
    let bot = BotDir::new(&["hello", "seen", "ci"], "");
    // console:carol is among chat's admins: she answers approvals.
    bot.write_config(&format!(
        "admins: [alice, 'console:carol']\nconnectors:\n  shell: {{}}\n  websocket: {{bot-name: sandbot}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\nunmatched: suggest\n"
    ));
    std::fs::create_dir_all(bot.path().join("workflows")).unwrap();
    std::fs::copy(
        std::path::Path::new(sandbot_test_skills::WORKSPACE)
            .join("example-skills/workflows/deploy.yaml"),
        bot.path().join("workflows/deploy.yaml"),
    )
    .unwrap();
    bot.install_truncated("hello", "broken", 100);
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(["admin", "add", "carol", "--role", "admin", "-c"])
        .arg(bot.config())
        .env("SANDBOT_PASSWORD", "carol's long password")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut run = Running::start(&bot.config(), &[]);
    wait_for_port(port);
    assert_eq!(run.ask("hello"), "Hello alice");
    // What a user wrote (`seen` hears every line) is shown as text, never
    // as markup.
    run.say("look <img src=x onerror=alert(1)>");

    let (_driver, driver_port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let page = browser(driver_port, profile.path()).await;
    page.goto(&format!("http://127.0.0.1:{port}/console"))
        .await
        .unwrap();
    until(
        &page,
        "the login form",
        "!document.getElementById('login').hidden",
    )
    .await;
    page.find("#name")
        .await
        .unwrap()
        .send_keys("carol")
        .await
        .unwrap();
    let password = page.find("#password").await.unwrap();
    password.send_keys("not it\n").await.unwrap();
    until(
        &page,
        "the refusal",
        "document.getElementById('status').textContent === 'wrong name or password'",
    )
    .await;
    page.execute("document.getElementById('password').value = '';")
        .await
        .unwrap();
    password.send_keys("carol's long password\n").await.unwrap();
    const ROW: &str =
        "(name) => document.querySelector(`#skill-rows tr[data-skill='${name}'] .state`)";
    until(
        &page,
        "hello serving",
        &format!("({ROW})('hello')?.textContent === 'serving'"),
    )
    .await;
    until(
        &page,
        "the skill that did not load, with why",
        &format!("({ROW})('broken')?.textContent.startsWith('failed: ')"),
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-skills.png"), &shot).unwrap();

    // A new skill: uploaded, shown with what it may do, approved; it
    // answers in the chat page; then turned off.
    let dance = crate::common::skill_wasm("dance");
    page.find("#upload-file")
        .await
        .unwrap()
        .send_keys(dance.to_str().unwrap())
        .await
        .unwrap();
    page.execute("document.querySelector('#upload button[type=submit]').click();")
        .await
        .unwrap();
    until(
        &page,
        "the upload's manifest and grants",
        "!document.getElementById('preview').hidden && \
         document.getElementById('preview-title').textContent === 'dance 0.1.0, waiting for approval' && \
         [...document.querySelectorAll('#preview-matchers li')].map(l => l.textContent).join() === 'dance — I dance' && \
         [...document.querySelectorAll('#preview-grants li')].some(l => l.textContent === 'no network')",
    )
    .await;
    page.execute("document.getElementById('preview').scrollIntoView();")
        .await
        .unwrap();
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-upload.png"), &shot).unwrap();
    page.execute("document.getElementById('approve-upload').click();")
        .await
        .unwrap();
    until(
        &page,
        "dance serving",
        &format!("({ROW})('dance')?.textContent === 'serving'"),
    )
    .await;
    assert!(bot.skill_path("dance").exists());
    page.goto(&format!("http://127.0.0.1:{port}/chat"))
        .await
        .unwrap();
    until(
        &page,
        "the chat page online",
        "document.getElementById('state').textContent === 'online'",
    )
    .await;
    ask(&page, "dance").await;
    until(
        &page,
        "the new skill's dance",
        &format!("{BOT_SAID}.includes(':D|-<')"),
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-upload-chat.png"), &shot).unwrap();
    page.goto(&format!("http://127.0.0.1:{port}/console"))
        .await
        .unwrap();
    until(
        &page,
        "dance serving, the session kept",
        &format!("({ROW})('dance')?.textContent === 'serving'"),
    )
    .await;
    page.execute("document.querySelector(\"button[aria-label='Disable dance']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "dance disabled",
        &format!("({ROW})('dance')?.textContent === 'disabled'"),
    )
    .await;

    page.execute("document.querySelector(\"button[aria-label='Disable hello']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "hello disabled",
        &format!("({ROW})('hello')?.textContent === 'disabled'"),
    )
    .await;
    assert_eq!(run.ask("skills"), "4 skills:");
    let lines = run.answers(5);
    assert!(
        lines.iter().any(|l| l.contains("hello 0.1.0 — disabled")),
        "{lines:?}"
    );

    page.execute("document.querySelector(\".tab[data-page='executions']\").click();")
        .await
        .unwrap();
    page.find("#f-skill")
        .await
        .unwrap()
        .send_keys("hello\n")
        .await
        .unwrap();
    const SAID: &str = "JSON.stringify([...document.querySelectorAll('#execution-rows tr')].map(r => r.children[3].textContent))";
    until(
        &page,
        "hello's execution",
        &format!("{SAID} === JSON.stringify(['hello'])"),
    )
    .await;
    page.execute("document.getElementById('f-skill').value = '';")
        .await
        .unwrap();
    page.find("#f-text")
        .await
        .unwrap()
        .send_keys("onerror\n")
        .await
        .unwrap();
    until(
        &page,
        "the line with markup, as text",
        &format!("{SAID} === JSON.stringify(['look <img src=x onerror=alert(1)>'])"),
    )
    .await;
    assert_eq!(
        page.execute("return document.querySelectorAll('#execution-rows img').length;")
            .await
            .unwrap(),
        serde_json::json!(0)
    );
    page.execute("document.getElementById('f-text').value = '';")
        .await
        .unwrap();
    page.find("#f-skill")
        .await
        .unwrap()
        .send_keys("hello\n")
        .await
        .unwrap();
    until(
        &page,
        "hello's execution again",
        &format!("{SAID} === JSON.stringify(['hello'])"),
    )
    .await;
    page.execute("document.querySelector('#execution-rows tr:last-child').click();")
        .await
        .unwrap();
    until(
        &page,
        "the execution's detail",
        "document.getElementById('detail').textContent.includes('Hello alice')",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-executions.png"), &shot).unwrap();
    // The list follows the history while shown: a line said in chat (`seen`
    // hears it) appears as a row, the page not reloaded.
    page.execute("window.notReloaded = true; document.getElementById('f-skill').value = '';")
        .await
        .unwrap();
    page.find("#f-text")
        .await
        .unwrap()
        .send_keys("live-row-probe\n")
        .await
        .unwrap();
    until(&page, "no row yet", &format!("{SAID} === '[]'")).await;
    run.say("live-row-probe from chat");
    until(
        &page,
        "the new execution's row, without a reload",
        &format!(
            "{SAID} === JSON.stringify(['live-row-probe from chat']) && window.notReloaded === true"
        ),
    )
    .await;
    page.execute("document.getElementById('f-text').value = '';")
        .await
        .unwrap();

    // A workflow waits for an approval: its graph, and Approve.
    assert_eq!(run.ask("release web to prod"), "▶ deploy #1 started.");
    assert!(run.answer().starts_with("❓ Deploy web 1.1.0 to prod?"));
    page.execute("document.querySelector(\".tab[data-page='workflows']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "run #1 waiting for its approval",
        "document.querySelector(\"#run-rows tr[data-run='1']\")?.children[3].textContent === 'approval'",
    )
    .await;
    page.execute("document.querySelector(\"#run-rows tr[data-run='1']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "the run's graph with the approval waiting",
        "document.querySelector(\"#run-graph li[data-task='approval'] > span:not(.when)\")?.textContent === 'approval: waiting for approval'",
    )
    .await;
    page.execute("document.getElementById('run').scrollIntoView();")
        .await
        .unwrap();
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-workflows.png"), &shot).unwrap();
    page.execute(
        "document.querySelector(\"button[aria-label='Approve approval of #1']\").click();",
    )
    .await
    .unwrap();
    until(
        &page,
        "the approval said",
        "document.getElementById('status').textContent === '👍 console:carol approved #1 (approval).'",
    )
    .await;
    assert_eq!(
        run.answer(),
        "✅ deploy #1 succeeded: version=1.1.0, url=https://prod.example/web"
    );
    // Followed while it runs: the page sees it end without a click.
    until(
        &page,
        "the run succeeded",
        "document.getElementById('run-title').textContent === '#1 deploy: succeeded'",
    )
    .await;

    // The run in the executions: its tasks under it, each opening in turn.
    page.execute("document.querySelector(\".tab[data-page='executions']\").click();")
        .await
        .unwrap();
    page.execute("document.getElementById('f-text').value = ''; document.getElementById('f-skill').value = '';")
        .await
        .unwrap();
    page.find("#f-skill")
        .await
        .unwrap()
        .send_keys("deploy\n")
        .await
        .unwrap();
    until(
        &page,
        "the run's execution",
        "document.querySelector(\"#execution-rows tr[data-id='wf-1']\") !== null",
    )
    .await;
    page.execute("document.querySelector(\"#execution-rows tr[data-id='wf-1']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "the run's tasks under it",
        "document.querySelector(\"#detail-tree button[data-id='wf-1.approval']\")?.textContent.startsWith('wf-1.approval approve')",
    )
    .await;
    page.execute(
        "document.querySelector(\"#detail-tree button[data-id='wf-1.approval']\").click();",
    )
    .await
    .unwrap();
    until(
        &page,
        "the approval's own execution, with its way back up",
        "document.getElementById('detail').textContent.includes('\"id\": \"wf-1.approval\"') && \
         document.querySelector('#detail-tree li button')?.textContent === '↑ wf-1'",
    )
    .await;

    // The configuration in effect, from its file, secrets masked.
    page.execute("document.querySelector(\".tab[data-page='configuration']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "the configuration in effect",
        "document.getElementById('config-yaml').textContent.includes('console:carol')",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-configuration.png"), &shot).unwrap();

    page.execute("document.querySelector(\".tab[data-page='connectors']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "the shell connector",
        "document.querySelector('#connector-rows tr td')?.textContent === 'shell'",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-connectors.png"), &shot).unwrap();
    // The log, by skill: the console's lines, the wrong password among them.
    page.execute("document.querySelector(\".tab[data-page='log']\").click();")
        .await
        .unwrap();
    page.find("#l-skill")
        .await
        .unwrap()
        .send_keys("console\n")
        .await
        .unwrap();
    until(
        &page,
        "the console's log lines",
        "[...document.querySelectorAll('#log-lines li')].some(l => l.textContent.includes('wrong name or password'))",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-log.png"), &shot).unwrap();
    // Users: carol (an admin) adds dora, and makes her an operator.
    page.execute("document.querySelector(\".tab[data-page='users']\").click();")
        .await
        .unwrap();
    until(
        &page,
        "carol's own row",
        "document.querySelector(\"#user-rows tr[data-user='carol']\")?.children[0].textContent === 'carol (you)'",
    )
    .await;
    page.find("#new-name")
        .await
        .unwrap()
        .send_keys("dora")
        .await
        .unwrap();
    page.find("#new-password")
        .await
        .unwrap()
        .send_keys("dora's long password\n")
        .await
        .unwrap();
    const DORA: &str = "document.querySelector(\"#user-rows tr[data-user='dora'] select\")";
    until(
        &page,
        "dora, a viewer",
        &format!("{DORA}?.value === 'viewer'"),
    )
    .await;
    page.execute(&format!(
        "const s = {DORA}; s.value = 'operator'; s.dispatchEvent(new Event('change'));"
    ))
    .await
    .unwrap();
    until(
        &page,
        "dora, an operator",
        "document.getElementById('status').textContent === 'dora is now operator.'",
    )
    .await;
    until(
        &page,
        "dora's row again",
        &format!("{DORA}?.value === 'operator'"),
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-users.png"), &shot).unwrap();
    // A command, as in chat, from console:carol.
    page.execute("document.querySelector(\".tab[data-page='commands']\").click();")
        .await
        .unwrap();
    page.find("#command")
        .await
        .unwrap()
        .send_keys("help\n")
        .await
        .unwrap();
    until(
        &page,
        "the bot's help, as text",
        "[...document.querySelectorAll('#answers pre')].some(p => p.textContent.startsWith('I answer to:\\n'))",
    )
    .await;
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-commands.png"), &shot).unwrap();
    page.execute("document.getElementById('logout').click();")
        .await
        .unwrap();
    until(
        &page,
        "the login form again",
        "!document.getElementById('login').hidden && document.getElementById('console').hidden",
    )
    .await;
    page.close().await.unwrap();
}

/// An admin installs a skill from a registry on the console's Skills page:
/// a reference checked, what it asks for shown, Approve; the skill answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_installs_a_skill_from_a_registry_on_the_skills_page() {
    use crate::registry::{Author, Registry};
    let registry = Registry::start();
    let author = Author::new();
    let port = free_port();
    let bot = BotDir::new(&[], "");
    bot.write_config(&format!(
        "admins: [alice, 'console:carol']\nconnectors:\n  shell: {{}}\nskills-dir: skills\ndata-dir: data\nweb: {{port: {port}}}\nconsole: {{}}\ntrust:\n  keys: [{}]\nregistries:\n  \"{}\": {{}}\n",
        author.public(),
        registry.host()
    ));
    let reference = format!("{}/skills/hello:1.0", registry.host());
    let wasm = author.skill("hello", "hello", "send: [\"shell:#alerts\"]\n");
    author.push(&bot, &reference, &wasm, Some(&author.key()));
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(["admin", "add", "carol", "--role", "admin", "-c"])
        .arg(bot.config())
        .env("SANDBOT_PASSWORD", "carol's long password")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut run = Running::start(&bot.config(), &[]);
    wait_for_port(port);

    let (_driver, driver_port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let page = browser(driver_port, profile.path()).await;
    page.goto(&format!("http://127.0.0.1:{port}/console"))
        .await
        .unwrap();
    until(
        &page,
        "the login form",
        "!document.getElementById('login').hidden",
    )
    .await;
    page.find("#name")
        .await
        .unwrap()
        .send_keys("carol")
        .await
        .unwrap();
    page.find("#password")
        .await
        .unwrap()
        .send_keys("carol's long password\n")
        .await
        .unwrap();
    until(
        &page,
        "the Install section",
        "document.getElementById('install')?.hidden === false",
    )
    .await;
    page.find("#install-reference")
        .await
        .unwrap()
        .send_keys(&format!("{reference}\n"))
        .await
        .unwrap();
    until(
        &page,
        "what the skill asks for",
        "!document.getElementById('install-staged').hidden && document.getElementById('install-details').textContent.includes('send to shell:#alerts')",
    )
    .await;
    let details = page
        .execute("return document.getElementById('install-details').textContent;")
        .await
        .unwrap();
    let details = details.as_str().unwrap();
    assert!(details.contains("hello 0.1.0"), "{details}");
    assert!(details.contains(&author.public()), "{details}");
    assert!(!bot.skill_path("hello").exists(), "nothing before Approve");
    let shot = page.screenshot().await.unwrap();
    std::fs::write(artifacts().join("console-install.png"), &shot).unwrap();

    page.execute("document.getElementById('install-approve').click();")
        .await
        .unwrap();
    until(
        &page,
        "the install done and hello listed",
        "document.getElementById('status').textContent.startsWith('Installed hello') && document.querySelector(\"#skill-rows tr[data-skill='hello'] .state\")?.textContent === 'serving'",
    )
    .await;
    assert_eq!(run.ask("hello"), "Hello alice");
}
