//! The store against real databases: every backend test runs on SQLite and on PostgreSQL.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use anyhow::ensure;
use common::db::{TestDb, backend_tests};
use serde_json::json;
use windlass::{
    BackendKind, ContainerRecord, DesiredService, Scope, StackOrigin, Store, StoreError,
};

backend_tests!(
    migrations_are_idempotent,
    desired_services_crud,
    container_records_crud,
    engine_meta_crud,
    stack_origins_crud,
    stack_templates_crud,
);

async fn migrations_are_idempotent(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    let expected = if db.backend == "sqlite" {
        BackendKind::Sqlite
    } else {
        BackendKind::Postgres
    };
    assert_eq!(store.backend_kind(), expected);
    store.set_meta("engine.id", "dev-1").await?;
    store.close().await;

    // Opening again runs the migrator again: nothing to do, nothing lost.
    let store = db.open().await?;
    assert_eq!(store.get_meta("engine.id").await?.as_deref(), Some("dev-1"));
    // And a third open while the second is still open.
    let again = db.open().await?;
    assert_eq!(again.get_meta("engine.id").await?.as_deref(), Some("dev-1"));
    Ok(())
}

fn desired(org: &str, stack: &str, service: &str, revision: u64) -> DesiredService {
    DesiredService {
        org: org.into(),
        stack: stack.into(),
        service: service.into(),
        revision,
        replicas: 2,
        spec: json!({ "image": format!("local/{service}:1"), "env": { "PORT": "8080" } }),
        config_hash: format!("hash-{service}-{revision}"),
        updated_ms: 1_700_000_000_000 + revision as i64,
    }
}

async fn desired_services_crud(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    assert_eq!(
        store.get_desired_service("acme", "shop", "web").await?,
        None
    );

    let services = [
        desired("acme", "shop", "web", 1),
        desired("acme", "shop", "api", 1),
        desired("acme", "blog", "web", 3),
        desired("globex", "shop", "web", 1),
    ];
    for service in &services {
        store.upsert_desired_service(service).await?;
    }
    assert_eq!(
        store
            .get_desired_service("acme", "shop", "web")
            .await?
            .as_ref(),
        Some(&services[0])
    );

    // Upsert replaces every column.
    let mut web = desired("acme", "shop", "web", 2);
    web.replicas = 5;
    web.spec = json!({ "image": "local/web:2", "ports": [80, 443], "big": u64::MAX });
    store.upsert_desired_service(&web).await?;
    assert_eq!(
        store.get_desired_service("acme", "shop", "web").await?,
        Some(web.clone())
    );

    let names = |list: Vec<DesiredService>| {
        list.into_iter()
            .map(|s| format!("{}/{}/{}", s.org, s.stack, s.service))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_desired_services(Scope::All).await?),
        [
            "acme/blog/web",
            "acme/shop/api",
            "acme/shop/web",
            "globex/shop/web"
        ]
    );
    assert_eq!(
        names(store.list_desired_services(Scope::Org("acme")).await?),
        ["acme/blog/web", "acme/shop/api", "acme/shop/web"]
    );
    assert_eq!(
        names(
            store
                .list_desired_services(Scope::Stack {
                    org: "acme",
                    stack: "shop"
                })
                .await?
        ),
        ["acme/shop/api", "acme/shop/web"]
    );
    assert_eq!(
        store
            .list_desired_services(Scope::Service {
                org: "acme",
                stack: "shop",
                service: "web"
            })
            .await?,
        [web]
    );

    assert!(store.delete_desired_service("acme", "shop", "web").await?);
    assert!(!store.delete_desired_service("acme", "shop", "web").await?);
    assert_eq!(
        store.get_desired_service("acme", "shop", "web").await?,
        None
    );
    assert_eq!(store.list_desired_services(Scope::All).await?.len(), 3);
    Ok(())
}

fn record(service: &str, slot: u32) -> ContainerRecord {
    ContainerRecord {
        container_name: format!("windlass-acme-shop-{service}-{slot}"),
        org: "acme".into(),
        stack: "shop".into(),
        service: service.into(),
        slot,
        container_id: None,
        state: "creating".into(),
        restart_count: 0,
        last_exit_code: None,
        backoff_until_ms: None,
        config_hash: "h1".into(),
        updated_ms: 1_700_000_000_000,
    }
}

async fn container_records_crud(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    for (service, slot) in [("web", 1), ("web", 0), ("api", 0)] {
        store
            .upsert_container_record(&record(service, slot))
            .await?;
    }
    let web0 = record("web", 0);
    assert_eq!(
        store.get_container_record(&web0.container_name).await?,
        Some(web0.clone())
    );
    assert_eq!(store.get_container_record("nope").await?, None);

    // Nullable columns go from NULL to values and back.
    let mut crashed = web0.clone();
    crashed.container_id = Some("4f2a9c".into());
    crashed.state = "backing-off".into();
    crashed.restart_count = 3;
    crashed.last_exit_code = Some(137);
    crashed.backoff_until_ms = Some(1_700_000_060_000);
    crashed.updated_ms += 10;
    store.upsert_container_record(&crashed).await?;
    assert_eq!(
        store.get_container_record(&web0.container_name).await?,
        Some(crashed.clone())
    );
    let mut running = crashed.clone();
    running.state = "running".into();
    running.last_exit_code = None;
    running.backoff_until_ms = None;
    store.upsert_container_record(&running).await?;
    assert_eq!(
        store.get_container_record(&web0.container_name).await?,
        Some(running.clone())
    );

    let web = store
        .list_container_records(Scope::Service {
            org: "acme",
            stack: "shop",
            service: "web",
        })
        .await?;
    assert_eq!(
        web.iter().map(|r| r.slot).collect::<Vec<_>>(),
        [0, 1],
        "ordered by slot"
    );
    assert_eq!(web[0], running);
    assert_eq!(
        store
            .list_container_records(Scope::Org("acme"))
            .await?
            .len(),
        3
    );
    assert_eq!(
        store
            .list_container_records(Scope::Org("globex"))
            .await?
            .len(),
        0
    );

    assert!(store.delete_container_record(&web0.container_name).await?);
    assert!(!store.delete_container_record(&web0.container_name).await?);
    assert_eq!(store.list_container_records(Scope::All).await?.len(), 2);
    Ok(())
}

