//! `kill -9` of a real runner process inside billing cycles, on both store backends: a stack
//! of real containers is metered every 250 ms and billed every 2 s by the real
//! `billing-hourly` component; the runner is stopped dead at each named point of a cycle —
//! before the rule prices, after it priced and before the store transaction, and inside the
//! transaction after the invoices, lines and movements were written but before the commit —
//! (`WINDLASS_FAILPOINTS` pauses the process there; the test then sends SIGKILL) and started
//! again. After the last restart has billed a few more periods, the store holds one invoice per
//! period, back to back from the first period to the account's cursor; each invoice's total is
//! the sum of its lines; every invoice has one balance movement; the balance equals the opening
//! balance minus the sum of the invoices; and each downtime is a recorded metering gap.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod process;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use process::{Runner, toml_string};
use serde_json::json;
use windlass::FAILPOINTS_ENV;
use windlass_test_support::db::TestDb;
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::http::Api;

const CYCLE_MS: i64 = 2_000;
const OPENING: i64 = 1_000_000_000;
/// Where a cycle is killed, in order.
const POINTS: [&str; 3] = [
    "billing.before-pricing",
    "billing.after-pricing",
    "billing.in-transaction",
];

fn config() -> anyhow::Result<String> {
    let hourly = windlass_test_support::plugins::component("billing_hourly.wasm")?;
    // 3,600,000 minor units per core-hour: a core for one 2 s period costs 2,000.
    Ok(format!(
        r#"[[plugins]]
name = "hourly"
kind = "billing-rule"
source = {hourly}
config = {{ cpu_core_hour = "3600000", memory_gib_hour = "360000" }}

[billing]
rule = "hourly"
cycle = "2s"
metering_interval = "250ms"
opening_balance_minor = {OPENING}
"#,
        hourly = toml_string(&hourly.display().to_string()),
    ))
}

/// (period start, period end, total) of acme's invoices, in order.
async fn invoices(db: &TestDb) -> anyhow::Result<Vec<(i64, i64, i64)>> {
    db.rows(
        "SELECT period_start_ms, period_end_ms, total_minor FROM invoices \
         WHERE org = 'acme' ORDER BY period_start_ms",
    )
    .await
}

async fn wait_invoices(db: &TestDb, at_least: usize) -> anyhow::Result<Vec<(i64, i64, i64)>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = invoices(db).await?;
        if found.len() >= at_least {
            return Ok(found);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} invoices after 60 s, waiting for {at_least}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

windlass_test_support::backend_tests!(every_period_is_charged_exactly_once_through_kills_in_cycles);

