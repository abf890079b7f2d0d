//! The runner's config file, `windlass.toml`: strict TOML parsed into a validated
//! [`RunnerConfig`].
//!
//! ```no_run
//! # fn example() -> Result<(), windlass_config::ConfigError> {
//! let config = windlass_config::load("windlass.toml")?;
//! println!("engine {} with {} plugins", config.engine.id, config.plugins.len());
//! let builder = config.engine_builder(); // then .build().await
//! # let _ = builder;
//! # Ok(())
//! # }
//! ```
//!
//! Two steps, as in `raw` → `validate`: serde reads the text into structs that refuse unknown
//! keys and wrong types, then validation applies defaults, resolves relative paths against the
//! file's directory, parses durations and addresses, checks names, ranges, duplicates and
//! references, and checks that the plugin components and granted directories exist. Every
//! error is a [`ConfigError`] that reads `file:line:column: key: message`. `docs/runner.md`
//! describes every key.
//!
//! [`from_toml`] and [`locate`] give other TOML files the same errors: the runner checks the
//! stack files of `windlass deploy` with them before sending anything.
//!
//! The module is public so that a host application can read the same file format as the
//! `windlass` runner (and build its engine with [`RunnerConfig::engine_builder`]) instead of
//! inventing its own. It must not start anything: it reads one file and checks that the files
//! it names exist.

mod billing;
mod builds;
mod check;
mod duration;
mod error;
mod plugins;
mod policy;
mod position;
mod raw;
mod raw_value;
mod targets;
mod types;
mod validate;

use std::path::Path;

pub use duration::parse_duration;
pub use error::{ConfigError, Location};
pub use types::{
    ApiConfig, BillingSection, BuildsSection, EngineConfig, EventsConfig, HealthConfig,
    PluginConfig, QuotasSection, RunnerConfig, RuntimeConfig, RuntimeKind, SecretsKeySource,
    SecretsSection, StackConfig, StoreConfig, SwarmSection, TargetConfig,
};

/// Reads and validates the config file at `path`. Relative paths inside it start at its
/// directory; errors name `path` as given.
pub fn load(path: impl AsRef<Path>) -> Result<RunnerConfig, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Validates `text` as the config file at `path` (used for relative paths and in errors; the
/// file itself is not read, but the plugin components and directories it names are checked for
/// existence).
pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<RunnerConfig, ConfigError> {
    let path = path.as_ref();
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| toml_error(&e, text, path))?;
    validate::validate(raw, text, path)
}

/// Reads `text` (the TOML file at `path`, named in errors) into any serde type with this
/// crate's errors: `file:line:column: key: message`, in TOML's words. The runner reads the
/// stack files of `windlass deploy` with it, so they are refused as precisely as its own file.
pub fn from_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: impl AsRef<Path>,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| toml_error(&e, text, path.as_ref()))
}

/// Where the value at `key` (a key path as errors write it: `services[0].memory`,
/// `config."log level"`) is in `text`, the TOML file at `path`: the value itself, or the
/// deepest part of the path that is written (the `[[services]]` header of `services[0]` when
/// it has no `memory` key). `None` when not even the path's first part is in the file, or the
/// text is not TOML.
pub fn locate(text: &str, path: impl AsRef<Path>, key: &str) -> Option<Location> {
    let offset = position::offset_of(text, key)?;
    let (line, column) = position::line_column(text, offset);
    Some(Location {
        file: path.as_ref().to_path_buf(),
        line,
        column,
    })
}

/// Turns the toml crate's error (a message and a byte range) into a [`ConfigError`] with a
/// line, a column and a key.
fn toml_error(error: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let (line, column) = position::line_column(text, span.start);
    let at = Location {
        file: path.to_path_buf(),
        line,
        column,
    };
    let mut key = position::key_at(text, &span);
    let mut message = plain_words(error.message().trim_end());
    // The TOML words for serde's: a table has keys, not fields.
    if let Some(rest) = message.strip_prefix("unknown field") {
        message = format!("unknown key{rest}");
    } else if let Some(rest) = message.strip_prefix("missing field") {
        // The span is the table that lacks the key: name the key itself.
        if let Some(missing) = rest
            .trim()
            .strip_prefix('`')
            .and_then(|r| r.strip_suffix('`'))
        {
            key = Some(match position::table_at(text, &span) {
                Some(table) => format!("{table}.{missing}"),
                None => missing.to_owned(),
            });
        }
        message = format!("missing key{rest}");
    } else if message.starts_with("invalid type")
        && key
            .as_deref()
            .is_some_and(|k| k.contains(".config.") || k.contains(".params."))
    {
        message.push_str(" (values here are strings: quote them, e.g. \"2\")");
    }
    if message == "duplicate key" {
        // The span is the last part of the key only: name the whole key.
        if let Some(duplicate) = position::duplicate_key(text, &span) {
            key = Some(duplicate);
        }
    }
    let key = key.unwrap_or_else(|| "(top level)".to_owned());
    if message == "duplicate key" {
        // Where the first one is, when the parser kept it (a table header written twice keeps
        // the second header's position: "above" then).
        let first = position::offset_of(text, &key)
            .map(|first| position::line_column(text, first).0)
            .filter(|first| *first < at.line || (*first == at.line && !header_line(text, &span)));
        message = match first {
            Some(line) => format!("duplicate key: `{key}` is already defined at line {line}"),
            None => format!("duplicate key: `{key}` is already defined above"),
        };
    }
    // The parser's own errors come before any key could be matched to a struct field.
    if toml::de::DeTable::parse(text).is_err() {
        ConfigError::Syntax { at, key, message }
    } else {
        ConfigError::Schema { at, key, message }
    }
}

/// Whether the line of `span` is a table header (`[engine]`, `[[plugins]]`).
fn header_line(text: &str, span: &std::ops::Range<usize>) -> bool {
    let start = text
        .get(..span.start)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |i| i + 1);
    text[start..].trim_start().starts_with('[')
}

/// serde's words for types, in TOML's: `u64` is a whole number, a struct or map is a table, a
/// sequence an array. (Also keeps the raw structs' Rust names out of messages.)
fn plain_words(message: &str) -> String {
    let Some((before, expected)) = message.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "a table",
        other if other.starts_with("struct ") => "a table",
        other => other,
    };
    format!("{before}, expected {expected}")
}
