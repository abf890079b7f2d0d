//! The checks every section shares: names, durations, ranges, paths, and errors that point at
//! the value at fault.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::duration::parse_duration;
use super::position::line_column;
use super::{ConfigError, Location};
use windlass::validate_name;

/// What every check needs: the text (for line and column), the file's name and the
/// directory relative paths start from.
pub(super) struct Checker<'a> {
    pub text: &'a str,
    pub file: &'a Path,
    pub base: &'a Path,
}

impl Checker<'_> {
    pub(super) fn at(&self, span: &Range<usize>) -> Location {
        let (line, column) = line_column(self.text, span.start);
        Location {
            file: self.file.to_path_buf(),
            line,
            column,
        }
    }

    pub(super) fn invalid(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            at: self.at(span),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A name that must pass the engine's name rules.
    pub(super) fn name(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        validate_name(key, value.get_ref())
            .map_err(|e| self.invalid(&value.span(), key, e.message))?;
        Ok(value.get_ref().clone())
    }

    /// A duration string (`"60s"`) that must be more than zero.
    pub(super) fn duration(
        &self,
        value: &Spanned<String>,
        key: &str,
    ) -> Result<Duration, ConfigError> {
        let duration = parse_duration(value.get_ref())
            .map_err(|message| self.invalid(&value.span(), key, message))?;
        if duration.is_zero() {
            return Err(self.invalid(
                &value.span(),
                key,
                format!("\"{}\" must be more than zero", value.get_ref()),
            ));
        }
        Ok(duration)
    }

    /// An integer in `min..=max`.
    pub(super) fn bounded(
        &self,
        value: &Spanned<u64>,
        key: &str,
        min: u64,
        max: u64,
        unit: &str,
    ) -> Result<u64, ConfigError> {
        let n = *value.get_ref();
        if n < min || n > max {
            return Err(self.invalid(
                &value.span(),
                key,
                format!("{n} is out of range: use {min} to {max}{unit}"),
            ));
        }
        Ok(n)
    }

    /// An integer of at least 1.
    pub(super) fn positive(&self, value: &Spanned<u64>, key: &str) -> Result<u64, ConfigError> {
        match *value.get_ref() {
            0 => Err(self.invalid(&value.span(), key, "must be at least 1")),
            n => Ok(n),
        }
    }

    /// A path resolved against the config file's directory (`.` steps removed).
    pub(super) fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path).components().collect()
    }

    pub(super) fn missing(
        &self,
        value: &Spanned<String>,
        key: &str,
        path: PathBuf,
        what: &str,
    ) -> ConfigError {
        let hint = if Path::new(value.get_ref()).is_relative() {
            " (relative paths start at the config file's directory)"
        } else {
            ""
        };
        ConfigError::MissingFile {
            at: self.at(&value.span()),
            key: key.to_owned(),
            message: format!("no {what} at {}{hint}", path.display()),
            path,
        }
    }
}

#[cfg(test)]
impl Checker<'static> {
    /// A checker for `conf/windlass.toml`, whose text is one line.
    pub(super) fn for_tests() -> Self {
        Checker {
            text: "value = 1\n",
            file: Path::new("conf/windlass.toml"),
            base: Path::new("conf"),
        }
    }

    /// A value spanning column 9 of that line.
    pub(super) fn value(text: &str) -> Spanned<String> {
        Spanned::new(8..9, text.to_owned())
    }
}
