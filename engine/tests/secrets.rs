//! Secrets against real stores (SQLite file and PostgreSQL) and a real Docker daemon: values
//! sealed at rest, versions and users listed without values, audit events, key checks at
//! start, key rotation in one transaction, corruption reported per secret, deletion refused
//! while in use, and injection as tmpfs files (mode 0400, owned by the container's user, absent
//! from `docker inspect`) or variables, rolled on rotation unless `restart = "manual"`.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::backend_tests;
use common::db::TestDb;
use common::docker::BUSYBOX;
use common::engine::{EngineScope, wait_event};
use sqlx::Connection as _;
use windlass::secrets::secrecy::SecretString;
use windlass::secrets::{SecretError, SecretRef, SecretRestart, SecretsConfig, SecretsKey};
use windlass::{ContainerFilter, ContainerStatus, Engine, EngineError, EventFilter, ServiceSpec};

/// A value nothing else in the system could contain by chance.
fn distinctive(tag: &str) -> String {
    format!("wl-secret-{tag}-{}", common::docker::suffix())
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

    fn key_file(&self) -> PathBuf {
        self.key_dir.path().join("secrets.key")
    }

    fn config(&self) -> SecretsConfig {
        SecretsConfig::key_file(self.key_file()).with_runtime_dir(&self.runtime_dir)
    }

    async fn engine(&self, db: &TestDb) -> anyhow::Result<Engine> {
        common::docker::connect_with_busybox().await?;
        Ok(self
            .scope
            .builder()
            .with_store_url(&db.url)
            .with_secrets(self.config())
            .build()
            .await?)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        make_writable(&self.runtime_dir);
        std::fs::remove_dir_all(&self.runtime_dir).ok();
    }
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700)).ok();
        }
    }
}

fn value(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// Every value of every table as text, except the ciphertexts of `secret_versions`.
async fn dump_store(db: &TestDb) -> anyhow::Result<String> {
    let mut out = String::new();
    if db.backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await?;
        for (table,) in tables {
            let columns: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&mut conn)
            .await?;
            for (column,) in columns.into_iter().filter(|(c,)| c != "ciphertext") {
                let values: Vec<(Option<Vec<u8>>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
                )))
                .fetch_all(&mut conn)
                .await?;
                out.extend(
                    values
                        .into_iter()
                        .filter_map(|(v,)| v)
                        .map(|v| String::from_utf8_lossy(&v).into_owned()),
                );
            }
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema()",
        )
        .fetch_all(&mut conn)
        .await?;
        for (table, column) in columns.into_iter().filter(|(_, c)| c != "ciphertext") {
            let values: Vec<(Option<String>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT \"{column}\"::text FROM \"{table}\""
            )))
            .fetch_all(&mut conn)
            .await?;
            out.extend(values.into_iter().filter_map(|(v,)| v));
        }
    }
    anyhow::ensure!(
        out.contains("db-password"),
        "the dump misses the secrets table"
    );
    Ok(out)
}

/// The raw rows of `secret_versions`: (name, version, key id, ciphertext).
async fn sealed_rows(db: &TestDb) -> anyhow::Result<Vec<(String, i64, String, Vec<u8>)>> {
    let query = "SELECT name, version, key_id, ciphertext FROM secret_versions \
                 ORDER BY org, name, version";
    Ok(if db.backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
        sqlx::query_as(query).fetch_all(&mut conn).await?
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        sqlx::query_as(query).fetch_all(&mut conn).await?
    })
}

