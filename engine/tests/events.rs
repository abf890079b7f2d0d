//! The event log against real databases: every backend test runs on SQLite and on PostgreSQL.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use common::db::{TestDb, backend_tests};
use futures::StreamExt as _;
use serde_json::json;
use windlass::{
    Event, EventFilter, EventLog, EventLogConfig, EventLogError, EventStream, NewEvent,
    RetentionPolicy,
};

backend_tests!(
    appends_get_consecutive_indexes,
    indexes_continue_after_restart,
    invalid_kinds_are_rejected,
    subscribe_from_start_middle_and_future,
    subscriber_sees_no_gap_under_concurrent_writers,
    lagging_subscriber_catches_up_from_the_store,
    filtered_subscriptions_and_queries,
    retention_prunes_oldest_events,
    background_pruner_applies_policy,
    concurrent_appends_from_many_tasks,
    two_logs_on_one_store_keep_every_event,
    emit_flush_and_close,
    bad_payload_fails_only_its_own_append,
);

/// Generous bound for anything a test waits on.
const PATIENCE: Duration = Duration::from_secs(60);

fn started(n: u64) -> NewEvent {
    NewEvent::new("container-started")
        .with_org("acme")
        .with_stack("shop")
        .with_service("web")
        .with_container(format!("web-{n}"))
        .with_payload(json!({ "n": n }))
}

/// Reads `count` events from `stream`, failing on error, end or timeout.
async fn take(stream: &mut EventStream, count: usize) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .with_context(|| format!("timed out after {} of {count} events", events.len()))?;
        match next {
            Some(event) => events.push(event?),
            None => anyhow::bail!("stream ended after {} of {count} events", events.len()),
        }
    }
    Ok(events)
}

fn indexes(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.index).collect()
}

async fn appends_get_consecutive_indexes(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    assert_eq!(log.last_index(), 0);
    let first = log.append(started(1)).await?;
    assert_eq!(first.index, 1);
    assert_eq!(first.kind, "container-started");
    assert_eq!(first.container.as_deref(), Some("web-1"));
    assert_eq!(first.payload, json!({ "n": 1 }));
    assert!(
        first.ts_ms > 1_600_000_000_000,
        "timestamp in ms: {}",
        first.ts_ms
    );

    let many = log.append_many((2..=10).map(started).collect()).await?;
    assert_eq!(indexes(&many), (2..=10).collect::<Vec<_>>());
    assert_eq!(log.last_index(), 10);
    assert!(log.append_many(Vec::new()).await?.is_empty());

    // What the store returns is what the append returned.
    let stored = log.query(&EventFilter::from_index(0)).await?;
    assert_eq!(stored.first(), Some(&first));
    assert_eq!(&stored[1..], &many[..]);
    Ok(())
}

async fn indexes_continue_after_restart(db: &TestDb) -> anyhow::Result<()> {
    let store = db.open().await?;
    let log = EventLog::open(store.clone()).await?;
    log.append_many((1..=5).map(started).collect()).await?;
    log.close().await;
    store.close().await;

    let store = db.open().await?;
    let log = EventLog::open(store.clone()).await?;
    assert_eq!(log.last_index(), 5);
    assert_eq!(log.append(started(6)).await?.index, 6);

    // Even with every event pruned, numbering never goes back.
    assert_eq!(log.prune_keep_last(0).await?, 6);
    assert_eq!(log.first_index().await?, None);
    log.close().await;
    store.close().await;

    let log = EventLog::open(db.open().await?).await?;
    assert_eq!(log.last_index(), 6);
    assert_eq!(log.append(started(7)).await?.index, 7);
    Ok(())
}

async fn invalid_kinds_are_rejected(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    for kind in [
        "",
        "ContainerStarted",
        "container_started",
        "container started",
    ] {
        let error = log.append(NewEvent::new(kind)).await.expect_err(kind);
        assert!(
            matches!(error, EventLogError::InvalidKind { .. }),
            "{kind}: {error:?}"
        );
    }
    // A bad event fails the whole append_many; nothing is stored.
    let batch = vec![started(1), NewEvent::new("Bad")];
    assert!(log.append_many(batch).await.is_err());
    assert_eq!(log.last_index(), 0);
    Ok(())
}