async fn engine_meta_crud(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    assert_eq!(store.get_meta("engine.id").await?, None);
    // The first writer wins; later callers read its value.
    assert_eq!(
        store.get_or_insert_meta("engine.id", "dev-1").await?,
        "dev-1"
    );
    assert_eq!(
        store.get_or_insert_meta("engine.id", "dev-2").await?,
        "dev-1"
    );
    store.set_meta("engine.id", "dev-3").await?;
    assert_eq!(store.get_meta("engine.id").await?.as_deref(), Some("dev-3"));
    assert!(store.delete_meta("engine.id").await?);
    assert!(!store.delete_meta("engine.id").await?);
    assert_eq!(store.get_meta("engine.id").await?, None);
    Ok(())
}

async fn stack_origins_crud(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    assert_eq!(store.get_stack_origin("acme", "shop").await?, None);
    store
        .set_stack_origin("acme", "shop", StackOrigin::File)
        .await?;
    store
        .set_stack_origin("acme", "blog", StackOrigin::File)
        .await?;
    store
        .set_stack_origin("globex", "crm", StackOrigin::Api)
        .await?;
    let pair = |org: &str, stack: &str| (org.to_owned(), stack.to_owned());
    assert_eq!(
        store.list_stacks_from(StackOrigin::File).await?,
        [pair("acme", "blog"), pair("acme", "shop")]
    );
    // The last declaration wins, and survives a reopen.
    store
        .set_stack_origin("acme", "blog", StackOrigin::Api)
        .await?;
    store.close().await;
    let store = db.open().await?;
    assert_eq!(
        store.get_stack_origin("acme", "blog").await?,
        Some(StackOrigin::Api)
    );
    assert_eq!(
        store.list_stacks_from(StackOrigin::File).await?,
        [pair("acme", "shop")]
    );
    assert_eq!(
        store.list_stacks_from(StackOrigin::Api).await?,
        [pair("acme", "blog"), pair("globex", "crm")]
    );
    assert!(store.delete_stack_origin("acme", "shop").await?);
    assert!(!store.delete_stack_origin("acme", "shop").await?);
    assert!(store.list_stacks_from(StackOrigin::File).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn unsupported_url_names_the_expected_schemes() {
    let error = Store::open("mysql://root:hunter2@localhost/windlass")
        .await
        .expect_err("mysql is not a backend");
    assert!(
        matches!(error, StoreError::UnsupportedUrl { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("sqlite://") && message.contains("postgres://"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "password leaked: {message}");
}

#[tokio::test]
async fn sqlite_creates_missing_directories() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested/deeper/windlass.db");
    let store = Store::open(&format!("sqlite://{}", path.display())).await?;
    store.set_meta("k", "v").await?;
    ensure!(path.exists(), "{} was not created", path.display());
    Ok(())
}

#[tokio::test]
async fn sqlite_in_memory_works() -> anyhow::Result<()> {
    let store = Store::open("sqlite::memory:").await?;
    store.set_meta("k", "v").await?;
    assert_eq!(store.get_meta("k").await?.as_deref(), Some("v"));
    Ok(())
}

async fn stack_templates_crud(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    let params = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(store.get_stack_template("acme", "shop").await?, None);
    store
        .set_stack_template("acme", "shop", "web", &params(&[("db_password", "s3cret")]))
        .await?;
    store
        .set_stack_template("globex", "crm", "web", &params(&[]))
        .await?;
    store
        .set_stack_template("acme", "site", "py-site", &params(&[("image", "x:1")]))
        .await?;
    // The last rendering wins, and survives a reopen.
    store
        .set_stack_template(
            "acme",
            "shop",
            "web",
            &params(&[("db_password", "other"), ("web_replicas", "2")]),
        )
        .await?;
    store.close().await;
    let store = db.open().await?;
    assert_eq!(
        store.list_stacks_of_template("web").await?,
        [
            (
                "acme".to_owned(),
                "shop".to_owned(),
                params(&[("db_password", "other"), ("web_replicas", "2")])
            ),
            ("globex".to_owned(), "crm".to_owned(), params(&[])),
        ]
    );
    assert_eq!(
        store.get_stack_template("acme", "site").await?,
        Some(("py-site".to_owned(), params(&[("image", "x:1")])))
    );
    assert!(store.list_stacks_of_template("nope").await?.is_empty());
    assert!(store.delete_stack_template("acme", "shop").await?);
    assert!(!store.delete_stack_template("acme", "shop").await?);
    assert_eq!(store.list_stacks_of_template("web").await?.len(), 1);
    Ok(())
}