async fn set_ciphertext(db: &TestDb, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let query = "UPDATE secret_versions SET ciphertext = $1 WHERE name = $2";
    if db.backend == "sqlite" {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
        sqlx::query(query)
            .bind(bytes)
            .bind(name)
            .execute(&mut conn)
            .await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await?;
        sqlx::query(query)
            .bind(bytes)
            .bind(name)
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

async fn all_events(engine: &Engine) -> anyhow::Result<String> {
    let events = engine
        .events(&EventFilter {
            limit: Some(100_000),
            ..EventFilter::default()
        })
        .await?;
    Ok(serde_json::to_string(&events)?)
}

backend_tests!(
    versions_are_sealed_listed_and_audited_without_values,
    a_wrong_key_is_refused_and_changes_nothing,
    key_rotation_reseals_every_value_under_one_key,
    a_corrupted_ciphertext_is_reported_for_that_secret_only,
    missing_and_used_secrets_are_refused_by_name,
    secrets_are_injected_as_tmpfs_files_and_rolled_on_rotation,
);

async fn versions_are_sealed_listed_and_audited_without_values(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    let first = distinctive("first");
    let second = distinctive("second");
    let one = engine
        .set_secret("acme", "db-password", value(&first), "ops-token")
        .await?;
    assert_eq!(one.version, 1);
    let two = engine
        .set_secret("acme", "db-password", value(&second), "ci-token")
        .await?;
    assert_eq!(two.version, 2);
    engine
        .set_secret("globex", "db-password", value(&first), "ops-token")
        .await?;

    let listed = engine.secrets("acme").await?;
    assert_eq!(listed.len(), 1);
    let info = &listed[0];
    assert_eq!(
        (info.name.as_str(), info.latest_version),
        ("db-password", 2)
    );
    let versions: Vec<(u64, &str, &str)> = info
        .versions
        .iter()
        .map(|v| (v.version, v.created_by.as_str(), v.status))
        .collect();
    assert_eq!(versions, [(1, "ops-token", "ok"), (2, "ci-token", "ok")]);

    // Audit events name the actor; nothing anywhere holds a value.
    let created = wait_event(&engine, "secret-created", Duration::from_secs(5), |e| {
        e.org.as_deref() == Some("acme")
    })
    .await?;
    assert_eq!(created.payload["actor"], "ops-token");
    let updated = wait_event(&engine, "secret-updated", Duration::from_secs(5), |_| true).await?;
    assert_eq!(updated.payload["actor"], "ci-token");
    assert_eq!(updated.payload["version"], 2);
    let outputs = [
        all_events(&engine).await?,
        serde_json::to_string(&listed)?,
        format!("{listed:?}"),
        dump_store(db).await?,
    ];
    for output in &outputs {
        assert!(
            !output.contains(&first) && !output.contains(&second),
            "a value leaked: {output}"
        );
    }
    // Ciphertexts do not contain the plaintext, and each is under the engine's key.
    let key = SecretsKey::load_or_create(&setup.key_file())?;
    for (name, _, key_id, ciphertext) in sealed_rows(db).await? {
        assert_eq!(key_id, key.id(), "{name}");
        for plain in [&first, &second] {
            assert!(
                !ciphertext
                    .windows(plain.len())
                    .any(|w| w == plain.as_bytes())
            );
        }
    }
    // Bad input: empty and oversized values, bad names; the value is never repeated.
    let empty = engine
        .set_secret("acme", "x", value(""), "t")
        .await
        .unwrap_err();
    assert_eq!(empty.code(), "validation", "{empty}");
    let huge = "h".repeat(windlass::secrets::MAX_VALUE_BYTES + 1);
    let too_big = engine
        .set_secret("acme", "x", value(&huge), "t")
        .await
        .unwrap_err();
    assert!(!too_big.to_string().contains("hhhh"), "{too_big}");
    let bad_name = engine
        .set_secret("acme", "../x", value("v"), "t")
        .await
        .unwrap_err();
    assert_eq!(bad_name.code(), "validation", "{bad_name}");
    Ok(())
}

async fn a_wrong_key_is_refused_and_changes_nothing(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new();
    {
        let engine = setup.engine(db).await?;
        engine
            .set_secret("acme", "token", value(&distinctive("k")), "ops")
            .await?;
    }
    let before = sealed_rows(db).await?;
    let other = tempfile::tempdir()?;
    let other_key = other.path().join("other.key");
    let refused = setup
        .scope
        .builder()
        .with_store_url(&db.url)
        .with_secrets(SecretsConfig::key_file(&other_key).with_runtime_dir(&setup.runtime_dir))
        .build()
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(refused, EngineError::Secret(SecretError::WrongKey { .. })),
        "{message}"
    );
    assert!(
        message.contains("wrong secrets key") && message.contains("nothing was decrypted"),
        "{message}"
    );
    assert_eq!(sealed_rows(db).await?, before, "the store changed");

    // A key from a variable that is not set: the variable is named.
    let missing = setup
        .scope
        .builder()
        .with_store_url(&db.url)
        .with_secrets(SecretsConfig::key_env("WINDLASS_TEST_UNSET_SECRETS_KEY"))
        .build()
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("WINDLASS_TEST_UNSET_SECRETS_KEY"),
        "{missing}"
    );

    // The right key still opens everything.
    let engine = setup.engine(db).await?;
    assert_eq!(engine.secrets("acme").await?[0].versions[0].status, "ok");
    Ok(())
}