async fn subscribe_from_start_middle_and_future(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    log.append_many((1..=2500).map(started).collect()).await?;

    let mut from_start = log.subscribe(0);
    let mut from_middle = log.subscribe(1200);
    let mut from_future = log.subscribe(3000);

    // History (longer than one replay page), then live.
    assert_eq!(
        indexes(&take(&mut from_start, 2500).await?),
        (1..=2500).collect::<Vec<_>>()
    );
    assert_eq!(
        indexes(&take(&mut from_middle, 1301).await?),
        (1200..=2500).collect::<Vec<_>>()
    );
    for n in 2501..=3100 {
        log.append(started(n)).await?;
    }
    assert_eq!(
        indexes(&take(&mut from_start, 600).await?),
        (2501..=3100).collect::<Vec<_>>()
    );
    assert_eq!(
        indexes(&take(&mut from_middle, 600).await?),
        (2501..=3100).collect::<Vec<_>>()
    );
    assert_eq!(
        indexes(&take(&mut from_future, 101).await?),
        (3000..=3100).collect::<Vec<_>>()
    );

    // Subscribing at the exact end sees only what comes next.
    let mut at_end = log.subscribe(log.last_index() + 1);
    let next = log.append(started(3101)).await?;
    assert_eq!(take(&mut at_end, 1).await?, [next]);
    Ok(())
}

/// Checks that `events` are exactly `from..=to`, in order.
fn ensure_contiguous(events: &[Event], from: u64, to: u64, who: &str) -> anyhow::Result<()> {
    for (expected, event) in (from..=to).zip(events) {
        ensure!(
            event.index == expected,
            "{who}: expected index {expected}, got {} (gap or duplicate)",
            event.index
        );
    }
    ensure!(
        events.len() as u64 == to - from + 1,
        "{who}: {} events, expected {}",
        events.len(),
        to - from + 1
    );
    Ok(())
}

