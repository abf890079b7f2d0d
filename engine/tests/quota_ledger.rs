//! The quota check reads what an org holds from the engine's ledger, not the store: this
//! engine's own writes (apply, remove, stored limits) count at once, in a burst; another
//! engine's writes on the same store count once the ledger's entry is older than a second.
//! On both store backends.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use windlass::billing::{BillingConfig, Quotas};
use windlass::{Engine, EngineError, ServiceSpec};
use windlass_test_support::db::TestDb;
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;

fn billing() -> BillingConfig {
    let mut billing = BillingConfig::default();
    billing.default_quotas = Quotas::unlimited().with_cpu_millis(1_000);
    billing
}

async fn engine(scope: &EngineScope, db: &TestDb, id: &str) -> anyhow::Result<Engine> {
    windlass_test_support::docker::connect_with_busybox().await?;
    Ok(scope
        .builder()
        .with_engine_id(id)
        .with_store_url(&db.url)
        .with_billing(billing())
        .build()
        .await?)
}

fn service(name: &str, cpu: &str) -> ServiceSpec {
    ServiceSpec::new(name, BUSYBOX).with_cpu(cpu)
}

/// The CPU use a refusal reports, or `None` when the check passed.
async fn refused_at(engine: &Engine, name: &str, cpu: &str) -> Option<u64> {
    match engine
        .check_quota("acme", "shop", &service(name, cpu))
        .await
    {
        Ok(()) => None,
        Err(EngineError::QuotaExceeded(denial)) => {
            assert_eq!(denial.resource, "cpu_millis", "{denial:?}");
            Some(denial.current)
        }
        Err(other) => panic!("{other}"),
    }
}

windlass_test_support::backend_tests!(own_writes_count_at_once_and_other_engines_within_a_second);

async fn own_writes_count_at_once_and_other_engines_within_a_second(
    db: &TestDb,
) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let a = engine(&scope, db, &format!("{}-a", scope.id)).await?;
    let b = engine(&scope, db, &format!("{}-b", scope.id)).await?;
    // B has read acme's (empty) holding: its ledger entry is fresh.
    assert_eq!(refused_at(&b, "probe", "0.1").await, None);

    // A burst on A: each apply counts for the next check at once.
    a.apply("acme", "shop", service("s1", "0.5")).await?;
    a.apply("acme", "shop", service("s2", "0.25")).await?;
    assert_eq!(refused_at(&a, "s3", "0.3").await, Some(750));
    let denied = a.apply("acme", "shop", service("s3", "0.3")).await;
    assert!(
        matches!(denied, Err(EngineError::QuotaExceeded(_))),
        "{denied:?}"
    );
    // A changed service counts as changed, not twice.
    assert_eq!(refused_at(&a, "s2", "0.5").await, None);
    // A removal frees its share at once.
    assert!(a.remove_service("acme", "shop", "s1").await?);
    a.apply("acme", "shop", service("s3", "0.3")).await?;
    assert_eq!(refused_at(&a, "s4", "0.5").await, Some(550));

    // B sees A's writes once its entry is older than a second.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(refused_at(&b, "s4", "0.5").await, Some(550));

    // Limits stored through A count on A at once, on B within a second.
    a.set_quotas("acme", Quotas::unlimited().with_cpu_millis(2_000))
        .await?;
    assert_eq!(refused_at(&a, "s4", "0.5").await, None);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(refused_at(&b, "s4", "0.5").await, None);
    Ok(())
}
