//! Metering, quotas and billing cycles on real containers, with a manual clock, on both store
//! backends, priced by the real `billing-hourly` component (and a hostile one).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use common::db::TestDb;
use common::docker::BUSYBOX;
use common::engine::{EngineScope, wait_event};
use windlass::billing::{BillingConfig, GracePolicy, Quotas};
use windlass::plugins::{BillingRule, PluginHost, PluginKind, PluginSpec};
use windlass::{ContainerFilter, Engine, EngineError, EventFilter, ManualClock, ServiceSpec};

/// 2026-01-01T00:00:00Z: an hour boundary.
const T0: i64 = 1_767_225_600_000;
const MINUTE: Duration = Duration::from_secs(60);
const HOUR_MS: i64 = 3_600_000;

fn plugins_dir() -> PathBuf {
    std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    )
}

/// Loads a billing rule component with `config`.
async fn rule(file: &str, name: &str, config: &[(&str, &str)]) -> anyhow::Result<BillingRule> {
    let component = plugins_dir().join(file);
    if !component.is_file() {
        bail!(
            "{} is missing: build the plugins (`bash scripts/build-plugins.sh`, or set \
             WINDLASS_PLUGINS_DIR)",
            component.display()
        );
    }
    let host = PluginHost::builder().build()?;
    let mut spec = PluginSpec::from_file(name, component).with_kind(PluginKind::BillingRule);
    for (key, value) in config {
        spec = spec.with_config(*key, *value);
    }
    let plugin = host.load(spec).await?;
    plugin.billing_rule().context("not a billing rule")
}

/// 1 EUR (100 cents) per core-hour, 10 cents per GiB-hour of memory.
async fn hourly() -> anyhow::Result<BillingRule> {
    rule(
        "billing_hourly.wasm",
        "hourly",
        &[
            ("cpu_core_hour", "100"),
            ("memory_gib_hour", "10"),
            ("currency", "EUR"),
        ],
    )
    .await
}

/// `billing-hourly` for every org but bigcorp, which `billing-tiered` prices (a free quarter
/// core-hour, then tiers).
async fn hourly_and_tiered() -> anyhow::Result<BillingConfig> {
    let mut billing = billing_with(hourly().await?, "hourly");
    let tiered = rule(
        "billing_tiered.wasm",
        "tiered",
        &[
            ("cpu_free_core_hours", "0.25"),
            ("cpu_tiers", "100,40@0.125"),
            ("memory_tiers", "10"),
        ],
    )
    .await?;
    billing
        .rules
        .insert("bigcorp".into(), ("tiered".into(), tiered));
    Ok(billing)
}

fn billing_with(rule: BillingRule, name: &str) -> BillingConfig {
    let mut config = BillingConfig::default();
    config.default_rule = Some((name.to_owned(), rule));
    config.grace = Duration::from_secs(30 * 60);
    config.on_grace_end = GracePolicy::Stop;
    config.opening_balance_minor = 1_000;
    config
}

async fn engine(
    scope: &EngineScope,
    db: &TestDb,
    clock: &ManualClock,
    billing: BillingConfig,
) -> anyhow::Result<Engine> {
    common::docker::connect_with_busybox().await?;
    Ok(scope
        .builder()
        .with_store_url(&db.url)
        .with_clock(Arc::new(clock.clone()))
        .with_metering_interval(MINUTE)
        .with_billing(billing)
        .build()
        .await?)
}

/// Half a core and 512 MiB a replica: 50 + 5 = 55 cents an hour with [`hourly`].
fn worker(replicas: u32) -> ServiceSpec {
    ServiceSpec::new("worker", BUSYBOX)
        .with_command(["sh", "-c", "while true; do sleep 1; done"])
        .with_cpu("0.5")
        .with_memory("512Mi")
        .with_replicas(replicas)
}

/// Runs `engine` in the background until the returned sender is dropped or sent to.
fn run(engine: &Engine) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = engine.clone();
    tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    stop
}

