//! Secrets the engine reads for its own use, against real stores (SQLite file and PostgreSQL)
//! and a real Wasm component: a plugin granted a secret reads its latest version through
//! `config-get` (the next call after a rotation sees the new one), a secret not set yet leaves
//! the key unset and says so in an event, a granted secret cannot be deleted, every read is an
//! audit event, and no value is in an event, a `Debug` or the store's plain tables.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::path::PathBuf;

use common::backend_tests;
use common::db::TestDb;
use common::engine::EngineScope;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec, SecretConfig, StackTemplate};
use windlass::secrets::secrecy::{ExposeSecret, SecretString};
use windlass::secrets::{PluginSecret, SecretsConfig};
use windlass::{Engine, EventFilter};

fn distinctive(tag: &str) -> String {
    format!("local/wl-secret-{tag}-{}", common::docker::suffix())
}

fn value(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

struct Setup {
    scope: EngineScope,
    key_dir: tempfile::TempDir,
    runtime_dir: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let scope = EngineScope::new();
        let runtime_dir = PathBuf::from(format!("/dev/shm/windlass-test-{}", scope.id));
        Setup {
            scope,
            key_dir: tempfile::tempdir().unwrap(),
            runtime_dir,
        }
    }

    async fn engine(&self, db: &TestDb) -> anyhow::Result<Engine> {
        common::docker::connect_with_busybox().await?;
        Ok(self
            .scope
            .builder()
            .with_store_url(&db.url)
            .with_secrets(
                SecretsConfig::key_file(self.key_dir.path().join("secrets.key"))
                    .with_runtime_dir(&self.runtime_dir),
            )
            .build()
            .await?)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.runtime_dir).ok();
    }
}

/// The stack template whose `describe` reports config `default_postgres_image` as the
/// default of its `postgres_image` parameter: what it read through `config-get`.
async fn template(values: SecretConfig) -> anyhow::Result<(PluginSpec, StackTemplate)> {
    let host = PluginHost::builder().build()?;
    let spec = PluginSpec::from_file(
        "web-postgres",
        common::plugins::component("stack_web_postgres.wasm")?,
    )
    .with_kind(PluginKind::StackTemplate)
    .with_config("unrelated", "plain")
    .with_secret_config(values);
    let plugin = host.load(spec.clone()).await?;
    Ok((spec, plugin.stack_template().unwrap()))
}

async fn postgres_default(template: &StackTemplate) -> anyhow::Result<Option<String>> {
    let info = template.describe().await?;
    Ok(info
        .parameters
        .into_iter()
        .find(|p| p.name == "postgres_image")
        .and_then(|p| p.default))
}

async fn events(engine: &Engine, kind: &str) -> anyhow::Result<Vec<windlass::Event>> {
    Ok(engine
        .events(&EventFilter {
            kind: Some(kind.to_owned()),
            limit: Some(10_000),
            ..EventFilter::default()
        })
        .await?)
}

backend_tests!(
    a_granted_secret_reaches_the_plugin_and_its_rotation_the_next_call,
    a_secret_set_after_the_grant_fills_it,
);

async fn a_granted_secret_reaches_the_plugin_and_its_rotation_the_next_call(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    let first = distinctive("first");
    let second = distinctive("second");
    engine
        .set_secret("ops", "pg-image", value(&first), "ops-token")
        .await?;

    let values = SecretConfig::new();
    let (spec, template) = template(values.clone()).await?;
    engine
        .grant_plugin_secrets(
            "web-postgres",
            vec![PluginSecret::new(
                "default_postgres_image",
                "ops",
                "pg-image",
            )],
            values.clone(),
        )
        .await?;
    assert_eq!(
        postgres_default(&template).await?.as_deref(),
        Some(first.as_str())
    );

    // A new version: the next call sees it, with no reload.
    engine
        .set_secret("ops", "pg-image", value(&second), "ci-token")
        .await?;
    assert_eq!(
        postgres_default(&template).await?.as_deref(),
        Some(second.as_str())
    );

    // Each read is audited with its purpose and version, not its value.
    let reads = events(&engine, "secret-read").await?;
    let versions: Vec<(u64, &str, &str)> = reads
        .iter()
        .map(|e| {
            (
                e.payload["version"].as_u64().unwrap(),
                e.payload["purpose"].as_str().unwrap(),
                e.payload["plugin"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (1, "plugin-config", "web-postgres"),
            (2, "plugin-config", "web-postgres")
        ]
    );

    // Granted, it cannot be deleted; the refusal names the plugin.
    let refused = engine
        .delete_secret("ops", "pg-image", "ops-token")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "secret-in-use", "{refused}");
    assert!(
        refused.to_string().contains("plugin web-postgres"),
        "{refused}"
    );

    // The engine's own reads (builds, adapters): the latest version, audited.
    let read = engine
        .secret_value("ops", "pg-image", "adapter-token")
        .await?;
    assert_eq!(
        (read.version, read.value.expose_secret()),
        (2, second.as_str())
    );
    let adapter_read = events(&engine, "secret-read")
        .await?
        .into_iter()
        .find(|e| e.payload["purpose"] == "adapter-token")
        .unwrap();
    assert_eq!(adapter_read.payload["secret"], "pg-image");
    let missing = engine
        .secret_value("ops", "nothing", "adapter-token")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "not-found", "{missing}");

    // No value in any event, any Debug.
    let all = engine
        .events(&EventFilter {
            limit: Some(100_000),
            ..EventFilter::default()
        })
        .await?;
    let outputs = [
        serde_json::to_string(&all)?,
        format!("{spec:?}"),
        format!("{values:?}"),
        format!("{read:?}"),
        format!("{refused:?}"),
    ];
    for output in &outputs {
        assert!(
            !output.contains(&first) && !output.contains(&second),
            "a value leaked: {output}"
        );
    }
    assert!(format!("{spec:?}").contains("default_postgres_image"));
    Ok(())
}

async fn a_secret_set_after_the_grant_fills_it(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    let values = SecretConfig::new();
    let (_, template) = template(values.clone()).await?;
    engine
        .grant_plugin_secrets(
            "web-postgres",
            vec![PluginSecret::new(
                "default_postgres_image",
                "ops",
                "pg-image",
            )],
            values,
        )
        .await?;
    // Not set yet: the plugin reads none (its own default) and an event says why.
    assert_eq!(
        postgres_default(&template).await?.as_deref(),
        Some("local/postgres:15")
    );
    let unavailable = events(&engine, "plugin-secret-unavailable").await?;
    assert_eq!(unavailable.len(), 1, "{unavailable:?}");
    assert_eq!(unavailable[0].payload["plugin"], "web-postgres");
    assert_eq!(unavailable[0].payload["key"], "default_postgres_image");
    assert_eq!(unavailable[0].org.as_deref(), Some("ops"));

    let image = distinctive("late");
    engine
        .set_secret("ops", "pg-image", value(&image), "ops-token")
        .await?;
    assert_eq!(
        postgres_default(&template).await?.as_deref(),
        Some(image.as_str())
    );
    Ok(())
}
