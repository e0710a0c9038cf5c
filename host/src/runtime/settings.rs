//! A skill's section of configuration.yaml against the settings it
//! declares (its `settings` export): a key it does not declare is a
//! mistake (with the declared name it is nearest), and so is a `required`
//! one that is absent. Each mistake is placed at its key's
//! `file:line:column`, so a load, a reload and `sandbot config validate`
//! say the same words at the same place.

use crate::config::{Config, ConfigError, key_place};
use crate::manifest::SettingSpec;
use crate::text::for_log;
use std::path::PathBuf;
use std::sync::Arc;

/// The configuration a skill's section was read from, to place mistakes.
#[derive(Debug, Clone)]
pub struct ConfigText {
    pub file: PathBuf,
    /// After `${VAR}` substitution, as it was parsed.
    pub text: Arc<str>,
}

impl ConfigText {
    /// The file a configuration was read from, with its text; `None` for
    /// built-in defaults.
    pub fn of(config: &Config) -> Option<ConfigText> {
        let file = config.source.clone()?;
        let text = config.text.clone()?;
        Some(ConfigText { file, text })
    }
}

/// Every mistake in `section` (the keys of the skill's own settings)
/// given what the skill declares; none when it declares nothing (`None`).
/// A secret granted through `allow.secrets` (named in `secrets`) counts as
/// given: the skill reads it as a setting.
pub fn mistakes(
    skill: &str,
    declared: Option<&[SettingSpec]>,
    section: &[String],
    secrets: &[String],
    place: Option<&ConfigText>,
) -> Vec<String> {
    let Some(declared) = declared else {
        return Vec::new();
    };
    let names: Vec<&str> = declared.iter().map(|s| s.name.as_str()).collect();
    let mut out: Vec<Placed> = Vec::new();
    for key in section {
        if names.contains(&key.as_str()) {
            continue;
        }
        let shown = for_log(key);
        let message = if names.is_empty() {
            format!("skills.{skill}.{shown}: {skill} has no setting `{shown}`; it declares none")
        } else {
            let near = match crate::similar::closest(key, names.iter().copied()) {
                Some(meant) => format!(" (did you mean `{meant}`?)"),
                None => String::new(),
            };
            format!(
                "skills.{skill}.{shown}: {skill} has no setting `{shown}`{near}; it declares: {}",
                names.join(", ")
            )
        };
        out.push(Placed::new(place, &["skills", skill, key], message));
    }
    for setting in declared.iter().filter(|s| s.required) {
        let name = setting.name.as_str();
        let given = |keys: &[String]| keys.iter().any(|k| k == name);
        if given(section) || given(secrets) {
            continue;
        }
        let help = if setting.help.is_empty() {
            String::new()
        } else {
            format!(" ({})", setting.help)
        };
        let message =
            format!("skills.{skill}: {skill} needs setting `{name}`{help}, which is not given");
        out.push(Placed::new(place, &["skills", skill], message));
    }
    // In the order of the file, as an editor would go through them.
    out.sort_by_key(|p| p.at);
    out.into_iter().map(|p| p.text).collect()
}

/// One mistake: `file:line:column: message` where the text holds the key,
/// `file: message` where it does not (a skill with no section), else the
/// message.
struct Placed {
    at: Option<(usize, usize)>,
    text: String,
}

impl Placed {
    fn new(place: Option<&ConfigText>, path: &[&str], message: String) -> Placed {
        let Some(place) = place else {
            return Placed {
                at: None,
                text: message,
            };
        };
        let at = key_place(&place.text, path);
        let error = match at {
            Some((line, column)) => ConfigError::at(&place.file, line, column, message),
            None => ConfigError::whole_file(&place.file, message),
        };
        Placed {
            at,
            text: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, required: bool) -> SettingSpec {
        SettingSpec {
            name: name.into(),
            help: if required {
                "where".into()
            } else {
                String::new()
            },
            required,
        }
    }

    fn section(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn each_undeclared_key_and_missing_requirement_is_placed() {
        let text = "skills:\n  alerts:\n    urll: http://x\n    tokn: y\n";
        let place = ConfigText {
            file: "/c.yaml".into(),
            text: text.into(),
        };
        let declared = [setting("url", true), setting("prometheus-token", false)];
        let found = mistakes(
            "alerts",
            Some(&declared),
            &section(&["urll", "tokn"]),
            &[],
            Some(&place),
        );
        assert_eq!(
            found,
            [
                "/c.yaml:2:3: skills.alerts: alerts needs setting `url` (where), which is not given",
                "/c.yaml:3:5: skills.alerts.urll: alerts has no setting `urll` (did you mean `url`?); it declares: url, prometheus-token",
                "/c.yaml:4:5: skills.alerts.tokn: alerts has no setting `tokn`; it declares: url, prometheus-token",
            ]
        );
    }

    #[test]
    fn declared_keys_granted_secrets_and_silent_skills_pass() {
        let declared = [setting("url", true), setting("prometheus-token", true)];
        let secrets = section(&["prometheus-token"]);
        let ok = mistakes(
            "alerts",
            Some(&declared),
            &section(&["url"]),
            &secrets,
            None,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let silent = mistakes("alerts", None, &section(&["anything"]), &secrets, None);
        assert!(silent.is_empty(), "{silent:?}");
        let none = mistakes("hello", Some(&[]), &section(&["url"]), &secrets, None);
        assert_eq!(
            none,
            ["skills.hello.url: hello has no setting `url`; it declares none"]
        );
    }
}