async fn wait_running(engine: &Engine, n: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = engine
            .containers(&ContainerFilter::default())
            .await?
            .iter()
            .filter(|c| c.state.as_deref() == Some("running"))
            .count();
        if running == n {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{running} of {n} containers running after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Moves the clock minute by minute, metering at each step, for `minutes`.
async fn pass(engine: &Engine, clock: &ManualClock, minutes: u32) -> anyhow::Result<()> {
    for _ in 0..minutes {
        clock.advance(MINUTE);
        engine.meter_now().await?;
    }
    Ok(())
}

async fn metering_is_per_interval_idempotent_and_records_gaps(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let engine = engine(&scope, db, &clock, BillingConfig::default()).await?;
    engine.apply("acme", "jobs", worker(2)).await?;
    let stop = run(&engine);
    wait_running(&engine, 2).await?;
    let first = engine.meter_now().await?;
    assert_eq!(first.metered_until, T0);
    assert_eq!(first.gap, None, "a first start has nothing to call a gap");
    // A minute of the manual clock per second of real samples, until the stats stream has
    // given the meter readings (two samples make the first spacing; a loaded machine is slow).
    let mut minutes = 0;
    let rows = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pass(&engine, &clock, 1).await?;
        minutes += 1;
        let rows = engine.usage("acme", 0, i64::MAX).await?;
        if minutes >= 3 && rows.iter().any(|r| r.memory_used_byte_s > 0) || minutes == 30 {
            break rows;
        }
    };
    assert_eq!(
        rows.len(),
        2 * minutes,
        "{minutes} intervals × 2 containers: {rows:#?}"
    );
    for row in &rows {
        assert_eq!(row.interval_start_ms % 60_000, 0);
        assert_eq!(row.end_ms - row.start_ms, 60_000, "{row:?}");
        assert_eq!(row.cpu_millis, Some(500));
        assert_eq!(row.memory_bytes, Some(512 << 20));
        assert_eq!(
            (row.org.as_str(), row.stack.as_str(), row.service.as_str()),
            ("acme", "jobs", "worker")
        );
    }
    assert!(
        rows.iter().any(|r| r.memory_used_byte_s > 0),
        "memory use from the stats stream within 30 s: {rows:#?}"
    );
    let stopped_at = T0 + minutes as i64 * 60_000;
    // Closing again without the clock moving writes nothing.
    let again = engine.meter_now().await?;
    assert_eq!((again.intervals, again.rows), (0, 0));

    // The engine stops for ten minutes; its successor records the gap, not usage.
    drop(stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    clock.advance(10 * MINUTE);
    let successor = self::engine(&scope, db, &clock, BillingConfig::default()).await?;
    let report = successor.meter_now().await?;
    let gap = report.gap.context("the downtime is a gap")?;
    assert_eq!(
        (gap.start_ms, gap.end_ms),
        (stopped_at, stopped_at + 10 * 60_000)
    );
    assert_eq!(successor.metering_gaps(0, i64::MAX).await?, vec![gap]);
    wait_event(&successor, "metering-gap", Duration::from_secs(5), |_| true).await?;
    // A restart at the same moment is no new gap: the first start's gap stays the only one.
    let third = self::engine(&scope, db, &clock, BillingConfig::default()).await?;
    assert_eq!(third.meter_now().await?.gap, None);
    assert_eq!(
        engine.usage("acme", 0, i64::MAX).await?.len(),
        2 * minutes,
        "nothing invented for the gap"
    );
    Ok(())
}

async fn cycles_charge_exact_invoices_once(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let engine = engine(&scope, db, &clock, billing_with(hourly().await?, "hourly")).await?;
    engine.apply("acme", "jobs", worker(1)).await?;
    let stop = run(&engine);
    wait_running(&engine, 1).await?;
    engine.meter_now().await?;
    // Three hours, minute by minute, with cycles run from two engines at once at the end.
    pass(&engine, &clock, 180).await?;
    let twin_scope = EngineScope::new();
    let twin = self::engine(
        &twin_scope,
        db,
        &clock,
        billing_with(hourly().await?, "hourly"),
    )
    .await?;
    let (a, b) = tokio::join!(engine.run_billing_cycles(), twin.run_billing_cycles());
    a?;
    b?;
    engine.run_billing_cycles().await?;
    let invoices = engine.invoices("acme", 0, i64::MAX).await?;
    let periods: Vec<i64> = invoices.iter().map(|i| i.period_start_ms).collect();
    assert_eq!(
        periods,
        vec![T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS],
        "each period once"
    );
    for invoice in &invoices {
        // 0.5 core-hour at 100 = 50; 0.5 GiB-hour at 10 = 5.
        let amounts: Vec<(String, i64, i64)> = invoice
            .lines
            .iter()
            .map(|l| (l.unit.clone(), l.quantity_micros, l.amount_minor))
            .collect();
        assert_eq!(
            amounts,
            vec![
                ("core-hour".to_owned(), 500_000, 50),
                ("GiB-hour".to_owned(), 500_000, 5)
            ],
            "{invoice:#?}"
        );
        assert_eq!(
            (invoice.total_minor, invoice.currency.as_str()),
            (55, "EUR")
        );
    }
    let account = engine.account("acme").await?.context("an account")?;
    assert_eq!(account.balance_minor, 1_000 - 3 * 55);
    let movements = engine.balance_movements("acme").await?;
    assert_eq!(movements.len(), 3);
    assert_eq!(
        movements.last().unwrap().balance_minor,
        account.balance_minor
    );
    let stored = engine
        .events(&EventFilter {
            kind: Some("billing-invoice-stored".into()),
            ..EventFilter::default()
        })
        .await?;
    // The twin's events land in the same log: one event per invoice, whoever stored it.
    assert_eq!(stored.len(), 3, "one event per invoice: {stored:?}");
    drop(stop);
    Ok(())
}

async fn grace_then_stop_and_top_up(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let mut billing = billing_with(hourly().await?, "hourly");
    billing.opening_balance_minor = 60; // covers one hour (55), not two
    let engine = engine(&scope, db, &clock, billing).await?;
    engine.apply("acme", "jobs", worker(1)).await?;
    let stop = run(&engine);
    wait_running(&engine, 1).await?;
    engine.meter_now().await?;
    pass(&engine, &clock, 120).await?;
    engine.run_billing_cycles().await?;
    let account = engine.account("acme").await?.unwrap();
    assert_eq!(account.balance_minor, 60 - 110);
    assert_eq!(account.grace_started_ms, Some(T0 + 2 * HOUR_MS));
    wait_event(
        &engine,
        "billing-grace-started",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    // Still in grace: nothing stops.
    pass(&engine, &clock, 20).await?;
    engine.run_billing_cycles().await?;
    assert_eq!(
        engine.services(windlass::Scope::Org("acme")).await?[0].replicas,
        1
    );
    // Past it: the policy stops the org's services, keeping their declarations.
    pass(&engine, &clock, 11).await?;
    let report = engine.run_billing_cycles().await?;
    assert_eq!(report.stopped, vec!["acme".to_owned()]);
    assert_eq!(
        engine.services(windlass::Scope::Org("acme")).await?[0].replicas,
        0
    );
    wait_event(
        &engine,
        "billing-grace-ended",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    // A top-up back above zero clears the grace period.
    let account = engine.top_up("acme", 500, "wire 42").await?;
    assert_eq!(account.balance_minor, 60 - 110 + 500);
    assert_eq!(account.grace_started_ms, None);
    let movements = engine.balance_movements("acme").await?;
    let sum: i64 = movements.iter().map(|m| m.amount_minor).sum();
    assert_eq!(
        60 + sum,
        account.balance_minor,
        "the balance is the sum of its movements"
    );
    drop(stop);
    Ok(())
}

async fn nonsense_invoices_are_not_stored_and_retried(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let nonsense = rule(
        "hostile_billing_nonsense.wasm",
        "nonsense",
        &[("mode", "mismatch")],
    )
    .await?;
    let engine = engine(&scope, db, &clock, billing_with(nonsense, "nonsense")).await?;
    engine.apply("acme", "jobs", worker(1)).await?;
    let stop = run(&engine);
    wait_running(&engine, 1).await?;
    engine.meter_now().await?;
    pass(&engine, &clock, 61).await?;
    let report = engine.run_billing_cycles().await?;
    let failed = wait_event(
        &engine,
        "billing-cycle-failed",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    let reason = failed.payload["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("not the sum of the lines"),
        "{reason} / {report:?}"
    );
    assert!(engine.invoices("acme", 0, i64::MAX).await?.is_empty());
    assert_eq!(engine.account("acme").await?.unwrap().balance_minor, 1_000);
    // The next period's close retries the failed one (and fails again: still nonsense).
    pass(&engine, &clock, 60).await?;
    engine.run_billing_cycles().await?;
    let failures = engine
        .events(&EventFilter {
            kind: Some("billing-cycle-failed".into()),
            ..EventFilter::default()
        })
        .await?;
    assert!(failures.len() >= 2, "retried: {failures:?}");
    assert!(failures.iter().all(|e| e.payload["period_start_ms"] == T0));
    drop(stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The operator fixes the rule: the same periods are charged, once each.
    let fixed = self::engine(&scope, db, &clock, billing_with(hourly().await?, "hourly")).await?;
    fixed.run_billing_cycles().await?;
    let periods: Vec<i64> = fixed
        .invoices("acme", 0, i64::MAX)
        .await?
        .iter()
        .map(|i| i.period_start_ms)
        .collect();
    assert_eq!(periods, vec![T0, T0 + HOUR_MS]);
    Ok(())
}

async fn quotas_refuse_with_507_details_and_store_nothing(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let mut billing = billing_with(hourly().await?, "hourly");
    billing.default_quotas = Quotas::unlimited()
        .with_cpu_millis(1_000)
        .with_containers(3);
    billing
        .quotas
        .insert("bigcorp".into(), Quotas::unlimited().with_cpu_millis(8_000));
    let engine = engine(&scope, db, &clock, billing).await?;
    engine.apply("acme", "jobs", worker(2)).await?; // 1000 of 1000: allowed, with a warning
    let denied = engine
        .apply("acme", "jobs", worker(2).with_cpu("0.75"))
        .await
        .unwrap_err();
    let EngineError::QuotaExceeded(denial) = denied else {
        panic!("not a quota denial: {denied}");
    };
    assert_eq!(
        (
            denial.resource.as_str(),
            denial.limit,
            denial.current,
            denial.requested
        ),
        ("cpu_millis", 1_000, 1_000, 500)
    );
    assert!(
        denial
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("cpu quota exceeded"),
        "{denial:?}"
    );
    let stored = engine.services(windlass::Scope::Org("acme")).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].spec["cpu"], "0.5",
        "the refused update changed nothing"
    );
    // A scale beyond the container limit is refused by the engine's own count.
    let denied = engine.scale("acme", "jobs", "worker", 4).await.unwrap_err();
    assert!(
        matches!(&denied, EngineError::QuotaExceeded(d) if d.resource == "containers" && d.limit == 3),
        "{denied}"
    );
    // Another org has its own limits.
    engine.apply("bigcorp", "jobs", worker(3)).await?;
    let events = engine
        .events(&EventFilter {
            kind: Some("quota-denied".into()),
            ..EventFilter::default()
        })
        .await?;
    assert_eq!(events.len(), 2);
    wait_event(&engine, "quota-warning", Duration::from_secs(5), |e| {
        e.org.as_deref() == Some("acme")
    })
    .await?;
    // Utilisation: acme holds all of its CPU (past 90 %), announced once per crossing.
    assert_eq!(engine.recalculate_utilisation().await?, 1);
    assert_eq!(
        engine.recalculate_utilisation().await?,
        0,
        "once per crossing, not every tick"
    );
    let crossed = wait_event(
        &engine,
        "quota-threshold-crossed",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    assert_eq!(
        (
            crossed.payload["resource"].as_str(),
            crossed.payload["percent"].as_u64()
        ),
        (Some("cpu_millis"), Some(90))
    );
    // Nothing was created for the refused requests.
    engine.reconcile().await?;
    let acme = engine
        .containers(&ContainerFilter {
            org: Some("acme".into()),
            ..ContainerFilter::default()
        })
        .await?;
    assert_eq!(acme.len(), 2);
    Ok(())
}

async fn a_failing_rule_denies_quota_checks_by_default(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let trap = rule("hostile_billing_nonsense.wasm", "trap", &[("mode", "trap")]).await?;
    let engine = engine(&scope, db, &clock, billing_with(trap, "trap")).await?;
    let denied = engine.apply("acme", "jobs", worker(1)).await.unwrap_err();
    assert!(
        matches!(&denied, EngineError::QuotaExceeded(d) if d.resource == "rule"
            && d.reason.as_deref().unwrap_or_default().contains("policy is deny")),
        "{denied}"
    );
    assert!(engine.services(windlass::Scope::All).await?.is_empty());
    let failed = wait_event(
        &engine,
        "billing-plugin-failed",
        Duration::from_secs(5),
        |_| true,
    )
    .await?;
    assert_eq!(failed.payload["policy"], "deny");
    Ok(())
}

async fn two_rules_price_two_orgs_side_by_side(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let billing = hourly_and_tiered().await?;
    let engine = engine(&scope, db, &clock, billing).await?;
    engine.apply("acme", "jobs", worker(1)).await?;
    engine.apply("bigcorp", "jobs", worker(1)).await?;
    let stop = run(&engine);
    wait_running(&engine, 2).await?;
    engine.meter_now().await?;
    pass(&engine, &clock, 60).await?;
    engine.run_billing_cycles().await?;
    let acme = engine.invoices("acme", 0, i64::MAX).await?;
    assert_eq!(
        (acme.len(), acme[0].total_minor, acme[0].rule.as_str()),
        (1, 55, "hourly")
    );
    let bigcorp = engine.invoices("bigcorp", 0, i64::MAX).await?;
    assert_eq!(bigcorp.len(), 1);
    assert_eq!(bigcorp[0].rule, "tiered");
    // 0.5 core-hour: 0.25 free, 0.125 at 100 (12.5, rounded half up), 0.125 at 40; 0.5
    // GiB-hour at 10.
    let lines: Vec<(i64, i64)> = bigcorp[0]
        .lines
        .iter()
        .map(|l| (l.quantity_micros, l.amount_minor))
        .collect();
    assert_eq!(
        lines,
        vec![(250_000, 0), (125_000, 13), (125_000, 5), (500_000, 5)],
        "{:#?}",
        bigcorp[0]
    );
    assert_eq!(bigcorp[0].total_minor, 23);
    drop(stop);
    Ok(())
}

/// Limits set through the engine (the API's `PUT /v1/orgs/{org}/quotas`) are stored, seen by a
/// second engine on the store, refuse deploys, scales and builds; an operator's override lets
/// one request through as an event; a monthly spend limit refuses growth once the month's
/// invoices reach it, and utilisation announces it.
async fn quotas_set_at_runtime_persist_override_and_cap_spend(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0 + HOUR_MS);
    let billing = billing_with(hourly().await?, "hourly");
    let engine = engine(&scope, db, &clock, billing.clone()).await?;
    engine
        .set_quotas("acme", Quotas::unlimited().with_containers(1))
        .await?;
    let other_scope = EngineScope::new();
    let second = self::engine(&other_scope, db, &clock, billing).await?;
    assert_eq!(second.quota_status("acme").await?.0.containers, Some(1));
    // (One engine writes the event log: the second only reads.)
    drop(second);
    let denied = engine.apply("acme", "jobs", worker(2)).await.unwrap_err();
    assert!(
        matches!(&denied, EngineError::QuotaExceeded(d) if d.resource == "containers"
            && d.limit == 1 && d.current == 0 && d.requested == 2),
        "{denied}"
    );
    assert!(engine.services(windlass::Scope::All).await?.is_empty());
    // The operator's override: this one request goes through, recorded.
    engine
        .with_quota_override("migration", engine.apply("acme", "jobs", worker(2)))
        .await?;
    let overridden = wait_event(&engine, "quota-overridden", Duration::from_secs(5), |_| {
        true
    })
    .await?;
    assert_eq!(overridden.payload["resource"], "containers");
    assert_eq!(overridden.payload["override_reason"], "migration");
    // Without it, the next request is refused again; so is a build (one more container).
    let denied = engine.scale("acme", "jobs", "worker", 3).await.unwrap_err();
    assert!(matches!(denied, EngineError::QuotaExceeded(_)), "{denied}");
    let denied = engine
        .check_build_quota("acme", 1_000, 1 << 30)
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, EngineError::QuotaExceeded(d) if d.resource == "containers"
            && d.current == 2 && d.requested == 1),
        "{denied}"
    );
    // The monthly spend limit: 55 cents charged for the first hour of January, limit 50.
    engine
        .set_quotas("acme", Quotas::unlimited().with_monthly_spend_minor(50))
        .await?;
    engine.check_build_quota("acme", 1_000, 1 << 30).await?;
    engine
        .record_usage(&[windlass::billing::UsageInterval::new(
            engine.id(),
            ("acme", "jobs", "worker"),
            "acme-jobs-worker-1",
            T0,
            T0 + HOUR_MS,
        )
        .with_allocation(Some(500), Some(512 << 20))])
        .await?;
    let report = engine.run_billing_cycles().await?;
    assert_eq!(report.charged, vec![("acme".to_owned(), T0, 55)]);
    let denied = engine.scale("acme", "jobs", "worker", 3).await.unwrap_err();
    assert!(
        matches!(&denied, EngineError::QuotaExceeded(d) if d.resource == "monthly_spend_minor"
            && d.limit == 50 && d.current == 55),
        "{denied}"
    );
    engine.scale("acme", "jobs", "worker", 1).await?; // shrinking is not refused
    assert_eq!(engine.recalculate_utilisation().await?, 1);
    let crossed = wait_event(
        &engine,
        "quota-threshold-crossed",
        Duration::from_secs(5),
        |e| e.payload["resource"] == "monthly_spend_minor",
    )
    .await?;
    assert_eq!(crossed.payload["percent"], 90);
    let changed = engine
        .events(&EventFilter {
            kind: Some("quota-changed".into()),
            ..EventFilter::default()
        })
        .await?;
    assert_eq!(changed.len(), 2);
    Ok(())
}

/// One batched cycle over many orgs: an org whose rule returns nonsense stores nothing and is
/// retried, while the others of the same batch and period are charged, each exactly once, and
/// a second run charges nothing more. Balances equal opening minus the sum of the invoices.
async fn one_orgs_failure_does_not_hold_back_its_batch(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0 + 2 * HOUR_MS);
    let mut billing = billing_with(hourly().await?, "hourly");
    let nonsense = rule(
        "hostile_billing_nonsense.wasm",
        "nonsense",
        &[("mode", "mismatch")],
    )
    .await?;
    billing
        .rules
        .insert("org-bad".into(), ("nonsense".into(), nonsense));
    let engine = engine(&scope, db, &clock, billing).await?;
    let orgs: Vec<String> = (0..300)
        .map(|n| format!("org-{n:03}"))
        .chain(["org-bad".to_owned()])
        .collect();
    let mut rows = Vec::new();
    for org in &orgs {
        for hour in 0..2 {
            let start = T0 + hour * HOUR_MS;
            rows.push(
                windlass::billing::UsageInterval::new(
                    engine.id(),
                    (org, "jobs", "worker"),
                    &format!("{org}-jobs-worker-1"),
                    start,
                    start + HOUR_MS,
                )
                .with_allocation(Some(500), Some(512 << 20)),
            );
        }
    }
    engine.record_usage(&rows).await?;
    let report = engine.run_billing_cycles().await?;
    assert_eq!(report.charged.len(), 600, "300 orgs × 2 periods");
    assert!(
        report
            .charged
            .iter()
            .all(|(org, _, total)| org != "org-bad" && *total == 55)
    );
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].0, "org-bad");
    assert!(engine.invoices("org-bad", 0, i64::MAX).await?.is_empty());
    let again = engine.run_billing_cycles().await?;
    assert!(again.charged.is_empty(), "{again:?}");
    for org in ["org-000", "org-150", "org-299"] {
        let invoices = engine.invoices(org, 0, i64::MAX).await?;
        assert_eq!(
            invoices
                .iter()
                .map(|i| i.period_start_ms)
                .collect::<Vec<_>>(),
            vec![T0, T0 + HOUR_MS]
        );
        let account = engine.account(org).await?.context("an account")?;
        let charged: i64 = invoices.iter().map(|i| i.total_minor).sum();
        assert_eq!(account.balance_minor, 1_000 - charged);
        assert_eq!(engine.balance_movements(org).await?.len(), 2);
    }
    Ok(())
}

