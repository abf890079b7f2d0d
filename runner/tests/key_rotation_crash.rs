//! `kill -9` during a key rotation: a real runner process on a real store (an SQLite file, and
//! a PostgreSQL schema) holds a few hundred secret versions; `POST /v1/secrets/rotate-key` is sent and the process is killed
//! with SIGKILL after a growing delay (before, during and after the rotation's transaction).
//! After each restart every version is sealed under one and the same key — the one the store
//! records and the key file holds — and every value decrypts (the listing opens each one and
//! says `ok`); no pending key file is left behind.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod process;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use process::Runner;
use serde_json::json;
use sqlx::Connection as _;
use windlass_test_support::db::TestDb;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::http::Api;

const SECRETS: usize = 60;
const VERSIONS: usize = 5;

/// The distinct key ids of the stored versions, and the id the store records.
async fn sealed_under(db: &TestDb) -> anyhow::Result<(BTreeSet<String>, String)> {
    const IDS: &str = "SELECT DISTINCT key_id FROM secret_versions";
    const RECORDED: &str = "SELECT value FROM engine_meta WHERE key = 'secrets.key_id'";
    let (ids, (recorded,)): (Vec<(String,)>, (String,)) = if db.backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
        (
            sqlx::query_as(IDS).fetch_all(&mut conn).await?,
            sqlx::query_as(RECORDED).fetch_one(&mut conn).await?,
        )
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        (
            sqlx::query_as(IDS).fetch_all(&mut conn).await?,
            sqlx::query_as(RECORDED).fetch_one(&mut conn).await?,
        )
    };
    Ok((ids.into_iter().map(|(id,)| id).collect(), recorded))
}

windlass_test_support::backend_tests!(
    every_value_decrypts_with_exactly_one_key_after_a_kill_during_rotation
);

async fn every_value_decrypts_with_exactly_one_key_after_a_kill_during_rotation(
    db: &TestDb,
) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let mut runner = Runner::start_with_store(&scope, dir.path(), Some(&db.url)).await?;
    let address: SocketAddr = runner.url.trim_start_matches("http://").parse()?;
    let api = Api::new(address);
    let token = runner.token.clone();
    for i in 0..SECRETS {
        for v in 0..VERSIONS {
            let set = api
                .call(
                    "put",
                    &format!("/v1/orgs/acme/secrets/s{i}"),
                    Some(&token),
                    Some(&json!({ "value": format!("value-{i}-{v}") })),
                )
                .await?;
            assert_eq!(set.status, hyper::StatusCode::OK, "{set:?}");
        }
    }
    let data = dir.path().join("data");
    let key_file = data.join("secrets.key");
    let pending = data.join("secrets.key.new");
    let mut keys_seen = BTreeSet::new();
    for delay_ms in [0u64, 5, 15, 30, 60, 120, 250, 500] {
        let rotate = {
            let api = Api::new(address);
            let token = token.clone();
            tokio::spawn(async move {
                api.call("post", "/v1/secrets/rotate-key", Some(&token), None)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        runner.kill_and_restart()?;
        let _ = rotate.await;

        let (ids, recorded) = sealed_under(db).await?;
        assert_eq!(
            ids,
            BTreeSet::from([recorded.clone()]),
            "after a kill {delay_ms} ms into a rotation every version is under one key"
        );
        let key = windlass::secrets::SecretsKey::load_or_create(&key_file)?;
        assert_eq!(key.id(), recorded, "the key file holds the store's key");
        assert!(!pending.exists(), "a pending key file was left behind");
        keys_seen.insert(recorded);

        let listed = api
            .call("get", "/v1/orgs/acme/secrets", Some(&token), None)
            .await?;
        assert_eq!(listed.status, hyper::StatusCode::OK, "{listed:?}");
        let secrets = listed.body.as_array().unwrap();
        assert_eq!(secrets.len(), SECRETS);
        for secret in secrets {
            for version in secret["versions"].as_array().unwrap() {
                assert_eq!(version["status"], "ok", "{secret}");
            }
        }
        assert!(runner.is_running());
    }
    // Some kills landed after a commit: the key did change along the way.
    println!("keys over the run: {}", keys_seen.len());
    assert!(keys_seen.len() > 1, "no rotation ever committed");
    Ok(())
}