async fn subscriber_sees_no_gap_under_concurrent_writers(db: &TestDb) -> anyhow::Result<()> {
    const WRITERS: u64 = 8;
    const PER_WRITER: u64 = 750;
    const TOTAL: u64 = WRITERS * PER_WRITER;
    let log = EventLog::open(db.open().await?).await?;
    log.append_many((1..=100).map(started).collect()).await?;
    let end = 100 + TOTAL;

    let early = log.subscribe(0);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                for n in 0..PER_WRITER {
                    // A mix of acknowledged appends and fire-and-forget emits.
                    if n % 3 == 0 {
                        log.emit(started(w * PER_WRITER + n)).await?;
                    } else {
                        log.append(started(w * PER_WRITER + n)).await?;
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();

    // Subscribers joining while the writers run, from the start and from "now".
    tokio::time::sleep(Duration::from_millis(20)).await;
    let late_from_start = log.subscribe(1);
    let now = log.last_index() + 1;
    let late_from_now = log.subscribe(now);

    let readers = [
        (early, 1, "early"),
        (late_from_start, 1, "late-from-start"),
        (late_from_now, now, "late-from-now"),
    ]
    .map(|(mut stream, from, who)| {
        tokio::spawn(async move {
            let events = take(&mut stream, (end - from + 1) as usize).await?;
            ensure_contiguous(&events, from, end, who)
        })
    });
    for writer in writers {
        writer.await??;
    }
    for reader in readers {
        reader.await??;
    }
    assert_eq!(log.last_index(), end);
    Ok(())
}

async fn lagging_subscriber_catches_up_from_the_store(db: &TestDb) -> anyhow::Result<()> {
    // A broadcast buffer of one batch: a subscriber that does not keep up lags at once.
    let config = EventLogConfig::default()
        .with_broadcast_capacity(1)
        .with_max_batch(16);
    let log = EventLog::open_with(db.open().await?, config).await?;
    let mut slow = log.subscribe(0);
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for chunk in 0..200u64 {
                log.append_many((0..10).map(|n| started(chunk * 10 + n)).collect())
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let mut events = Vec::new();
    while events.len() < 2000 {
        events.extend(take(&mut slow, 1).await?);
        if events.len() % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    writer.await??;
    ensure_contiguous(&events, 1, 2000, "slow subscriber")
}

async fn filtered_subscriptions_and_queries(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    let event =
        |org: &str, stack: &str, kind: &str| NewEvent::new(kind).with_org(org).with_stack(stack);
    let mut acme_live = log.subscribe_filtered(
        EventFilter::default()
            .with_org("acme")
            .with_kind("health-changed"),
    );
    for i in 0..300 {
        let org = if i % 2 == 0 { "acme" } else { "globex" };
        let stack = if i % 3 == 0 { "shop" } else { "blog" };
        let kind = if i % 5 == 0 {
            "health-changed"
        } else {
            "container-started"
        };
        log.append(event(org, stack, kind)).await?;
    }
    log.append(NewEvent::new("engine-started")).await?;

    // org = acme and kind = health-changed: i % 10 == 0 → 30 events, indexes 1, 11, 21…
    let expected: Vec<u64> = (0..30).map(|k| 10 * k + 1).collect();
    assert_eq!(indexes(&take(&mut acme_live, 30).await?), expected);
    let replayed = log
        .subscribe_filtered(
            EventFilter::default()
                .with_org("acme")
                .with_kind("health-changed"),
        )
        .take(30)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(indexes(&replayed), expected);

    // A limited subscription ends by itself.
    let limited: Vec<_> = log
        .subscribe_filtered(
            EventFilter::from_index(100)
                .with_stack("shop")
                .with_limit(5),
        )
        .collect()
        .await;
    let limited = limited.into_iter().collect::<Result<Vec<_>, _>>()?;
    assert_eq!(indexes(&limited), [100, 103, 106, 109, 112]);

    // Queries page through history.
    let page = log
        .query(&EventFilter::from_index(0).with_org("globex").with_limit(10))
        .await?;
    assert_eq!(
        indexes(&page),
        (0..10).map(|k| 2 * k + 2).collect::<Vec<_>>()
    );
    let next = log
        .query(
            &EventFilter::from_index(page[9].index + 1)
                .with_org("globex")
                .with_limit(10),
        )
        .await?;
    assert_eq!(next.first().map(|e| e.index), Some(22));
    let both = log
        .query(
            &EventFilter::from_index(0)
                .with_org("acme")
                .with_stack("shop"),
        )
        .await?;
    assert_eq!(both.len(), 50, "i % 6 == 0");
    assert!(
        both.iter()
            .all(|e| e.org.as_deref() == Some("acme") && e.stack.as_deref() == Some("shop"))
    );
    assert_eq!(log.query(&EventFilter::from_index(0)).await?.len(), 301);
    assert_eq!(
        log.query(&EventFilter::from_index(0).with_limit(7))
            .await?
            .len(),
        7
    );
    assert!(log.query(&EventFilter::from_index(302)).await?.is_empty());
    Ok(())
}

async fn retention_prunes_oldest_events(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    log.append_many((1..=100).map(started).collect()).await?;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cutoff = log.append(started(101)).await?.ts_ms;
    log.append_many((102..=200).map(started).collect()).await?;

    assert_eq!(log.prune_older_than(cutoff).await?, 100);
    assert_eq!(log.first_index().await?, Some(101));
    assert_eq!(log.prune_older_than(cutoff).await?, 0, "idempotent");

    assert_eq!(log.prune_keep_last(50).await?, 50);
    assert_eq!(log.first_index().await?, Some(151));
    assert_eq!(log.prune_keep_last(500).await?, 0);

    // A subscriber asking for pruned history starts at the oldest kept event.
    let mut stream = log.subscribe(1);
    assert_eq!(
        indexes(&take(&mut stream, 50).await?),
        (151..=200).collect::<Vec<_>>()
    );
    assert_eq!(log.append(started(201)).await?.index, 201);
    assert_eq!(indexes(&take(&mut stream, 1).await?), [201]);

    // The configured policy: applied by the pruner as soon as the log opens, then on demand.
    let config =
        EventLogConfig::default().with_retention(RetentionPolicy::default().with_max_events(10));
    log.close().await;
    let log = EventLog::open_with(db.open().await?, config).await?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while log.first_index().await? != Some(192) {
        ensure!(tokio::time::Instant::now() < deadline, "no prune on open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(log.apply_retention().await?, 0);
    log.append_many((202..=206).map(started).collect()).await?;
    assert_eq!(log.apply_retention().await?, 5);
    assert_eq!(
        indexes(&log.query(&EventFilter::from_index(0)).await?),
        (197..=206).collect::<Vec<_>>()
    );

    // Everything older than a day: nothing here.
    let by_age = RetentionPolicy::default().with_max_age(Duration::from_secs(86_400));
    let log2 = EventLog::open_with(
        db.open().await?,
        EventLogConfig::default().with_retention(by_age),
    )
    .await?;
    assert_eq!(log2.apply_retention().await?, 0);
    Ok(())
}

async fn background_pruner_applies_policy(db: &TestDb) -> anyhow::Result<()> {
    let config = EventLogConfig::default()
        .with_retention(RetentionPolicy::default().with_max_events(100))
        .with_prune_interval(Duration::from_millis(50));
    let log = EventLog::open_with(db.open().await?, config).await?;
    log.append_many((1..=1000).map(started).collect()).await?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while log.first_index().await? != Some(901) {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "pruner did not run: first index {:?}",
            log.first_index().await?
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(log.query(&EventFilter::from_index(0)).await?.len(), 100);
    Ok(())
}

async fn concurrent_appends_from_many_tasks(db: &TestDb) -> anyhow::Result<()> {
    const TASKS: u64 = 50;
    const PER_TASK: u64 = 100;
    let log = EventLog::open(db.open().await?).await?;
    let tasks = appenders(std::slice::from_ref(&log), TASKS, PER_TASK);
    let mut all = HashSet::new();
    for task in tasks {
        let mine = task.await??;
        ensure!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a task's indexes went backwards"
        );
        all.extend(mine);
    }
    assert_eq!(all, (1..=TASKS * PER_TASK).collect::<HashSet<_>>());
    let stored = log
        .query(&EventFilter::from_index(0).with_limit(10_000))
        .await?;
    assert_eq!(indexes(&stored), (1..=TASKS * PER_TASK).collect::<Vec<_>>());
    Ok(())
}

/// `tasks` tasks appending `per_task` events each, task `t` to `logs[t % logs.len()]`, each
/// event's payload its number; each task returns the indexes it was given, in order.
fn appenders(
    logs: &[EventLog],
    tasks: u64,
    per_task: u64,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Vec<u64>>>> {
    (0..tasks)
        .map(|t| {
            let log = logs[(t % logs.len() as u64) as usize].clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0..per_task {
                    let n = t * per_task + n;
                    let event = log.append(started(n)).await?;
                    ensure!(
                        event.payload == json!({ "n": n }),
                        "reply mixed up: {event:?}"
                    );
                    mine.push(event.index);
                }
                anyhow::Ok(mine)
            })
        })
        .collect()
}

/// Two engines on one database (a successor starting before its predecessor stopped, or two
/// runners on one PostgreSQL) number their events from the same sequence: when one takes the
/// indexes the other had reserved, the loser renumbers and commits again, losing nothing.
async fn two_logs_on_one_store_keep_every_event(db: &TestDb) -> anyhow::Result<()> {
    const TASKS: u64 = 8;
    const PER_TASK: u64 = 40;
    let first = EventLog::open(db.open().await?).await?;
    let second = EventLog::open(db.open().await?).await?;
    let tasks = appenders(&[first.clone(), second.clone()], TASKS, PER_TASK);
    let mut all = HashSet::new();
    for task in tasks {
        all.extend(task.await??);
    }
    assert_eq!(all.len() as u64, TASKS * PER_TASK, "one index per append");
    let stored = first
        .query(&EventFilter::from_index(0).with_limit(10_000))
        .await?;
    assert_eq!(stored.len() as u64, TASKS * PER_TASK, "every append stored");
    let payloads: HashSet<_> = stored.iter().map(|e| e.payload["n"].as_u64()).collect();
    assert_eq!(payloads.len() as u64, TASKS * PER_TASK, "each event once");
    Ok(())
}

async fn emit_flush_and_close(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    let mut live = log.subscribe(0);
    for n in 1..=1000 {
        log.emit(started(n)).await?;
    }
    log.flush().await?;
    assert_eq!(log.last_index(), 1000);
    assert_eq!(log.query(&EventFilter::from_index(990)).await?.len(), 11);

    log.close().await;
    log.close().await;
    assert!(matches!(
        log.append(started(0)).await,
        Err(EventLogError::Closed)
    ));
    assert!(matches!(
        log.emit(started(0)).await,
        Err(EventLogError::Closed)
    ));
    // The live subscription delivers everything committed, then ends.
    assert_eq!(
        indexes(&take(&mut live, 1000).await?),
        (1..=1000).collect::<Vec<_>>()
    );
    assert!(tokio::time::timeout(PATIENCE, live.next()).await?.is_none());
    // A subscription after close replays history and ends.
    let history: Vec<_> = log.subscribe(995).collect().await;
    assert_eq!(history.len(), 6);
    Ok(())
}

async fn bad_payload_fails_only_its_own_append(db: &TestDb) -> anyhow::Result<()> {
    let log = EventLog::open(db.open().await?).await?;
    log.append(started(0)).await?;
    // PostgreSQL's jsonb rejects the NUL character; SQLite stores it.
    let bad = NewEvent::new("plugin-failed").with_payload(json!({ "stderr": "x\u{0}y" }));

    // Stall the writer inside a commit so that everything below queues up into one batch.
    let blocker = db.block_event_writes().await?;
    let spawn_append = |event: NewEvent| {
        let log = log.clone();
        tokio::spawn(async move { log.append(event).await })
    };
    let stalled = spawn_append(started(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut goods: Vec<_> = (2..=26).map(|n| spawn_append(started(n))).collect();
    let bad_append = spawn_append(bad.clone());
    goods.extend((27..=51).map(|n| spawn_append(started(n))));
    tokio::time::sleep(Duration::from_millis(100)).await;
    blocker.release().await?;

    stalled.await??;
    for good in goods {
        good.await??;
    }
    let outcome = bad_append.await?;
    let expected = match db.backend {
        "postgres" => {
            let error = outcome.expect_err("jsonb rejects NUL");
            assert!(matches!(error, EventLogError::Store(_)), "{error:?}");
            52
        }
        _ => {
            assert_eq!(outcome?.payload, bad.payload);
            53
        }
    };
    let stored = log.query(&EventFilter::from_index(0)).await?;
    assert_eq!(
        indexes(&stored),
        (1..=expected).collect::<Vec<_>>(),
        "every good append stored, no hole left by the failure"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_in_memory_sqlite() -> anyhow::Result<()> {
    let log = EventLog::open(windlass::Store::open("sqlite::memory:").await?).await?;
    let mut live = log.subscribe(0);
    log.append_many((1..=300).map(started).collect()).await?;
    let tasks: Vec<_> = (0..10)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for n in 0..50 {
                    log.append(started(1000 + t * 50 + n)).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    ensure_contiguous(&take(&mut live, 800).await?, 1, 800, "in-memory")?;
    assert_eq!(log.query(&EventFilter::from_index(0)).await?.len(), 800);
    Ok(())
}