async fn key_rotation_reseals_every_value_under_one_key(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    for i in 0..5 {
        engine
            .set_secret("acme", &format!("s{i}"), value(&distinctive("rot")), "ops")
            .await?;
    }
    let old = SecretsKey::load_or_create(&setup.key_file())?;
    let rotation = engine.rotate_secrets_key("admin-token").await?;
    assert_eq!(rotation.old_key_id, old.id());
    assert_eq!(rotation.reencrypted, 5);
    let new = SecretsKey::load_or_create(&setup.key_file())?;
    assert_eq!(rotation.new_key_id, new.id());
    assert!(!windlass_test_support_pending(&setup.key_file()).exists());
    for (name, _, key_id, _) in sealed_rows(db).await? {
        assert_eq!(key_id, new.id(), "{name} is not under the new key");
    }
    // The running engine and a restarted one read every value.
    engine
        .set_secret("acme", "s5", value(&distinctive("after")), "ops")
        .await?;
    drop(engine);
    let engine = setup.engine(db).await?;
    let listed = engine.secrets("acme").await?;
    assert_eq!(listed.len(), 6);
    assert!(
        listed
            .iter()
            .all(|s| s.versions.iter().all(|v| v.status == "ok")),
        "{listed:?}"
    );
    let event = wait_event(
        &engine,
        "secrets-key-rotated",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    assert_eq!(event.payload["actor"], "admin-token");
    assert_eq!(event.payload["reencrypted"], 5);

    // A key from a variable is not rotated by the engine (the operator holds it).
    let env_refused = SecretsKey::generate();
    let rotated = engine
        .rotate_secrets_key_to(env_refused.clone(), "admin")
        .await?;
    assert_eq!(rotated.new_key_id, env_refused.id());
    Ok(())
}

fn windlass_test_support_pending(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

async fn a_corrupted_ciphertext_is_reported_for_that_secret_only(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    engine
        .set_secret("acme", "good", value(&distinctive("g")), "ops")
        .await?;
    engine
        .set_secret("acme", "bad", value(&distinctive("b")), "ops")
        .await?;
    let rows = sealed_rows(db).await?;
    let (_, _, _, mut damaged) = rows.into_iter().find(|r| r.0 == "bad").unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    set_ciphertext(db, "bad", &damaged).await?;

    let listed = engine.secrets("acme").await?;
    let status = |name: &str| {
        listed
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.versions[0].status)
    };
    assert_eq!(status("bad"), Some("corrupted"));
    assert_eq!(status("good"), Some("ok"));
    // A service using the bad one fails to start, naming it; one using the good one runs.
    let uses = |name: &str, secret: &str| {
        ServiceSpec::new(name, BUSYBOX)
            .with_command(["sleep", "600"])
            .with_secret(SecretRef::file(secret))
    };
    engine.apply("acme", "app", uses("ok", "good")).await?;
    engine.apply("acme", "app", uses("broken", "bad")).await?;
    let report = engine.reconcile().await?;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("acme/bad version 1 is corrupted")),
        "{report:?}"
    );
    let running = engine.containers(&ContainerFilter::default()).await?;
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].service, "ok");
    // A key rotation refuses to carry a corrupted value over (and changes nothing).
    let before = sealed_rows(db).await?;
    let refused = engine.rotate_secrets_key("admin").await.unwrap_err();
    assert!(refused.to_string().contains("acme/bad"), "{refused}");
    assert_eq!(sealed_rows(db).await?, before);
    Ok(())
}

