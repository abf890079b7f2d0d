//! Real databases for tests: an SQLite file in a temporary directory, or a private schema on
//! the PostgreSQL server named by `WINDLASS_TEST_POSTGRES_URL`.
//!
//! Every PostgreSQL test gets its own schema (created here, dropped when the [`TestDb`] drops),
//! so tests run in parallel against one server. A missing or unreachable server fails the test
//! with instructions; it never skips.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use windlass::{Store, StoreOptions};

/// The environment variable naming the test server.
pub const POSTGRES_URL_VAR: &str = "WINDLASS_TEST_POSTGRES_URL";

const HOW_TO_START: &str = "start a test server with `bash scripts/setup-postgres.sh` (as root) \
     and `export WINDLASS_TEST_POSTGRES_URL=postgres://windlass:windlass@127.0.0.1:5432/windlass_test` \
     (the script prints the URL)";

/// One test's database.
#[derive(Debug)]
pub struct TestDb {
    /// The URL that opens this test's store.
    pub url: String,
    /// `"sqlite"` or `"postgres"`, for messages.
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    /// Server URL and schema to drop on drop.
    postgres_schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite file (not created yet) in a new temporary directory.
    pub async fn sqlite() -> anyhow::Result<TestDb> {
        let dir = tempfile::tempdir().context("create a temporary directory")?;
        let path = dir.path().join("windlass.db");
        Ok(TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: "sqlite",
            _dir: Some(dir),
            postgres_schema: None,
        })
    }

    /// A fresh, empty schema on the test PostgreSQL server.
    pub async fn postgres() -> anyhow::Result<TestDb> {
        let server = postgres_url()?;
        let schema = unique_schema_name();
        let mut conn = connect_admin(&server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("create schema {schema} on {server}"))?;
        conn.close().await.ok();
        // libpq-style `options` sets the search path of every pooled connection.
        let separator = if server.contains('?') { '&' } else { '?' };
        Ok(TestDb {
            url: format!("{server}{separator}options=-c%20search_path%3D{schema}"),
            backend: "postgres",
            _dir: None,
            postgres_schema: Some((server, schema)),
        })
    }

    /// Opens (and migrates) this test's store.
    pub async fn open(&self) -> anyhow::Result<Store> {
        self.open_with(&StoreOptions::default()).await
    }

    /// Opens this test's store with explicit pool options.
    pub async fn open_with(&self, options: &StoreOptions) -> anyhow::Result<Store> {
        Store::open_with(&self.url, options)
            .await
            .with_context(|| format!("open the {} test store at {}", self.backend, self.url))
    }
}

/// A transaction on a separate connection that holds the `events` table's write lock, so that
/// the event writer blocks mid-commit and everything appended meanwhile queues up.
#[allow(missing_debug_implementations)] // holds a raw connection, nothing worth printing
pub enum WriteBlocker {
    /// `BEGIN IMMEDIATE` on SQLite.
    Sqlite(sqlx::SqliteConnection),
    /// `LOCK TABLE events IN EXCLUSIVE MODE` on PostgreSQL.
    Postgres(PgConnection),
}

impl WriteBlocker {
    /// Ends the blocking transaction.
    pub async fn release(self) -> anyhow::Result<()> {
        match self {
            WriteBlocker::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
            WriteBlocker::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

impl TestDb {
    /// The rows `sql` selects from this test's store, on a connection of its own (the same
    /// SQL on both backends: `$1`-style parameters are not needed for reads like these).
    pub async fn rows<T>(&self, sql: &str) -> anyhow::Result<Vec<T>>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let safe = || sqlx::AssertSqlSafe(sql.to_owned());
        let rows = if self.backend == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            let rows = sqlx::query_as(safe()).fetch_all(&mut conn).await;
            conn.close().await.ok();
            rows
        } else {
            let mut conn = PgConnection::connect(&self.url).await?;
            let rows = sqlx::query_as(safe()).fetch_all(&mut conn).await;
            conn.close().await.ok();
            rows
        };
        rows.with_context(|| format!("{} store: {sql}", self.backend))
    }

    /// Takes the write lock on `events` until [`WriteBlocker::release`].
    pub async fn block_event_writes(&self) -> anyhow::Result<WriteBlocker> {
        if self.backend == "sqlite" {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
            Ok(WriteBlocker::Sqlite(conn))
        } else {
            let mut conn = PgConnection::connect(&self.url).await?;
            sqlx::query("BEGIN").execute(&mut conn).await?;
            sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
                .execute(&mut conn)
                .await?;
            Ok(WriteBlocker::Postgres(conn))
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, schema)) = self.postgres_schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: clean up from a
        // thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = connect_admin(&server).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await.ok();
                anyhow::Ok(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: could not drop test schema: {error:#}"),
            Err(_) => eprintln!("warning: test schema cleanup panicked"),
        }
    }
}

/// The test server's URL, or an error saying how to get one.
pub fn postgres_url() -> anyhow::Result<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => bail!(
            "{POSTGRES_URL_VAR} is not set: PostgreSQL tests need a real server; {HOW_TO_START}"
        ),
    }
}

async fn connect_admin(server: &str) -> anyhow::Result<PgConnection> {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(server)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(error)) => Err(anyhow::Error::new(error).context(format!(
            "cannot connect to the PostgreSQL test server at {server} ({POSTGRES_URL_VAR}); {HOW_TO_START}"
        ))),
        Err(_) => bail!(
            "timed out connecting to the PostgreSQL test server at {server} ({POSTGRES_URL_VAR}); {HOW_TO_START}"
        ),
    }
}

/// `wl_t_<pid>_<counter>_<nanos>`: unique across parallel tests and concurrent test runs.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "wl_t_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Generates, for each named `async fn name(db: &TestDb) -> anyhow::Result<()>`, a module
/// `name` with two tests, `sqlite` and `postgres`, running it against each backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    let db = $crate::db::TestDb::sqlite().await?;
                    super::$name(&db).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    let db = $crate::db::TestDb::postgres().await?;
                    super::$name(&db).await
                }
            }
        )*
    };
}
pub use crate::backend_tests;