async fn every_period_is_charged_exactly_once_through_kills_in_cycles(
    db: &TestDb,
) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let mut runner =
        Runner::start_with_config(&scope, dir.path(), Some(&db.url), &config()?).await?;
    let api = Api::new(
        runner
            .url
            .trim_start_matches("http://")
            .parse::<SocketAddr>()?,
    );
    let sleeper = ["sh", "-c", "while true; do sleep 1; done"];
    let stack = json!({ "spec": { "services": [
        { "name": "web", "image": BUSYBOX, "cpu": "0.25", "memory": "64Mi", "replicas": 2,
          "command": sleeper },
        { "name": "worker", "image": BUSYBOX, "cpu": "0.5", "memory": "128Mi",
          "command": sleeper },
    ]}});
    let deployed = api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            Some(&runner.token),
            Some(&stack),
        )
        .await?;
    assert!(deployed.status.is_success(), "{deployed:?}");
    wait_invoices(db, 2).await?;

    let mut kills = 0;
    for point in POINTS {
        let before = invoices(db).await?.len();
        // The second time the point is reached: after one whole cycle of this process.
        runner.set_env(FAILPOINTS_ENV, Some(&format!("{point}@2")));
        runner.kill_and_restart()?;
        let reached = format!("windlass failpoint {point} reached");
        runner.wait_stderr(&reached, Duration::from_secs(60))?;
        // Paused inside the cycle: give the rest of the process time to do anything it would
        // (nothing of the paused cycle may commit), then kill it there.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let paused = invoices(db).await?;
        assert!(paused.len() >= before, "{point}: invoices went away");
        runner.set_env(FAILPOINTS_ENV, None);
        runner.kill_and_restart()?;
        kills += 2;
        // What the paused cycle did not commit is charged by the next process, once.
        wait_invoices(db, paused.len() + 1).await?;
    }
    let before = invoices(db).await?.len();
    wait_invoices(db, before + 3).await?;
    runner.kill()?;

    // One invoice per period, back to back, up to the account's cursor.
    let charged = invoices(db).await?;
    let first = charged[0].0;
    assert_eq!(first.rem_euclid(CYCLE_MS), 0, "{charged:?}");
    for (n, (start, end, _)) in charged.iter().enumerate() {
        assert_eq!(
            *start,
            first + n as i64 * CYCLE_MS,
            "period {n}: {charged:?}"
        );
        assert_eq!(*end, start + CYCLE_MS, "period {n}: {charged:?}");
    }
    let (balance, cursor): (i64, i64) = db
        .rows("SELECT balance_minor, next_period_ms FROM billing_accounts WHERE org = 'acme'")
        .await?[0];
    assert_eq!(cursor, charged.last().unwrap().1);
    // Each total is the sum of its lines; the containers ran through most periods.
    let line_sums: Vec<(i64, i64)> = db
        .rows(
            "SELECT i.period_start_ms, CAST(COALESCE(SUM(l.amount_minor), 0) AS BIGINT) \
             FROM invoices i \
             LEFT JOIN invoice_lines l ON l.org = i.org AND l.period_start_ms = i.period_start_ms \
             WHERE i.org = 'acme' GROUP BY i.period_start_ms ORDER BY i.period_start_ms",
        )
        .await?;
    let totals: Vec<(i64, i64)> = charged.iter().map(|(s, _, t)| (*s, *t)).collect();
    assert_eq!(line_sums, totals);
    // The periods after the last restart ran the containers throughout: priced.
    let priced = charged.iter().filter(|(_, _, t)| *t > 0).count();
    assert!(priced >= 3, "{priced} periods priced: {charged:?}");
    // One movement per invoice; the balance is the opening balance minus the invoices.
    let movements: Vec<(String, i64, i64, String)> = db
        .rows(
            "SELECT kind, amount_minor, balance_minor, reference FROM balance_movements \
             WHERE org = 'acme' ORDER BY seq",
        )
        .await?;
    let references: Vec<String> = movements.iter().map(|m| m.3.clone()).collect();
    let starts: Vec<String> = charged.iter().map(|(s, _, _)| s.to_string()).collect();
    assert_eq!(references, starts);
    assert!(movements.iter().all(|m| m.0 == "invoice"));
    let sum: i64 = charged.iter().map(|(_, _, t)| t).sum();
    assert_eq!(balance, OPENING - sum);
    assert_eq!(movements.last().unwrap().2, balance);
    let mut running = OPENING;
    for (kind, amount, after, reference) in &movements {
        running += amount;
        assert_eq!(*after, running, "movement {kind} {reference}");
    }
    // Each downtime is a gap on record, not invented usage.
    let gaps: Vec<(i64, i64)> = db
        .rows("SELECT start_ms, end_ms FROM metering_gaps ORDER BY start_ms")
        .await?;
    assert!(gaps.len() >= kills, "{kills} kills, gaps: {gaps:?}");
    assert!(gaps.iter().all(|(s, e)| e > s), "{gaps:?}");
    eprintln!(
        "{}: {} periods charged once each ({priced} priced, {sum} minor units), {kills} kills, \
         {} metering gaps",
        db.backend,
        charged.len(),
        gaps.len()
    );
    Ok(())
}