/// Two services: web (2 × 0.25 core, 128 MiB) and worker (0.5 core, 512 MiB).
fn shop() -> windlass::stacks::StackSpec {
    let web = ServiceSpec::new("web", BUSYBOX)
        .with_command(["sh", "-c", "while true; do sleep 1; done"])
        .with_cpu("0.25")
        .with_memory("128Mi")
        .with_replicas(2);
    windlass::stacks::StackSpec::new()
        .with_service(web)
        .with_service(worker(1))
}

/// The estimate of a stack, asked before it is deployed, equals what the first real cycle
/// charges for it: the same invoice lines, the same total, for a per-line rule
/// (`billing-hourly`, where web's memory rounds 2.5 up to 3) and a tiered one with a free
/// allowance (`billing-tiered`); daily and monthly are 24 and 730 times the hour. The estimate
/// stores nothing; a rule returning nonsense or trapping is `BillingRuleFailed` and an event.
async fn estimates_equal_the_first_cycle(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let mut billing = hourly_and_tiered().await?;
    for mode in ["mismatch", "trap"] {
        let hostile = rule("hostile_billing_nonsense.wasm", mode, &[("mode", mode)]).await?;
        billing
            .rules
            .insert(format!("org-{mode}"), (mode.to_owned(), hostile));
    }
    let engine = engine(&scope, db, &clock, billing).await?;
    let params = std::collections::BTreeMap::new();
    let mut estimates = Vec::new();
    for org in ["acme", "bigcorp"] {
        estimates.push(engine.estimate(org, "shop", &shop(), &params).await?);
    }
    assert!(
        engine.services(windlass::Scope::All).await?.is_empty(),
        "nothing stored"
    );
    assert!(
        engine
            .containers(&ContainerFilter::default())
            .await?
            .is_empty()
    );
    let acme = &estimates[0];
    let rows: Vec<(&str, &str, u64, i64)> = acme
        .lines
        .iter()
        .map(|l| {
            (
                l.service.as_str(),
                l.resource.as_str(),
                l.allocated,
                l.cost.hourly_minor,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("web", "cpu", 500, 50),
            ("web", "memory", 256 << 20, 3),
            ("worker", "cpu", 500, 50),
            ("worker", "memory", 512 << 20, 5),
        ],
        "{acme:#?}"
    );
    assert_eq!(
        (
            acme.total.hourly_minor,
            acme.total.daily_minor,
            acme.total.monthly_minor
        ),
        (108, 108 * 24, 108 * 730)
    );
    assert_eq!(
        acme.services
            .iter()
            .map(|s| (s.service.as_str(), s.cost.hourly_minor))
            .collect::<Vec<_>>(),
        vec![("web", 53), ("worker", 55)]
    );
    // Tiered: the allowance and the first tier go to the first rows; the rows add up.
    let big = &estimates[1];
    assert_eq!(big.total.hourly_minor, 46, "{big:#?}");
    assert_eq!(
        big.lines.iter().map(|l| l.cost.hourly_minor).sum::<i64>(),
        46,
        "{big:#?}"
    );

    for org in ["acme", "bigcorp"] {
        engine.deploy_stack(org, "shop", &shop(), &params).await?;
    }
    let stop = run(&engine);
    wait_running(&engine, 6).await?;
    engine.meter_now().await?;
    pass(&engine, &clock, 60).await?;
    let report = engine.run_billing_cycles().await?;
    assert_eq!(report.charged.len(), 2, "{report:?}");
    for (org, estimate) in ["acme", "bigcorp"].into_iter().zip(&estimates) {
        let invoices = engine.invoices(org, 0, i64::MAX).await?;
        assert_eq!(invoices.len(), 1, "{invoices:#?}");
        let first = &invoices[0];
        assert_eq!(first.period_start_ms, T0);
        assert_eq!(estimate.invoice, first.lines, "{org}: the same lines");
        assert_eq!(
            (estimate.total.hourly_minor, estimate.currency.as_str()),
            (first.total_minor, first.currency.as_str()),
            "{org}"
        );
    }
    drop(stop);

    for (org, reason) in [
        ("org-mismatch", "not the sum of the lines"),
        ("org-trap", "the rule failed"),
    ] {
        let error = engine
            .estimate(org, "shop", &shop(), &params)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "billing-rule-failed", "{error}");
        assert!(
            matches!(&error, EngineError::BillingRuleFailed { reason: r, .. } if r.contains(reason)),
            "{error}"
        );
        let event = wait_event(
            &engine,
            "billing-plugin-failed",
            Duration::from_secs(5),
            |e| e.org.as_deref() == Some(org),
        )
        .await?;
        assert_eq!(event.payload["during"], "estimate");
        assert!(engine.invoices(org, 0, i64::MAX).await?.is_empty());
    }
    Ok(())
}

