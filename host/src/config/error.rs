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

/// A YAML error from serde_yaml_ng, with its place moved to the front.
pub fn yaml_error(file: &Path, error: &serde_yaml_ng::Error) -> ConfigError {
    let message = error.to_string();
    match error.location() {
        Some(loc) => {
            // The location goes in front, `file:line:column:`, not in the text.
            let at = format!(" at line {} column {}", loc.line(), loc.column());
            ConfigError::at(file, loc.line(), loc.column(), message.replacen(&at, "", 1))
        }
        None => ConfigError::whole_file(file, message),
    }
}
