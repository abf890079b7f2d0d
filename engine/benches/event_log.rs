//! Event log throughput and subscriber latency, on SQLite and on PostgreSQL.
//!
//! Run: `cargo bench -p windlass --bench event_log` with `WINDLASS_TEST_POSTGRES_URL` set
//! (`bash scripts/setup-postgres.sh` prints it). Tunables: `EVENTS` (default 100000),
//! `APPENDERS` (default 100), `SINGLE_EVENTS` (default 3000).
//!
//! Scenarios, each on a fresh database:
//! - batched: `APPENDERS` tasks each `append(..).await` in a loop (every call waits for its
//!   commit; the writer batches whatever is queued), while one live subscriber measures
//!   append→received latency from a timestamp carried in the payload;
//! - emit: one task `emit`s everything (fire-and-forget), then `flush`es;
//! - single: one task appends sequentially, so each event is its own commit (no batching).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use serde_json::json;
use sqlx::Connection as _;
use windlass::{EventLog, NewEvent, Store};

const POSTGRES_URL_VAR: &str = "WINDLASS_TEST_POSTGRES_URL";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .with_context(|| format!("{name}={value} is not a number")),
        Err(_) => Ok(default),
    }
}

async fn run() -> anyhow::Result<()> {
    let Ok(pg_server) = std::env::var(POSTGRES_URL_VAR) else {
        bail!(
            "{POSTGRES_URL_VAR} is not set: this benchmark also measures PostgreSQL. Start a server \
             with `bash scripts/setup-postgres.sh` (as root) and export the URL it prints, e.g. \
             {POSTGRES_URL_VAR}=postgres://windlass:windlass@127.0.0.1:5432/windlass_test"
        );
    };
    let events = env_usize("EVENTS", 100_000)?;
    let appenders = env_usize("APPENDERS", 100)?.max(1);
    let single = env_usize("SINGLE_EVENTS", 3_000)?;
    println!(
        "event_log bench: {events} events, {appenders} concurrent appenders, {single} single appends, {} cpus",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let dir = tempfile::tempdir()?;
    let mut n = 0;
    let mut sqlite = || {
        n += 1;
        format!(
            "sqlite://{}",
            dir.path().join(format!("bench-{n}.db")).display()
        )
    };
    println!("\n== SQLite (file, WAL, synchronous=NORMAL)");
    scenarios(&[sqlite(), sqlite(), sqlite()], events, appenders, single).await?;

    let mut admin = sqlx::PgConnection::connect(&pg_server).await.with_context(|| {
        format!("cannot connect to {pg_server} ({POSTGRES_URL_VAR}); start it with `bash scripts/setup-postgres.sh`")
    })?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut admin)
        .await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut admin)
        .await?;
    let sync_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await?;
    println!("\n== PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync_commit})");
    let schemas: Vec<String> = (1..=3)
        .map(|i| format!("wl_bench_{}_{i}", std::process::id()))
        .collect();
    let mut urls = Vec::new();
    for schema in &schemas {
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
        }
        let separator = if pg_server.contains('?') { '&' } else { '?' };
        urls.push(format!(
            "{pg_server}{separator}options=-c%20search_path%3D{schema}"
        ));
    }
    let result = scenarios(&urls, events, appenders, single).await;
    for schema in &schemas {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut admin)
        .await?;
    }
    result
}

async fn scenarios(
    urls: &[String],
    events: usize,
    appenders: usize,
    single: usize,
) -> anyhow::Result<()> {
    let [batched_url, emit_url, single_url] = urls else {
        bail!("three databases expected");
    };
    batched(batched_url, events, appenders).await?;
    emitted(emit_url, events).await?;
    sequential(single_url, single).await
}

fn clock() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

fn event(n: usize) -> NewEvent {
    NewEvent::new("container-started")
        .with_org("acme")
        .with_stack("shop")
        .with_service("web")
        .with_container(format!("web-{}", n % 8))
        .with_payload(json!({ "n": n, "sent_ns": clock().as_nanos() as u64 }))
}

async fn open(url: &str) -> anyhow::Result<EventLog> {
    let store = Store::open(url).await?;
    Ok(EventLog::open(store).await?)
}

fn rate(events: usize, elapsed: Duration) -> String {
    format!(
        "{:>9.0} events/s ({events} in {:.2} s)",
        events as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    )
}

async fn batched(url: &str, events: usize, appenders: usize) -> anyhow::Result<()> {
    let log = open(url).await?;
    let mut stream = log.subscribe(log.last_index() + 1);
    let subscriber = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(events);
        while latencies.len() < events {
            let Some(event) = stream.next().await else {
                bail!("subscription ended early")
            };
            let event = event?;
            let sent = event.payload["sent_ns"]
                .as_u64()
                .context("payload without sent_ns")?;
            latencies.push(clock().as_nanos() as u64 - sent);
        }
        anyhow::Ok(latencies)
    });

    let started = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let log = log.clone();
            let share = events / appenders + usize::from(a < events % appenders);
            tokio::spawn(async move {
                for i in 0..share {
                    log.append(event(a + i * appenders)).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let mut latencies = subscriber.await??;
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        Duration::from_nanos(latencies[i])
    };
    println!(
        "batched append, {appenders} tasks awaiting commit: {}",
        rate(events, elapsed)
    );
    println!(
        "  subscriber latency append→received: p50 {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    log.close().await;
    Ok(())
}

async fn emitted(url: &str, events: usize) -> anyhow::Result<()> {
    let log = open(url).await?;
    let started = Instant::now();
    for n in 0..events {
        log.emit(event(n)).await?;
    }
    log.flush().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        log.last_index() as usize == events,
        "only {} events committed",
        log.last_index()
    );
    println!(
        "emit (fire-and-forget) + flush, 1 task:    {}",
        rate(events, elapsed)
    );
    log.close().await;
    Ok(())
}

async fn sequential(url: &str, events: usize) -> anyhow::Result<()> {
    let log = open(url).await?;
    let started = Instant::now();
    for n in 0..events {
        log.append(event(n)).await?;
    }
    let elapsed = started.elapsed();
    println!(
        "unbatched: 1 task, one commit per event:   {}",
        rate(events, elapsed)
    );
    log.close().await;
    Ok(())
}
