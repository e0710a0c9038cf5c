//! The `sandbot` command line: `start`, `config validate`,
//! `skill new|build|toolchain|test|push|install|keygen` and `admin add|remove|list|token|tokens|revoke`.
//! Everything else lives in the library; this file only parses arguments.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sandbot::authoring::Lang;
use sandbot::config::{self, Config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A ChatOps bot whose skills are sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "sandbot", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the bot.
    Start {
        /// The configuration file [default: the first found of ./configuration.yaml,
        /// ~/.local/share/sandbot/configuration.yaml, /etc/sandbot/configuration.yaml]
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write, build, test and publish skills.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// The hosts of a bot on a NATS bus.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The console's operator accounts (`console:` in the configuration).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make an operator account. The password is read from
    /// $SANDBOT_PASSWORD, else from the first line of standard input.
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: sandbot::console::Role,
        /// Change the account if it exists (its role and password).
        #[arg(long)]
        replace: bool,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Remove an account; its sessions end at their next request.
    Remove {
        name: String,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Link a chat identity (`slack:U024BE7LH`, as messages carry it) to
    /// account NAME: linked to an admin, it is an admin in chat too.
    Link {
        name: String,
        identity: String,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Unlink a chat identity from its account.
    Unlink {
        identity: String,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// List the accounts, their roles and linked identities.
    List {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Make an API token for scripts, acting as account NAME with ROLE (or
    /// the account's role, if lower). Printed once; kept only hashed.
    Token {
        name: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: sandbot::console::Role,
        /// What the token is for, shown by `admin tokens`.
        #[arg(long, default_value = "")]
        note: String,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// List the API tokens (never their secrets).
    Tokens {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Revoke an API token by its id.
    Revoke {
        id: String,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Print each host (roles, bus state, leases, events in flight) and
    /// the work stream's lag.
    Status {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SkillCommand {
    /// Start a skill project (source, WIT, build set-up, a test) in ./NAME.
    New {
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: Lang,
        /// The skill's name: lower-case letters, digits and `-`.
        name: String,
        /// Create it in this folder instead of the current one.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A checkout of the Rust SDK (skills-sdk/) to depend on [default: a copy
        /// of the SDK this bot was built with, written into the project].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the skill project in DIR (default: here) into DIR/NAME.wasm.
    Build {
        dir: Option<PathBuf>,
        /// Also copy the component into this skills folder.
        #[arg(long)]
        install: Option<PathBuf>,
    },
    /// Install the toolchain `skill build` uses for LANG (done on its first
    /// build otherwise) and say where it is.
    Toolchain {
        #[arg(value_enum)]
        lang: Lang,
    },
    /// Run a conversation script (CASES.yaml) against a skill; exits
    /// non-zero if a case fails.
    Test { skill: PathBuf, cases: PathBuf },
    /// Push a built skill to an OCI registry as a Wasm artifact, with what
    /// it asks for (REQUESTS, default: requests.yaml beside the .wasm);
    /// `--sign KEY` signs it in cosign's format.
    Push {
        /// Where: HOST[:PORT]/NAME:TAG (plain HTTP only to loopback).
        reference: String,
        /// The `.wasm` file.
        skill: PathBuf,
        /// A P-256 private key: PKCS#8 (`sandbot skill keygen`), or cosign's
        /// encrypted `cosign.key` with its password in COSIGN_PASSWORD.
        #[arg(long)]
        sign: Option<PathBuf>,
        /// A YAML file of what the skill asks for: http, send, secrets, memory.
        #[arg(long)]
        requests: Option<PathBuf>,
        /// For `registries:` (credentials) [default: the usual search, if any].
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Install a skill from an OCI registry: resolve its tag to a digest,
    /// pull, check digests and signature (`trust.keys`), show what it asks
    /// for, and on yes write the skills folder's file, a configuration
    /// entry granting that (pinned by sha256) and skills.lock.
    Install {
        /// HOST[:PORT]/NAME[:TAG] or HOST[:PORT]/NAME@sha256:DIGEST.
        #[arg(required_unless_present = "locked")]
        reference: Option<String>,
        /// Install every skill of the lock file (skills.lock beside the
        /// configuration, or --lock), each by its digest.
        #[arg(long, conflicts_with = "reference")]
        locked: bool,
        /// The lock file for --locked.
        #[arg(long, requires = "locked")]
        lock: Option<PathBuf>,
        /// Approve what it asks for without asking.
        #[arg(long)]
        yes: bool,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Update a skill installed from a registry to what its tag names now:
    /// shows the new digest and the grants added or removed, and switches
    /// on yes (the entry's other keys stay).
    Update {
        name: String,
        /// Approve the change without asking.
        #[arg(long)]
        yes: bool,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Write a new signing key pair: PREFIX.key (private, PKCS#8, mode
    /// 0600) and PREFIX.pub (public, for `trust.keys` and `cosign verify --key`).
    Keygen { prefix: PathBuf },
    /// Put a built skill in the bus's object store: every host of the bot
    /// (`bus: {type: nats}`) loads it.
    Publish {
        /// The `.wasm` file.
        skill: PathBuf,
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration file; exits non-zero if it has mistakes.
    Validate {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

/// The configuration written for a first start without one, as opsdroid does.
const DEFAULT_CONFIG: &str = include_str!("../../configuration.yaml");

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start { config } => start(config.as_deref()),
        Command::Config(ConfigCommand::Validate { config }) => validate(config.as_deref()),
        Command::Skill(command) => skill(command),
        Command::Admin(command) => admin(command),
        Command::Cluster(ClusterCommand::Status { config }) => {
            on_the_bus(config.as_deref(), |cluster| async move {
                print!(
                    "{}",
                    sandbot::nats::hosts::print_status(&cluster.settings).await?
                );
                Ok(())
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn admin(command: AdminCommand) -> Result<()> {
    use sandbot::console::Accounts;
    let (AdminCommand::Add { config, .. }
    | AdminCommand::Remove { config, .. }
    | AdminCommand::List { config }
    | AdminCommand::Link { config, .. }
    | AdminCommand::Unlink { config, .. }
    | AdminCommand::Token { config, .. }
    | AdminCommand::Tokens { config }
    | AdminCommand::Revoke { config, .. }) = &command;
    let config = read_config(config.as_deref())?;
    let accounts = Accounts::open(&config.console_path())?;
    match command {
        AdminCommand::Add {
            name,
            role,
            replace,
            ..
        } => {
            let password = read_password()?;
            accounts.add(&name, role, &password, replace)?;
            println!("{name} is {} of the console", role.as_str());
        }
        AdminCommand::Remove { name, .. } => {
            if !accounts.remove(&name)? {
                anyhow::bail!("there is no account `{name}`");
            }
            println!("{name} removed");
        }
        AdminCommand::List { .. } => {
            for account in accounts.list()? {
                let links = accounts.links_of(&account.name)?;
                if links.is_empty() {
                    println!("{}\t{}", account.name, account.role.as_str());
                } else {
                    println!(
                        "{}\t{}\t{}",
                        account.name,
                        account.role.as_str(),
                        links.join(",")
                    );
                }
            }
        }
        AdminCommand::Link { name, identity, .. } => {
            accounts.link(&name, &identity)?;
            println!("{identity} is {name}'s");
        }
        AdminCommand::Unlink { identity, .. } => {
            if !accounts.unlink(&identity)? {
                anyhow::bail!("`{identity}` is not linked to an account");
            }
            println!("{identity} unlinked");
        }
        AdminCommand::Token {
            name, role, note, ..
        } => {
            let (id, token) = accounts.issue_token(&name, role, &note)?;
            eprintln!(
                "token {id} for {name} ({}); it is not shown again:",
                role.as_str()
            );
            println!("{token}");
        }
        AdminCommand::Tokens { .. } => {
            for t in accounts.tokens()? {
                let state = if t.revoked { "revoked" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.account,
                    t.role.as_str(),
                    state,
                    t.note
                );
            }
        }
        AdminCommand::Revoke { id, .. } => {
            if !accounts.revoke_token(&id)? {
                anyhow::bail!("there is no token `{id}`");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// $SANDBOT_PASSWORD, else a line of standard input (not echoed on a
/// terminal).
fn read_password() -> Result<String> {
    use std::io::IsTerminal;
    if let Ok(password) = std::env::var("SANDBOT_PASSWORD") {
        return Ok(password);
    }
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        eprint!("password: ");
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if terminal {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn read_config(explicit: Option<&Path>) -> Result<Config> {
    let path = match config::locate(explicit) {
        Some(path) => path,
        None => {
            let path = config::default_data_dir().join("configuration.yaml");
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, DEFAULT_CONFIG)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "No configuration found ({}); wrote an example to {}",
                config::SEARCH_ORDER_HELP,
                path.display()
            );
            path
        }
    };
    Ok(config::load(&path)?)
}

/// Runs `f` with a connection to the NATS bus the configuration names.
fn on_the_bus<F, Fut>(explicit: Option<&Path>, f: F) -> Result<()>
where
    F: FnOnce(sandbot::nats::Cluster) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let config = read_config(explicit)?;
    let config::BusSettings::Nats(settings) = &config.bus else {
        anyhow::bail!(
            "the configuration has no `bus: {{type: nats, ...}}`: this bot runs on one host"
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let cluster = sandbot::nats::Cluster::connect(settings).await?;
        f(cluster).await
    })
}

fn start(explicit: Option<&Path>) -> Result<()> {
    let config = read_config(explicit)?;
    sandbot::logging::init(&config.logging)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sandbot")
        .build()
        .context("starting the async runtime")?;
    let app = runtime.block_on(async {
        let mut app = sandbot::app::App::start(config).await?;
        app.run().await?;
        anyhow::Ok(app)
    })?;
    // Every answer is written and every memory write committed by now.
    // Tearing down thousands of compiled skills (their unwind information
    // is deregistered one by one) would only delay the exit.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::mem::forget(app);
    std::process::exit(0)
}

fn validate(explicit: Option<&Path>) -> Result<()> {
    let path = config::locate(explicit).with_context(|| {
        format!(
            "no configuration file found (looked for {})",
            config::SEARCH_ORDER_HELP
        )
    })?;
    let verdict = sandbot::validate::validate(&path)?;
    for e in &verdict.errors {
        eprintln!("error: {e}");
    }
    if let Some(summary) = &verdict.summary {
        println!("{}: {summary}", path.display());
    }
    for note in &verdict.notes {
        println!("note: {note}");
    }
    match verdict.errors.len() {
        0 => Ok(()),
        1 => anyhow::bail!("{}: 1 mistake", path.display()),
        n => anyhow::bail!("{}: {n} mistakes", path.display()),
    }
}

fn skill(command: SkillCommand) -> Result<()> {
    match command {
        SkillCommand::Push {
            reference,
            skill,
            sign,
            requests,
            config,
        } => registry_push(
            &reference,
            &skill,
            sign.as_deref(),
            requests.as_deref(),
            config.as_deref(),
        ),
        SkillCommand::Install {
            reference,
            locked,
            lock,
            yes,
            config,
        } => registry_install(
            reference.as_deref(),
            locked,
            lock.as_deref(),
            yes,
            config.as_deref(),
        ),
        SkillCommand::Keygen { prefix } => registry_keygen(&prefix),
        SkillCommand::Update { name, yes, config } => {
            registry_update(&name, yes, config.as_deref())
        }
        SkillCommand::Publish { skill, config } => {
            on_the_bus(config.as_deref(), |cluster| async move {
                let store = sandbot::nats::skills::store(&cluster).await?;
                let sha = sandbot::nats::skills::publish(&store, &skill).await?;
                println!("published {} (sha256 {sha})", skill.display());
                Ok(())
            })
        }
        SkillCommand::New {
            lang,
            name,
            dir,
            sdk,
        } => {
            let parent = dir.unwrap_or_else(|| PathBuf::from("."));
            let project = sandbot::authoring::new_project(lang, &name, &parent, sdk.as_deref())?;
            println!("created {}", project.display());
            println!(
                "next: cd {} && sandbot skill build --install <your bot's skills folder>",
                project.display()
            );
            Ok(())
        }
        SkillCommand::Build { dir, install } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let built = sandbot::authoring::build(&dir, install.as_deref())?;
            println!("built {}", built.wasm.display());
            if let Some(requests) = &built.requests {
                println!("asks for: {requests} (requests.yaml; `skill push` carries it)");
            }
            if let Some(to) = built.installed {
                println!("installed {}", to.display());
            }
            Ok(())
        }
        SkillCommand::Toolchain { lang } => {
            let toolchains = sandbot::authoring::Toolchains::locate();
            println!("{}", toolchains.install(lang)?);
            Ok(())
        }
        SkillCommand::Test { skill, cases } => {
            sandbot::logging::init(&config::Logging {
                level: config::LogLevel::Warn,
                ..Default::default()
            })?;
            let script = sandbot::skilltest::Script::load(&cases)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let report = runtime.block_on(sandbot::skilltest::run(&skill, &script))?;
            println!("{report}");
            if !report.passed() {
                anyhow::bail!("{} failed", cases.display());
            }
            Ok(())
        }
    }
}

/// `sandbot skill push`.
fn registry_push(
    reference: &str,
    skill: &Path,
    sign: Option<&Path>,
    requests: Option<&Path>,
    config: Option<&Path>,
) -> Result<()> {
    use sandbot::registry::{self, Reference, Requests};
    let reference = Reference::parse(reference).map_err(anyhow::Error::msg)?;
    let beside = skill.with_file_name("requests.yaml");
    let requests = match requests {
        Some(path) => Requests::read(path)?,
        None if beside.is_file() => Requests::read(&beside)?,
        None => Requests::default(),
    };
    let config = match config::locate(config) {
        Some(path) => Some(config::load(&path)?),
        None => None,
    };
    let runtime = current_thread()?;
    // The skill's own version, as it declares it: what installs show.
    let version = runtime.block_on(sandbot::authoring::declared_version(skill, &requests))?;
    let pushed = runtime.block_on(registry::push(
        config.as_ref(),
        &reference,
        skill,
        &requests,
        Some(&version),
        sign,
    ))?;
    println!(
        "pushed {}@{} (version {version}, from its describe)",
        pushed.reference.repository_path(),
        pushed.digest
    );
    println!("asks for: {requests}");
    match pushed.signature {
        Some(tag) => println!("signed: {}:{tag}", pushed.reference.repository_path()),
        None => println!("unsigned (installs refuse it unless its registry has allow-unsigned)"),
    }
    Ok(())
}

/// `sandbot skill install`.
fn registry_install(
    reference: Option<&str>,
    locked: bool,
    lock: Option<&Path>,
    yes: bool,
    explicit: Option<&Path>,
) -> Result<()> {
    use sandbot::registry::{self, Reference, lock::Lock};
    let path = config::locate(explicit).with_context(|| {
        format!(
            "no configuration file found (looked for {})",
            config::SEARCH_ORDER_HELP
        )
    })?;
    let config = config::load(&path)?;
    // Each wanted skill, and the component SHA-256 a lock says it has.
    let wanted: Vec<(Reference, Option<String>)> = if locked {
        let lock_path = lock
            .map(Path::to_path_buf)
            .unwrap_or_else(|| registry::lock_path(&config));
        let lock = Lock::read(&lock_path)?;
        if lock.skills.is_empty() {
            anyhow::bail!("{}: no skills to install", lock_path.display());
        }
        lock.skills
            .values()
            .map(|l| {
                let r = Reference::parse(&l.reference).map_err(anyhow::Error::msg)?;
                Ok((r.pinned(&l.digest), Some(l.sha256.clone())))
            })
            .collect::<Result<_>>()?
    } else {
        let text = reference.context("give a reference, or --locked")?;
        vec![(Reference::parse(text).map_err(anyhow::Error::msg)?, None)]
    };
    let runtime = current_thread()?;
    for (reference, sha256) in wanted {
        let fetched = runtime.block_on(registry::fetch(&config, &reference))?;
        if let Some(want) = sha256
            && fetched.sha256() != want
        {
            anyhow::bail!(
                "{reference}: its component's sha256 is {}, not the lock's {want}: refused",
                fetched.sha256()
            );
        }
        eprintln!("{}@{}", fetched.reference.repository_path(), fetched.digest);
        match &fetched.signed_by {
            Some(key) => eprintln!("  signature verified with {key}"),
            None => eprintln!(
                "  UNSIGNED (accepted: registries.{}.allow-unsigned)",
                reference.registry
            ),
        }
        eprintln!(
            "{} {} asks for: {}",
            fetched.name,
            fetched.version_shown(),
            fetched.requests
        );
        if !yes && !confirm(&format!("Install {} with these grants?", fetched.name))? {
            anyhow::bail!("{}: not installed", fetched.name);
        }
        let installed = registry::install::apply(&path, &fetched)?;
        if installed.new {
            println!(
                "installed {} ({}, sha256 {}); a running bot takes its grants at `reload`",
                installed.name,
                installed.file.display(),
                fetched.sha256()
            );
        } else {
            println!(
                "{} is installed already (sha256 {})",
                installed.name,
                fetched.sha256()
            );
        }
    }
    Ok(())
}

/// `sandbot skill update NAME`.
fn registry_update(name: &str, yes: bool, explicit: Option<&Path>) -> Result<()> {
    use sandbot::registry::{self, Reference, lock::Lock};
    let path = config::locate(explicit).context("no configuration file found")?;
    let config = config::load(&path)?;
    let lock_path = registry::lock_path(&config);
    let lock = Lock::read(&lock_path)?;
    let locked = lock.skills.get(name).with_context(|| {
        format!(
            "{name} is not in {}: it was not installed from a registry",
            lock_path.display()
        )
    })?;
    let reference = Reference::parse(&locked.reference).map_err(anyhow::Error::msg)?;
    if reference.tag.is_none() {
        anyhow::bail!(
            "{name} was installed by digest ({reference}): there is no tag to follow; install another digest"
        );
    }
    let fetched = current_thread()?.block_on(registry::fetch(&config, &reference))?;
    if fetched.digest == locked.digest {
        println!("{name} is up to date ({reference}@{})", fetched.digest);
        return Ok(());
    }
    if fetched.name != name {
        anyhow::bail!(
            "{reference} is now a skill named {}, not {name}",
            fetched.name
        );
    }
    eprintln!("{name}: {reference}");
    eprintln!("  {} -> {}", locked.digest, fetched.digest);
    let (old, new) = (locked.version.as_deref(), fetched.version.as_deref());
    eprintln!("  {}", registry::version_change(old, new));
    match &fetched.signed_by {
        Some(key) => eprintln!("  signature verified with {key}"),
        None => eprintln!(
            "  UNSIGNED (accepted: registries.{}.allow-unsigned)",
            reference.registry
        ),
    }
    let changes = locked.requests.changes_to(&fetched.requests);
    if changes.is_empty() {
        eprintln!("  grants unchanged: {}", fetched.requests);
    } else {
        eprintln!("  grants change:");
        for line in &changes {
            eprintln!("    {line}");
        }
    }
    if !yes && !confirm(&format!("Update {name}?"))? {
        anyhow::bail!("{name}: not updated");
    }
    registry::install::update(&path, &fetched)?;
    println!(
        "updated {name} to {} (sha256 {}); a running bot takes its grants at `reload`",
        fetched.digest,
        fetched.sha256()
    );
    Ok(())
}

/// Asks on the terminal; never takes a yes from a pipe.
fn confirm(question: &str) -> Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} Not a terminal to ask on: give --yes to approve");
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the answer")?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// `sandbot skill keygen PREFIX`.
fn registry_keygen(prefix: &Path) -> Result<()> {
    let (private, public) = sandbot::registry::cosign::generate()?;
    let key = prefix.with_extension("key");
    let public_path = prefix.with_extension("pub");
    for p in [&key, &public_path] {
        if p.exists() {
            anyhow::bail!("{} exists; not overwritten", p.display());
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(
        &mut options
            .open(&key)
            .with_context(|| format!("writing {}", key.display()))?,
        private.as_bytes(),
    )?;
    std::fs::write(&public_path, public)
        .with_context(|| format!("writing {}", public_path.display()))?;
    println!(
        "wrote {} (keep it secret) and {}",
        key.display(),
        public_path.display()
    );
    Ok(())
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A skill can make the host copy out a string as large as its memory limit
/// (a 10 MiB "response", say) before the host refuses it. glibc raises its
/// mmap threshold after such a buffer is freed, and from then on keeps
/// buffers that size in its heap arenas, one per thread: resident memory
/// then steps up by the largest buffer each time a new thread sees one. A
/// fixed threshold makes every large buffer an mmap, returned when freed.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}
