//! What the API test files share: an engine and its API served on loopback, tokens, the
//! outside tools' paths.

#![allow(dead_code)]

use std::net::SocketAddr;

use windlass::Engine;
use windlass::secrets::SecretsConfig;
use windlass_runner::api::{ApiState, EVERY_ORG, Role};
use windlass_test_support::engine::EngineScope;
use windlass_test_support::http::Api;

/// An engine and its API on a loopback port; stops serving when dropped. The engine does not
/// run its reconciler: what the API stores is not started in Docker. It keeps secrets (a key
/// file in a temporary directory), as the runner always does.
pub struct Server {
    pub api: Api,
    pub state: ApiState,
    pub engine: Engine,
    pub address: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    _scope: EngineScope,
    _keys: tempfile::TempDir,
}

pub async fn server() -> anyhow::Result<Server> {
    let scope = EngineScope::new();
    windlass_test_support::docker::connect_with_busybox().await?;
    let keys = tempfile::tempdir()?;
    // Secret files live on a tmpfs (the vault refuses a disk directory).
    let runtime_dir = format!("/dev/shm/windlass-test-{}", scope.id);
    let engine = scope
        .builder()
        .with_secrets(
            SecretsConfig::key_file(keys.path().join("secrets.key")).with_runtime_dir(runtime_dir),
        )
        .build()
        .await?;
    let state = ApiState::new(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = windlass_runner::api::router(state.clone());
    tokio::spawn(windlass_runner::api::serve(listener, router, async {
        stopped.await.ok();
    }));
    Ok(Server {
        api: Api::new(address),
        state,
        engine,
        address,
        _stop: stop,
        _scope: scope,
        _keys: keys,
    })
}

impl Server {
    /// A new token of `org` with `role`.
    pub async fn token(&self, org: &str, role: Role) -> anyhow::Result<String> {
        Ok(self.state.tokens.create("test", org, role).await?.secret)
    }

    /// A new admin token of every org.
    pub async fn admin(&self) -> anyhow::Result<String> {
        self.token(EVERY_ORG, Role::Admin).await
    }
}

/// The path of an outside tool that `scripts/setup-api-checks.sh` installs and exports as
/// `var`; fails (never skips) when it is missing.
pub fn tool(var: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::var_os(var)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{var} is not set: run `eval \"$(bash scripts/setup-api-checks.sh)\"` first \
             (scripts/test.sh and .ci/run do)"
            )
        })?;
    anyhow::ensure!(
        path.is_file(),
        "{var}={} does not exist: run `bash scripts/setup-api-checks.sh`",
        path.display()
    );
    Ok(path)
}

/// Every path the router serves, read from the router itself (its `Debug` output lists its
/// route table), so a route added without `routes!` is found too.
pub fn served_paths(state: ApiState) -> Vec<String> {
    let router = format!("{:?}", windlass_runner::api::router(state));
    let mut paths: Vec<String> = router
        .split('"')
        .filter(|s| s.starts_with('/') && !s.contains("__private__axum"))
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// `path` with its parameters filled in.
pub fn fill(path: &str) -> String {
    path.replace("{name}", "wl_x_acme_shop_web_0")
        .replace("{org}", "acme")
        .replace("{stack}", "shop")
        .replace("{service}", "web")
        .replace("{provider}", "github")
        .replace("{id}", "b-0000000000000000")
}
