//! What is wrong with a configuration file, and where: `file:line:column:
//! what is wrong`, as every part of the configuration reports it.

use std::fmt;
use std::path::{Path, PathBuf};

/// What is wrong with a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is the file as a whole.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub fn at(file: &Path, line: usize, column: usize, message: String) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message,
        }
    }

    pub fn whole_file(file: &Path, message: String) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A file's name is data: on one line, whatever it holds.
        let file = self.file.display().to_string();
        write!(f, "{}", crate::text::for_log(&file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A YAML error from serde_yaml_ng, with its place moved to the front and,
/// for a misspelt key or value, the one it is nearest.
pub fn yaml_error(file: &Path, error: &serde_yaml_ng::Error) -> ConfigError {
    let message = with_suggestion(&error.to_string());
    match error.location() {
        Some(loc) => {
            // The location goes in front, `file:line:column:`, not in the text.
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            ConfigError::at(file, loc.line(), loc.column(), message.replacen(&at, "", 1))
        }
        None => ConfigError::whole_file(file, message),
    }
}

/// serde's "unknown field `conectors`, expected one of `logging`, …" (or
/// "unknown variant") with "(did you mean `connectors`?)" after the word.
fn with_suggestion(message: &str) -> String {
    for what in ["unknown field `", "unknown variant `"] {
        let Some(start) = message.find(what) else {
            continue;
        };
        let word_at = start + what.len();
        let Some(len) = message[word_at..].find('`') else {
            continue;
        };
        let word = &message[word_at..word_at + len];
        let after = word_at + len + 1;
        let expected: Vec<&str> = message[after..].split('`').skip(1).step_by(2).collect();
        if let Some(meant) = crate::similar::closest(word, expected) {
            return format!(
                "{} (did you mean `{meant}`?){}",
                &message[..after],
                &message[after..]
            );
        }
    }
    message.to_owned()
}
