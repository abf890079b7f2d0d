//! Errors of the store: one variant per way opening or querying the database can fail.

use std::path::PathBuf;

/// An error from the [`Store`](super::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL's scheme names no backend this engine supports.
    #[error(
        "unsupported store url `{url}`: expected `sqlite://path/to/file.db` or `postgres://user:password@host/database`"
    )]
    UnsupportedUrl {
        /// The URL as given, with any password masked.
        url: String,
    },
    /// The URL has a supported scheme but could not be parsed.
    #[error("invalid store url `{url}`")]
    InvalidUrl {
        /// The URL as given, with any password masked.
        url: String,
        /// What the driver objected to.
        #[source]
        source: sqlx::Error,
    },
    /// The directory for a new SQLite file could not be created.
    #[error("cannot create the directory `{}` for the sqlite store", path.display())]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the store at `{url}`")]
    Connect {
        /// The URL as given, with any password masked.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Bringing the schema up to date failed.
    #[error("store schema migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("store query `{op}` failed")]
    Query {
        /// What the engine was doing, e.g. `insert events`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A value could not be stored or a stored value is outside the range its Rust type allows
    /// (for example a negative replica count written by hand).
    #[error("value out of range for `{field}`: {value}")]
    OutOfRange {
        /// The column or field at fault.
        field: &'static str,
        /// The offending value, as text.
        value: String,
    },
    /// A JSON value could not be encoded for storage.
    #[error("cannot encode `{field}` as json")]
    Json {
        /// The column or field at fault.
        field: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Whether the database (or the encoder) rejected the data itself, as opposed to being
    /// unreachable: retrying other data may well succeed.
    pub(crate) fn is_data_error(&self) -> bool {
        match self {
            StoreError::Query { source, .. } => matches!(source, sqlx::Error::Database(_)),
            StoreError::OutOfRange { .. } | StoreError::Json { .. } => true,
            _ => false,
        }
    }

    /// Whether the database refused a row because a unique key (for events, the index) is
    /// already taken: another writer got there first.
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(error),
                ..
            } => error.is_unique_violation(),
            _ => false,
        }
    }
}

/// Attaches the name of the operation to a driver error.
pub(crate) trait QueryContext<T> {
    /// Maps a `sqlx::Error` into [`StoreError::Query`] naming `op`.
    fn op(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn op(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { op, source })
    }
}

/// Converts between the unsigned integers of the Rust API and the signed columns of SQL.
pub(crate) fn to_sql_int<S, D>(field: &'static str, value: S) -> Result<D, StoreError>
where
    S: Copy + std::fmt::Display,
    D: TryFrom<S>,
{
    D::try_from(value).map_err(|_| StoreError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

/// Masks the password of a URL (`postgres://user:secret@host` → `postgres://user:***@host`) so
/// that it can appear in errors and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let Some((user, _password)) = credentials.split_once(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://windlass:secret@127.0.0.1:5432/db?sslmode=disable"),
            "postgres://windlass:***@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://windlass@host/db"),
            "postgres://windlass@host/db"
        );
        assert_eq!(redact_url("sqlite://data/w.db"), "sqlite://data/w.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
