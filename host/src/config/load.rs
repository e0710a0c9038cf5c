//! Finding and reading configuration.yaml.

use super::error::{ConfigError, yaml_error};
use super::{Config, env};
use std::path::{Path, PathBuf};

pub const SEARCH_ORDER_HELP: &str = "-c FILE, ./configuration.yaml, ~/.local/share/sandbot/configuration.yaml, /etc/sandbot/configuration.yaml";

/// The configuration file to use: `explicit` if given, else the first that
/// exists of `./configuration.yaml`, the user's data dir, `/etc/sandbot`.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    [
        PathBuf::from("configuration.yaml"),
        super::default_data_dir().join("configuration.yaml"),
        PathBuf::from("/etc/sandbot/configuration.yaml"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Reads, substitutes and parses `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(path, format!("cannot read: {e}")))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    parse(&text, &absolute)
}

/// Parses configuration text that came from `file` (used in messages and to
/// resolve relative paths).
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let mut substituted = Vec::new();
    let text = env::substitute_noting(
        text,
        file,
        |name| std::env::var(name).ok(),
        &mut substituted,
    )?;
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    let mut config: Config = if has_content {
        serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(file, &e))?
    } else {
        serde_yaml_ng::from_str("{}").expect("an empty mapping is a valid configuration")
    };
    config.source = Some(file.to_path_buf());
    config.text = Some(text.as_str().into());
    config.substituted = substituted.into_iter().map(super::Secret::new).collect();
    config.resolve_paths();
    check_names(&config, &text, file)?;
    check_history(&config, &text, file)?;
    check_secret_grants(&config, &text, file)?;
    super::notify::check(&config, &text, file)?;
    check_roles(&config, file)?;
    check_console(&config, file)?;
    check_registries(&config, &text, file)?;
    Ok(config)
}

/// Names are data (`crate::names`): a connector's, a skill's and a
/// workflow's key are shown in logs, chat and metrics, and typed in
/// commands; one that is not a name is refused, shown escaped.
fn check_names(config: &Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    let keys = [
        ("connectors", config.connectors.keys().collect::<Vec<_>>()),
        ("skills", config.skills.keys().collect()),
        ("workflows", config.workflows.keys().collect()),
    ];
    for (section, names) in keys {
        for name in names {
            let Err(why) = crate::names::check(name) else {
                continue;
            };
            let shown = crate::names::shown(name);
            let message = format!("{section}.{shown}: not a name: {why}");
            // serde has no position for a key it accepted; find it.
            let at = text.lines().enumerate().find_map(|(i, line)| {
                let col = line.find(name.as_str())?;
                Some((i + 1, col + 1))
            });
            return Err(match at {
                Some((line, col)) if !name.is_empty() => ConfigError::at(file, line, col, message),
                _ => ConfigError::whole_file(file, message),
            });
        }
    }
    Ok(())
}

/// `history.max-text` leaves room for the mark of a cut.
fn check_history(config: &Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    let min = crate::history::MIN_MAX_TEXT as u64;
    if config.history.max_text.0 >= min {
        return Ok(());
    }
    let message = format!(
        "history.max-text: {} is too small to keep a text and the mark of its cut: at least {min}B",
        config.history.max_text
    );
    let at = text
        .lines()
        .position(|l| l.contains("max-text"))
        .map(|i| (i + 1, 1));
    Err(match at {
        Some((line, col)) => ConfigError::at(file, line, col, message),
        None => ConfigError::whole_file(file, message),
    })
}

/// A host must run something, and a host without both roles needs a bus
/// that reaches the other half.
fn check_roles(config: &Config, file: &Path) -> Result<(), ConfigError> {
    use super::{BusSettings, Role};
    let roles = &config.roles;
    let message = if roles.0.is_empty() {
        "roles: empty: give `connectors`, `workers` or both"
    } else if matches!(config.bus, BusSettings::Local)
        && !(roles.has(Role::Connectors) && roles.has(Role::Workers))
    {
        "roles: a host with only one role needs `bus: {type: nats, ...}`: with the local bus nobody would run the other half"
    } else {
        return Ok(());
    };
    let text = config.text.as_deref().unwrap_or("");
    let at = text
        .lines()
        .position(|l| l.starts_with("roles:"))
        .map(|i| (i + 1, 1));
    Err(match at {
        Some((line, col)) => ConfigError::at(file, line, col, message.to_owned()),
        None => ConfigError::whole_file(file, message.to_owned()),
    })
}

/// The console's passwords and cookies never cross a network in clear
/// unless the operator says so: off loopback it needs HTTPS or
/// `insecure-http: true`.
fn check_console(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let Some(console) = &config.console else {
        return Ok(());
    };
    let text = config.text.as_deref().unwrap_or("");
    if config.connectors.contains_key("console") {
        let message = "connectors.console: the name `console` is the console's own (its operators' commands come from `console:NAME`): name this connector otherwise".to_owned();
        return Err(
            match text
                .lines()
                .position(|l| l.trim_start().starts_with("console:") && l.starts_with(' '))
            {
                Some(i) => ConfigError::at(file, i + 1, 1, message),
                None => ConfigError::whole_file(file, message),
            },
        );
    }
    let web = config.web.clone().unwrap_or_default();
    let tls = web.cert.is_some() && web.key.is_some();
    if tls || console.insecure_http || web.loopback_only() {
        return Ok(());
    }
    let message = format!(
        "console: the web server listens on {} without HTTPS: give `web.cert` and `web.key`, or `console.insecure-http: true` if a proxy in front speaks TLS",
        web.host
    );
    Err(match text.lines().position(|l| l.starts_with("console:")) {
        Some(i) => ConfigError::at(file, i + 1, 1, message),
        None => ConfigError::whole_file(file, message),
    })
}

/// A registry's key is what a reference names: `host[:port]`.
fn check_registries(config: &Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    for key in config.registries.keys() {
        if let Err(message) = super::check_registry_key(key) {
            return Err(match super::key_place(text, &["registries", key]) {
                Some((line, col)) => ConfigError::at(file, line, col, message),
                None => ConfigError::whole_file(file, message),
            });
        }
    }
    Ok(())
}

/// Every secret a skill is granted must exist: a typo would otherwise show
/// up only as a skill that cannot find its token.
fn check_secret_grants(config: &Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    for (skill, entry) in &config.skills {
        for name in &entry.allow.secrets {
            if config.secrets.contains_key(name) {
                continue;
            }
            let message = format!(
                "skills.{skill}.allow.secrets: `{name}` is not defined under the top-level `secrets:`"
            );
            // serde has no position for a value it accepted; find the name.
            let at = text.lines().enumerate().find_map(|(i, line)| {
                let col = line.find(name.as_str())?;
                (line.contains("secrets") || line.trim_start().starts_with('-'))
                    .then_some((i + 1, col + 1))
            });
            return Err(match at {
                Some((line, col)) => ConfigError::at(file, line, col, message),
                None => ConfigError::whole_file(file, message),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("/etc/bot/configuration.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_undefined_secret_grant_names_its_line() {
        let e = parse(
            "secrets:\n  token: abc\nskills:\n  alerts:\n    allow:\n      secrets: [tokne]\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("`tokne` is not defined"), "{e}");
        let ok = parse(
            "secrets:\n  token: abc\n  other: x\nskills:\n  alerts:\n    allow: {secrets: [token]}\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        assert_eq!(ok.granted_secrets("alerts").len(), 1);
    }

    #[test]
    fn keys_that_are_not_names_are_refused_with_their_line() {
        let e = parse(
            "connectors:\n  shell: {}\n  \"a\\nb\": {type: shell}\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(e.message.starts_with("connectors.a\\nb: not a name"), "{e}");
        let e = parse("skills:\n  'rw\"} 1': {}\n", Path::new("/c.yaml")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("holds `\"`"), "{e}");
        let e = parse("history: {max-text: 10}\n", Path::new("/c.yaml")).unwrap_err();
        assert!(e.message.contains("at least 64B"), "{e}");
    }

    #[test]
    fn a_host_with_one_role_needs_the_nats_bus() {
        let e = parse("logging: {}\nroles: [workers]\n", Path::new("/c.yaml")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("needs `bus: {type: nats"), "{e}");
        let ok = parse(
            "bus: {type: nats, url: 'nats://127.0.0.1:4222', ack-wait: 2s}\nroles: [workers]\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        assert!(ok.roles.has(super::super::Role::Workers));
        assert!(!ok.roles.has(super::super::Role::Connectors));
        let super::super::BusSettings::Nats(nats) = &ok.bus else {
            panic!("not the NATS bus: {:?}", ok.bus)
        };
        assert_eq!(nats.ack_wait.0, std::time::Duration::from_secs(2));
        assert_eq!(nats.prefix, "sandbot");
        // Both roles on the default local bus is today's one process.
        let local = parse("connectors: {shell: {}}\n", Path::new("/c.yaml")).unwrap();
        assert!(matches!(local.bus, super::super::BusSettings::Local));
        assert_eq!(local.roles.describe(), "connectors+workers");
        let e = err("bus: {type: rabbitmq}\n");
        assert!(e.contains("rabbitmq") && e.contains("nats"), "{e}");
    }

    #[test]
    fn unknown_top_level_key() {
        assert_eq!(
            err("logging:\n  level: info\nconectors:\n  shell: {}\n"),
            "/etc/bot/configuration.yaml:3:1: unknown field `conectors` (did you mean `connectors`?), expected one of `logging`, `admins`, `connectors`, `databases`, `skills-dir`, `workflows-dir`, `data-dir`, `skills`, `secrets`, `runtime`, `web`, `console`, `unmatched`, `history`, `metrics`, `workflows`, `notifications`, `bus`, `roles`, `trust`, `registries`"
        );
    }

    #[test]
    fn an_unknown_key_far_from_every_known_one_gets_no_guess() {
        let e = err("histroy-of-everything: 1\n");
        assert!(!e.contains("did you mean"), "{e}");
        let e = err("web:\n  prot: 8080\n");
        assert!(
            e.contains("unknown field `prot` (did you mean `port`?)"),
            "{e}"
        );
    }

    #[test]
    fn type_error_names_the_field_path() {
        assert_eq!(
            err("skills:\n  hello:\n    no-cache: maybe\n"),
            "/etc/bot/configuration.yaml:3:15: skills.hello.no-cache: invalid type: string \"maybe\", expected a boolean"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = parse(
            "logging:\n  level: info\n   console: true\n",
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:2:10: logging.level: unknown variant `info console`, expected one of `trace`, `debug`, `info`, `warn`, `warning`, `error`"
        );
        let e = parse("admins: [alice\nlogging: {}\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(
            e.message.contains("did not find expected ',' or ']'"),
            "{e}"
        );
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let c = parse("# nothing here\n", Path::new("/srv/bot/configuration.yaml")).unwrap();
        assert!(c.skills.is_empty());
        assert!(c.connectors.is_empty());
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let c = parse(
            "skills-dir: skills\ndata-dir: /var/lib/sandbot\nskills:\n  hello:\n    path: ../x/hello.wasm\n",
            Path::new("/srv/bot/configuration.yaml"),
        )
        .unwrap();
        assert_eq!(c.skills_dir.unwrap(), Path::new("/srv/bot/skills"));
        assert_eq!(c.data_dir.unwrap(), Path::new("/var/lib/sandbot"));
        assert_eq!(
            c.skills["hello"].path.as_deref().unwrap(),
            Path::new("/srv/bot/../x/hello.wasm")
        );
    }

    #[test]
    fn missing_file_is_named() {
        let e = load(Path::new("/nonexistent/configuration.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/configuration.yaml: cannot read"),
            "{e}"
        );
    }
}