async fn missing_and_used_secrets_are_refused_by_name(db: &TestDb) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    let spec = ServiceSpec::new("api", BUSYBOX)
        .with_command(["sleep", "600"])
        .with_secret(SecretRef::file("api-key"));
    let refused = engine.apply("acme", "app", spec.clone()).await.unwrap_err();
    let EngineError::InvalidSpec(error) = &refused else {
        panic!("{refused}")
    };
    assert_eq!(error.field, "secrets[0].name");
    assert!(error.message.contains("`api-key`"), "{error}");
    assert!(engine.services(windlass::Scope::All).await?.is_empty());

    engine
        .set_secret("acme", "api-key", value(&distinctive("a")), "ops")
        .await?;
    let applied = engine.apply("acme", "app", spec.clone()).await?;
    let bound: ServiceSpec = serde_json::from_value(applied.spec)?;
    assert_eq!(bound.secrets[0].bound_version, Some(1));
    // A pin to a version that does not exist is refused too.
    let pinned = spec
        .clone()
        .with_secret(SecretRef::file("other").with_version(3));
    engine
        .set_secret("acme", "other", value("x"), "ops")
        .await?;
    let refused = engine.apply("acme", "app", pinned).await.unwrap_err();
    assert!(refused.to_string().contains("no version 3"), "{refused}");

    let in_use = engine
        .delete_secret("acme", "api-key", "ops")
        .await
        .unwrap_err();
    assert!(
        matches!(&in_use, EngineError::Secret(SecretError::InUse { services, .. }) if services == &["app/api".to_owned()]),
        "{in_use}"
    );
    assert_eq!(in_use.code(), "secret-in-use");
    engine.remove_service("acme", "app", "api").await?;
    engine.delete_secret("acme", "api-key", "ops").await?;
    assert!(
        engine
            .secrets("acme")
            .await?
            .iter()
            .all(|s| s.name != "api-key")
    );
    let deleted = wait_event(&engine, "secret-deleted", Duration::from_secs(5), |_| true).await?;
    assert_eq!(deleted.payload["actor"], "ops");
    Ok(())
}

