//! [`ConfigError`]: why a config file was refused, naming the file, line, column and key.

use std::path::PathBuf;

pub use super::position::Location;

/// Why a config file was refused.
///
/// Every variant but [`ConfigError::Read`] displays as `file:line:column: key: message`, e.g.
/// `windlass.toml:12:8: plugins[1].kind: unknown plugin kind "stack-templat" (expected one of
/// …)`. Keys are written as in the file, array elements counted from 0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("{at}: {key}: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: Location,
        /// The key being written there (the section, when no key was recognised).
        key: String,
        /// What the parser expected.
        message: String,
    },
    /// A key is unknown or missing, or its value has the wrong type.
    #[error("{at}: {key}: {message}")]
    Schema {
        /// Where the key or value is.
        at: Location,
        /// The key at fault.
        key: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A value has the right type but is not acceptable: a bad duration, name, kind, URL,
    /// address or limit, or thresholds out of order.
    #[error("{at}: {key}: {message}")]
    Invalid {
        /// Where the value is.
        at: Location,
        /// The key at fault.
        key: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// Two plugins share a name, or two stacks share an org and a name.
    #[error("{at}: {key}: {message}")]
    Duplicate {
        /// Where the second one is.
        at: Location,
        /// Its key.
        key: String,
        /// What is duplicated and where the first one is.
        message: String,
    },
    /// A stack names a template that is not a `stack-template` plugin of this file.
    #[error("{at}: {key}: {message}")]
    Reference {
        /// Where the reference is.
        at: Location,
        /// The key holding it.
        key: String,
        /// What was looked for and what exists.
        message: String,
    },
    /// A file or directory the config names does not exist.
    #[error("{at}: {key}: {message}")]
    MissingFile {
        /// Where the path is written.
        at: Location,
        /// The key holding it.
        key: String,
        /// The path as resolved (relative paths start at the config file's directory).
        path: PathBuf,
        /// What is missing.
        message: String,
    },
}

impl ConfigError {
    /// Where in the file the error is (`None` when the file could not be read).
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { at, .. }
            | Self::Schema { at, .. }
            | Self::Invalid { at, .. }
            | Self::Duplicate { at, .. }
            | Self::Reference { at, .. }
            | Self::MissingFile { at, .. } => Some(at),
        }
    }

    /// The key at fault, e.g. `plugins[1].kind` (`None` when the file could not be read).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { key, .. }
            | Self::Schema { key, .. }
            | Self::Invalid { key, .. }
            | Self::Duplicate { key, .. }
            | Self::Reference { key, .. }
            | Self::MissingFile { key, .. } => Some(key),
        }
    }
}