/// `round_half_up(num / den)` in exact integers: the rounding `billing-hourly` documents for
/// every line's amount and quantity.
fn half_up(num: u128, den: u128) -> u128 {
    (2 * num + den) / (2 * den)
}

/// What was used, priced: 100 EUR per core-hour used (a few real seconds of CPU make cents),
/// 10 EUR per GiB sent, 2 cents per build minute; and 1 EUR per core-hour held.
const USED_RATES: [(&str, &str); 5] = [
    ("cpu_core_hour", "100"),
    ("cpu_used_core_hour", "10000"),
    ("egress_gib", "1000"),
    ("build_minute", "2"),
    ("currency", "EUR"),
];

/// A busybox container burning CPU and serving a 2 MiB file that another container of its
/// stack fetches every second, and a service built from a git repository: after metering and
/// the cycles, the invoices' lines for CPU used, egress and build minutes equal what
/// `usage_intervals` and `build_usage` recorded, through the rule's rounding, each period's
/// use in that period and the build once (the cycles run twice). The 0.1.0 build of the same
/// rule prices the same records: the allocation lines, none of the use.
async fn used_cpu_egress_and_build_minutes_are_charged_as_metered(
    db: &TestDb,
) -> anyhow::Result<()> {
    use windlass::builds::{BuildSource, BuildState, BuildsConfig};
    use windlass::plugins::types::{BillingPeriod, MeasuredUsage, Resources, UsageRecord};
    use windlass_test_support::git::{GitServer, Repo};

    common::docker::connect_with_busybox().await?;
    let scope = EngineScope::new();
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    // The engine's id makes the step new to Docker's cache: the build runs for at least the
    // two seconds of its `sleep`, more than one tick of the clock below.
    let dockerfile = format!(
        "FROM windlass-test/busybox:1\nRUN echo {} && sleep 2\nCMD [\"sleep\", \"3600\"]\n",
        scope.id
    );
    repo.commit(&[("Dockerfile", dockerfile.as_str())], "A site")?;
    let server = GitServer::start(base.path())?;
    let host = PluginHost::builder().build()?;
    let dockerfile = host
        .load(
            PluginSpec::from_file(
                "dockerfile",
                common::plugins::component("build_dockerfile.wasm")?,
            )
            .with_kind(PluginKind::BuildStrategy),
        )
        .await?
        .build_strategy()
        .context("a build strategy")?;
    let work = tempfile::tempdir()?;
    let builds = BuildsConfig::default()
        .with_strategy("dockerfile", dockerfile)
        .with_work_dir(work.path());

    let clock = ManualClock::starting_at(T0);
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_clock(Arc::new(clock.clone()))
        .with_metering_interval(MINUTE)
        .with_billing(billing_with(
            rule("billing_hourly.wasm", "hourly", &USED_RATES).await?,
            "hourly",
        ))
        .with_builds(builds)
        .build()
        .await?;
    let sender = ServiceSpec::new("sender", BUSYBOX)
        .with_command([
            "sh",
            "-c",
            "head -c 2097152 /dev/zero > /tmp/blob && httpd -p 8080 -h /tmp && while true; do :; done",
        ])
        .with_cpu("0.25")
        .with_memory("64Mi");
    let fetcher = ServiceSpec::new("fetcher", BUSYBOX)
        .with_command([
            "sh",
            "-c",
            "while true; do wget -q -O /dev/null http://sender:8080/blob; sleep 1; done",
        ])
        .with_cpu("0.1")
        .with_memory("32Mi");
    let net = windlass::stacks::StackSpec::new()
        .with_service(sender)
        .with_service(fetcher);
    engine
        .deploy_stack("acme", "net", &net, &Default::default())
        .await?;
    let site = ServiceSpec::new("site", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"))
        .with_cpu("0.1")
        .with_memory("16Mi");
    engine.apply("acme", "shop", site).await?;
    let stop = run(&engine);
    let net_filter = ContainerFilter {
        org: Some("acme".into()),
        stack: Some("net".into()),
        service: None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while engine
        .containers(&net_filter)
        .await?
        .iter()
        .filter(|c| c.state.as_deref() == Some("running"))
        .count()
        < 2
    {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "net not running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.meter_now().await?;

    // A minute of the clock per second of real samples, until the build ended and the sender
    // has used CPU and sent bytes in several intervals.
    let mut minutes = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pass(&engine, &clock, 1).await?;
        minutes += 1;
        let rows = engine.usage("acme", 0, i64::MAX).await?;
        let sent = rows
            .iter()
            .filter(|r| r.service == "sender" && r.egress_bytes > 0 && r.cpu_used_core_ms > 0)
            .count();
        let built = engine.build_usage("acme", 0, i64::MAX).await?;
        if sent >= 5 && !built.is_empty() {
            break;
        }
        anyhow::ensure!(
            minutes < 90,
            "after {minutes} s: {sent} intervals of the sender with CPU and egress, builds {built:?}"
        );
    }
    // The rest of two hours, closed.
    pass(&engine, &clock, 120 - minutes).await?;
    engine.run_billing_cycles().await?;
    engine.run_billing_cycles().await?;
    drop(stop);

    let built = engine.build_usage("acme", 0, i64::MAX).await?;
    assert_eq!(built.len(), 1, "one build, metered once: {built:?}");
    let build = &built[0];
    let record = engine.build_record(&build.build).await?;
    assert_eq!(record.state, BuildState::Succeeded, "{record:?}");
    let ran = record.finished_ms.unwrap() - record.started_ms.unwrap();
    assert_eq!(build.build_seconds, (ran + 999) / 1000, "{record:?}");
    assert!(
        build.build_seconds >= 60,
        "a minute of the clock passed: {build:?}"
    );

    let invoices = engine.invoices("acme", 0, i64::MAX).await?;
    assert_eq!(
        invoices
            .iter()
            .map(|i| i.period_start_ms)
            .collect::<Vec<_>>(),
        [T0, T0 + HOUR_MS],
        "each period once"
    );
    let intervals = engine.usage("acme", 0, i64::MAX).await?;
    let v0_1 = rule("v0_1_billing_hourly.wasm", "hourly-0.1", &USED_RATES).await?;
    let mut build_lines = 0;
    for invoice in &invoices {
        let (start, end) = (invoice.period_start_ms, invoice.period_end_ms);
        let here: Vec<_> = intervals
            .iter()
            .filter(|u| u.interval_start_ms >= start && u.interval_start_ms < end)
            .collect();
        // The expected lines for what was used, per (stack, service) in order, from the rows.
        let mut expected = Vec::new();
        for (stack, service) in [("net", "fetcher"), ("net", "sender"), ("shop", "site")] {
            let of: Vec<_> = here
                .iter()
                .filter(|u| u.stack == stack && u.service == service)
                .collect();
            let cpu: u128 = of
                .iter()
                .map(|u| u128::try_from(u.cpu_used_core_ms).unwrap() * 1_000)
                .sum();
            let egress: u128 = of
                .iter()
                .map(|u| u128::try_from(u.egress_bytes).unwrap())
                .sum();
            let seconds: u128 =
                if service == "site" && build.finished_ms >= start && build.finished_ms < end {
                    u128::try_from(build.build_seconds).unwrap()
                } else {
                    0
                };
            // Numerator units per unit, and the rate in millionths of a minor unit.
            for (n, label, unit, per_unit, rate) in [
                (
                    cpu,
                    "cpu core-hours used",
                    "core-hour",
                    3_600_000_000,
                    10_000_000_000,
                ),
                (egress, "egress GiB", "GiB", 1 << 30, 1_000_000_000),
                (seconds, "build minutes", "minute", 60, 2_000_000),
            ] {
                if n > 0 {
                    expected.push((
                        format!("{label} for acme/{stack}/{service}"),
                        i64::try_from(half_up(n * 1_000_000, per_unit)).unwrap(),
                        unit.to_owned(),
                        i64::try_from(half_up(n * rate, per_unit * 1_000_000)).unwrap(),
                    ));
                }
            }
        }
        let used_lines: Vec<(String, i64, String, i64)> = invoice
            .lines
            .iter()
            .filter(|l| !l.description.starts_with("cpu core-hours for"))
            .map(|l| {
                (
                    l.description.clone(),
                    l.quantity_micros,
                    l.unit.clone(),
                    l.amount_minor,
                )
            })
            .collect();
        // In the rule's order: by stack and service, then CPU used, egress, build.
        assert_eq!(used_lines, expected, "{invoice:#?}");
        build_lines += used_lines
            .iter()
            .filter(|(d, ..)| d.starts_with("build minutes"))
            .count();
        let sender_cpu = invoice.lines.iter().any(|l| {
            l.description == "cpu core-hours used for acme/net/sender" && l.quantity_micros > 0
        });
        let sender_egress = invoice
            .lines
            .iter()
            .any(|l| l.description == "egress GiB for acme/net/sender" && l.quantity_micros > 0);
        if start == T0 {
            assert!(sender_cpu && sender_egress, "{invoice:#?}");
        }

        // The same records, as the cycle made them, priced by the 0.1.0 component: the
        // allocation lines alone, equal to this invoice's.
        let mut records: Vec<UsageRecord> = here
            .iter()
            .map(|u| UsageRecord {
                org: u.org.clone(),
                stack: u.stack.clone(),
                service: u.service.clone(),
                container: u.container.clone(),
                resources: Resources {
                    cpu_millis: u.cpu_millis.and_then(|c| u32::try_from(c).ok()),
                    memory_bytes: u.memory_bytes.and_then(|m| u64::try_from(m).ok()),
                    disk_bytes: None,
                },
                start_ms: u64::try_from(u.start_ms).unwrap(),
                end_ms: u64::try_from(u.end_ms).unwrap(),
                used: MeasuredUsage {
                    cpu_core_micros: u64::try_from(u.cpu_used_core_ms).unwrap() * 1_000,
                    memory_byte_seconds: u64::try_from(u.memory_used_byte_s).unwrap(),
                    egress_bytes: u64::try_from(u.egress_bytes).unwrap(),
                    ..MeasuredUsage::ZERO
                },
            })
            .collect();
        records.push(UsageRecord {
            org: "acme".into(),
            stack: "shop".into(),
            service: "site".into(),
            container: build.build.clone(),
            resources: Resources {
                cpu_millis: None,
                memory_bytes: None,
                disk_bytes: None,
            },
            start_ms: u64::try_from(build.started_ms).unwrap(),
            end_ms: u64::try_from(build.finished_ms).unwrap(),
            used: MeasuredUsage {
                build_seconds: u64::try_from(build.build_seconds).unwrap(),
                ..MeasuredUsage::ZERO
            },
        });
        let window = BillingPeriod {
            start_ms: u64::try_from(start).unwrap(),
            end_ms: u64::try_from(end).unwrap(),
        };
        let old = v0_1
            .price(window, &records)
            .await?
            .map_err(|e| anyhow::anyhow!("the 0.1.0 rule refused: {}", e.message))?;
        let held: Vec<(String, u64, i64)> = invoice
            .lines
            .iter()
            .filter(|l| l.description.starts_with("cpu core-hours for"))
            .map(|l| {
                (
                    l.description.clone(),
                    u64::try_from(l.quantity_micros).unwrap(),
                    l.amount_minor,
                )
            })
            .collect();
        let priced_0_1: Vec<(String, u64, i64)> = old
            .lines
            .iter()
            .map(|l| (l.description.clone(), l.quantity_micros, l.amount.minor))
            .collect();
        assert_eq!(priced_0_1, held, "0.1.0: allocation only");
        assert!(!held.is_empty());
        assert_eq!(
            invoice.total_minor,
            invoice.lines.iter().map(|l| l.amount_minor).sum::<i64>()
        );
    }
    assert_eq!(build_lines, 1, "the build is charged once: {invoices:#?}");
    let account = engine.account("acme").await?.context("an account")?;
    assert_eq!(
        account.balance_minor,
        1_000 - invoices.iter().map(|i| i.total_minor).sum::<i64>()
    );
    common::docker::remove_images_of_engine(&scope.id).await;
    drop(server);
    Ok(())
}

common::backend_tests!(
    used_cpu_egress_and_build_minutes_are_charged_as_metered,
    estimates_equal_the_first_cycle,
    one_orgs_failure_does_not_hold_back_its_batch,
    quotas_set_at_runtime_persist_override_and_cap_spend,
    two_rules_price_two_orgs_side_by_side,
    metering_is_per_interval_idempotent_and_records_gaps,
    cycles_charge_exact_invoices_once,
    grace_then_stop_and_top_up,
    nonsense_invoices_are_not_stored_and_retried,
    quotas_refuse_with_507_details_and_store_nothing,
    a_failing_rule_denies_quota_checks_by_default,
);
