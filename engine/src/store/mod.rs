//! The engine's persistent state, over sqlx: an SQLite file (the default) or PostgreSQL.
//!
//! The store owns the schema (one migration set per backend, run on open) and every SQL
//! statement the engine issues. It holds *desired* state (what the operator asked for), the
//! engine's memory of the container slots it manages, engine metadata and the event log's rows.
//! It must not hold *actual* state: that is always read from the runtime.
//!
//! Queries are checked at run time (`sqlx::query`), so building the crate needs no database.
//! Each table has its own file; [`connect`] chooses the backend from the URL.

// Runs `$body` once per backend with `$pool` bound to that backend's pool. Each arm is
// type-checked on its own, so the body can be written once for both `SqlitePool` and `PgPool`.
// Defined before the submodules so that they can use it.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

mod build_usage;
mod builds;
mod connect;
mod containers;
mod desired;
mod error;
pub(crate) mod events;
mod health;
mod invoices;
mod meta;
mod origins;
mod placements;
mod quotas;
mod rollouts;
mod scope;
pub(crate) mod secrets;
mod templated;
mod tokens;
mod usage;

use sqlx::{PgPool, SqlitePool};

pub use connect::StoreOptions;
pub use containers::ContainerRecord;
pub use desired::DesiredService;
pub use error::StoreError;
pub use error::redact_url;
pub(crate) use events::EventSink;
pub(crate) use invoices::{Charged, NotCharged};
pub use placements::Placement;
pub use rollouts::{Rollout, ServiceRevision};
pub use scope::Scope;
pub use templated::TemplatedStack;
pub(crate) use tokens::TokenRow;

/// A handle on the engine's database. Cheap to clone: clones share one connection pool.
///
/// Open it with [`Store::open`]; the URL picks the backend:
/// `sqlite://path/to/windlass.db` (created with its directory if missing) or
/// `postgres://user:password@host:port/database`.
///
/// Its `Debug` names the backend only: the pool's connect options hold the password.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_kind())
            .finish_non_exhaustive()
    }
}

/// The pool behind a [`Store`].
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// An SQLite file (or an in-memory SQLite database, for tests).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Store {
    /// Opens the store at `url` with default [`StoreOptions`] and brings its schema up to date.
    ///
    /// Accepted URLs: `sqlite://path/to.db`, `sqlite:path/to.db`, `sqlite::memory:`,
    /// `postgres://…` and `postgresql://…`. Running migrations twice is a no-op.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// Opens the store at `url` with explicit pool options; see [`Store::open`].
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend = connect::connect(url, options).await?;
        Ok(Store { backend })
    }

    /// Which backend this store uses.
    pub fn backend_kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes every connection; waits for checked-out connections to come back first, which
    /// includes the connection an open [`EventLog`](crate::EventLog) reserves for its writer:
    /// close the log first. Other clones of this store fail from then on.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Milliseconds since the Unix epoch, the unit of every `*_ms` column.
pub(crate) fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
