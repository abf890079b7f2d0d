//! Opening a store: choosing the backend from the URL, tuning the connection, running the
//! backend's migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::Backend;
use super::error::{StoreError, redact_url};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Connection pool settings for [`Store::open_with`](super::Store::open_with).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Most connections the pool opens. Default: 8 for SQLite (one writer at a time anyway,
    /// the rest read concurrently thanks to WAL), 10 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long to wait for a free pooled connection (and, for PostgreSQL, to connect).
    /// Default: 10 s.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before failing. Default: 5 s.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::max_connections`].
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Sets [`StoreOptions::acquire_timeout`].
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`StoreOptions::busy_timeout`].
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }
}

/// Opens the pool named by `url` and migrates it.
pub(super) async fn connect(url: &str, options: &StoreOptions) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        connect_sqlite(url, options).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        connect_postgres(url, options).await
    } else {
        Err(StoreError::UnsupportedUrl {
            url: redact_url(url),
        })
    }
}

async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<Backend, StoreError> {
    let invalid = |source| StoreError::InvalidUrl {
        url: redact_url(url),
        source,
    };
    let connect_options = SqliteConnectOptions::from_str(url).map_err(invalid)?;
    // The URL parser turns `sqlite::memory:` into a shared-cache in-memory database.
    let in_memory = connect_options
        .get_filename()
        .to_string_lossy()
        .starts_with("file:sqlx-in-memory-");

    let mut pool_options = SqlitePoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(8))
        .acquire_timeout(options.acquire_timeout);
    let connect_options = if in_memory {
        // An in-memory database lives as long as one connection to it: keep one forever.
        pool_options = pool_options
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        connect_options
    } else {
        if let Some(dir) = connect_options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_owned(),
                    source,
                })?;
        }
        // WAL lets readers (subscribers, queries) run while the event writer commits;
        // synchronous=NORMAL is durable across application crashes and only risks the last
        // transactions on power loss, the usual trade-off for WAL.
        connect_options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    let connect_options = connect_options
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);

    let pool = pool_options
        .connect_with(connect_options)
        .await
        .map_err(|source| StoreError::Connect {
            url: redact_url(url),
            source,
        })?;
    SQLITE_MIGRATIONS
        .run(&pool)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(Backend::Sqlite(pool))
}

async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<Backend, StoreError> {
    let connect_options =
        PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
            url: redact_url(url),
            source,
        })?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(10))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect_options)
        .await
        .map_err(|source| StoreError::Connect {
            url: redact_url(url),
            source,
        })?;
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .map_err(StoreError::Migrate)?;
    Ok(Backend::Postgres(pool))
}