/// A file secret on a tmpfs, 0400 and the container user's; an env secret; neither file value
/// in `docker inspect`; a new version rolls the service, `manual` only records it.
async fn secrets_are_injected_as_tmpfs_files_and_rolled_on_rotation(
    db: &TestDb,
) -> anyhow::Result<()> {
    let setup = Setup::new();
    let engine = setup.engine(db).await?;
    let docker = common::docker::connect().await?;
    let file_value = distinctive("file");
    let env_value = distinctive("env");
    engine
        .set_secret("acme", "db-password", value(&file_value), "ops")
        .await?;
    engine
        .set_secret("acme", "api-key", value(&env_value), "ops")
        .await?;
    let sleeper = |name: &str| {
        ServiceSpec::new(name, BUSYBOX).with_command([
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        ])
    };
    engine
        .apply(
            "acme",
            "app",
            sleeper("web")
                .with_secret(SecretRef::file("db-password"))
                .with_secret(SecretRef::env("api-key", "API_KEY")),
        )
        .await?;
    engine
        .apply(
            "acme",
            "app",
            sleeper("batch")
                .with_secret(SecretRef::file("db-password").with_restart(SecretRestart::Manual)),
        )
        .await?;
    engine.reconcile().await?;
    let containers = engine.containers(&ContainerFilter::default()).await?;
    assert_eq!(containers.len(), 2, "{containers:?}");
    let web = containers
        .iter()
        .find(|c| c.service == "web")
        .unwrap()
        .name
        .clone();
    let batch = containers
        .iter()
        .find(|c| c.service == "batch")
        .unwrap()
        .name
        .clone();

    let exec = |container: String, script: &'static str| {
        let docker = docker.clone();
        async move {
            let out = docker
                .exec(
                    &container,
                    &["sh".to_owned(), "-c".to_owned(), script.to_owned()],
                    Duration::from_secs(10),
                )
                .await?;
            anyhow::ensure!(out.exit_code == 0, "{script}: {out:?}");
            anyhow::Ok(out.stdout)
        }
    };
    assert_eq!(
        exec(web.clone(), "cat /run/secrets/db-password").await?,
        file_value
    );
    assert_eq!(
        exec(web.clone(), "stat -c '%a %u' /run/secrets/db-password")
            .await?
            .trim(),
        "400 0"
    );
    assert_eq!(
        exec(web.clone(), "printf %s \"$API_KEY\"").await?,
        env_value
    );
    // Read-only inside the container.
    let write = docker
        .exec(
            &web,
            &[
                "sh".into(),
                "-c".into(),
                "echo x > /run/secrets/db-password".into(),
            ],
            Duration::from_secs(10),
        )
        .await?;
    assert_ne!(write.exit_code, 0, "the secret file is writable");
    // On the host: a tmpfs file under the runtime dir; `docker inspect` shows the mount only.
    let dir = docker
        .inspect_container(&web)
        .await?
        .labels
        .get("dev.windlass.secrets-dir")
        .cloned()
        .unwrap();
    let host_file = setup.runtime_dir.join(dir).join("db-password");
    assert!(host_file.exists(), "{}", host_file.display());
    let inspect = std::process::Command::new("docker")
        .args(["inspect", &web])
        .output()?;
    let inspected = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success() && inspected.contains("/run/secrets"),
        "{inspected}"
    );
    assert!(
        !inspected.contains(&file_value),
        "the file secret shows in docker inspect"
    );

    // Injection reads are audited, without values.
    let read = wait_event(&engine, "secret-read", Duration::from_secs(5), |e| {
        e.container.as_deref() == Some(web.as_str())
    })
    .await?;
    assert_eq!(read.payload["actor"], "engine");
    assert!(!all_events(&engine).await?.contains(&file_value));

    // A new version: web rolls onto it (a new revision, start-first), batch only records it.
    let rotated_value = distinctive("rotated");
    let set = engine
        .set_secret("acme", "db-password", value(&rotated_value), "ops")
        .await?;
    assert_eq!(set.rolled, ["app/web"]);
    assert_eq!(set.recorded, ["app/batch"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let new_web = loop {
        engine.reconcile().await?;
        let now = engine.containers(&ContainerFilter::default()).await?;
        if let Some(c) = now.iter().find(|c| {
            c.service == "web" && c.revision == Some(2) && c.status == ContainerStatus::Running
        }) && now.iter().filter(|c| c.service == "web").count() == 1
        {
            break c.name.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "web did not roll: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        exec(new_web, "cat /run/secrets/db-password").await?,
        rotated_value
    );
    assert_eq!(
        exec(batch.clone(), "cat /run/secrets/db-password").await?,
        file_value
    );
    wait_event(
        &engine,
        "secret-rotation-recorded",
        Duration::from_secs(5),
        |e| e.service.as_deref() == Some("batch"),
    )
    .await?;
    let listed = engine.secret("acme", "db-password").await?;
    let mut uses: Vec<(String, Option<u64>)> = listed
        .used_by
        .iter()
        .map(|u| (u.service.clone(), u.version))
        .collect();
    uses.sort();
    assert_eq!(
        uses,
        [("batch".to_owned(), Some(1)), ("web".to_owned(), Some(2))]
    );

    // Removed services take their secret files with them.
    engine.remove_service("acme", "app", "web").await?;
    engine.remove_service("acme", "app", "batch").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !engine
        .containers(&ContainerFilter::default())
        .await?
        .is_empty()
    {
        engine.reconcile().await?;
        assert!(std::time::Instant::now() < deadline, "containers stay");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.reconcile().await?;
    let left: Vec<_> = std::fs::read_dir(&setup.runtime_dir)?.flatten().collect();
    assert!(left.is_empty(), "secret files left: {left:?}");
    Ok(())
}
