//! Rolling updates against real Docker: start-first replacement with no failed request from a
//! client polling through it, an update whose new revision never gets ready rolling back by
//! itself, manual rollback to a kept revision, and an update resumed by a new engine after the
//! one running it was dropped mid-way.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::{EngineScope, wait_event};
use windlass::health::{CheckKind, HealthCheck, Probe};
use windlass::lifecycle::UpdatePolicy;
use windlass::{ContainerFilter, Engine, ServiceSpec};

const TIMEOUT: Duration = Duration::from_secs(5);

/// httpd answering `page` on 8080, ready once it listens.
fn web(page: &str, replicas: u32) -> ServiceSpec {
    let script = format!(
        "trap 'exit 0' TERM; mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 8080 -h /www"
    );
    ServiceSpec::new("web", BUSYBOX)
        .with_command(["sh", "-c", &script])
        .with_env("PAGE", page)
        .with_replicas(replicas)
        .with_health_check(
            HealthCheck::new(CheckKind::Readiness, Probe::Tcp { port: 8080 })
                .every(Duration::from_millis(200)),
        )
        .with_update(UpdatePolicy {
            min_healthy_ms: 500,
            progress_deadline_ms: 20_000,
            ..UpdatePolicy::default()
        })
}

/// A client in the same stack fetching `http://web:8080/` every 200 ms, logging each answer
/// or `FAIL`.
fn poller() -> ServiceSpec {
    let script = "trap 'exit 0' TERM; while true; do \
                  wget -q -O - http://web:8080/ >> /tmp/log 2>/tmp/err || echo FAIL $(cat /tmp/err) >> /tmp/log; \
                  usleep 200000; done";
    ServiceSpec::new("poller", BUSYBOX).with_command(["sh", "-c", script])
}

/// Waits (up to 15 s) until the poller's last answer is `want`; returns its whole log. A
/// request that hangs (a connection to a replica that went away mid-request) shows as a log
/// that stops at the old answer: the failure says how long ago the log last grew, which tells
/// a stuck poller from one still getting wrong answers.
async fn last_answer_is<F, Fut>(log: &F, want: &str) -> anyhow::Result<String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_secs(15);
    let (mut lines, mut grew_at) = (0, start);
    loop {
        let answers = log().await?;
        if answers.lines().last() == Some(want) {
            return Ok(answers);
        }
        let now = tokio::time::Instant::now();
        if answers.lines().count() != lines {
            (lines, grew_at) = (answers.lines().count(), now);
        }
        anyhow::ensure!(
            now < deadline,
            "the poller's last answer is not {want} after 15 s (its log of {lines} answers last \
             grew {:?} after the wait began, {:?} before its end):\n{answers}",
            grew_at - start,
            now - grew_at
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// For a failure message: the service's rollout events and the containers Docker runs for
/// the stack (name, revision label, state), so that a wrong answer can be traced to what ran.
async fn what_ran(engine: &Engine) -> String {
    let events = engine
        .events(&windlass::EventFilter {
            limit: Some(1000),
            ..windlass::EventFilter::default()
        })
        .await
        .unwrap_or_default();
    let rollouts: Vec<String> = events
        .iter()
        .filter(|e| e.kind.starts_with("rollout") || e.kind.contains("replica"))
        .map(|e| format!("{} {} {}", e.index, e.kind, e.payload))
        .collect();
    let docker = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "name=_acme_roll_web",
            "--format",
            "{{.Names}} {{.Status}} {{.Label \"dev.windlass.revision\"}} {{.Networks}}",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!(
        "rollout events:\n{}\ncontainers:\n{docker}",
        rollouts.join("\n")
    )
}

fn run(engine: &Engine) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let runner = engine.clone();
    tokio::spawn(async move {
        runner.run(std::future::pending()).await?;
        Ok(())
    })
}

async fn web_ids(engine: &Engine) -> anyhow::Result<Vec<(String, String)>> {
    let filter = ContainerFilter {
        org: Some("acme".into()),
        stack: Some("roll".into()),
        service: Some("web".into()),
    };
    Ok(engine
        .containers(&filter)
        .await?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect())
}

async fn wait_ready(engine: &Engine) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !engine
        .stack_status("acme", "roll")
        .await?
        .iter()
        .all(|s| s.is_ready())
    {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "stack never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_start_first_update_serves_every_request_and_a_manual_rollback_goes_back()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    engine.apply("acme", "roll", web("v1", 2)).await?;
    engine.apply("acme", "roll", poller()).await?;
    let task = run(&engine);
    wait_ready(&engine).await?;
    let before = web_ids(&engine).await?;
    assert_eq!(before.len(), 2);
    let runtime = common::docker::connect().await?;
    let poller_name = format!("wl_{}_acme_roll_poller_0", scope.id);
    let log = || async {
        anyhow::Ok(
            runtime
                .exec(&poller_name, &["cat".into(), "/tmp/log".into()], TIMEOUT)
                .await?
                .stdout,
        )
    };
    // The client gets answers before the update starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !log().await?.contains("v1") {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the poller never got v1"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // From here on every request must succeed: start the log afresh (the poller may have
    // knocked before the replicas listened).
    runtime
        .exec(
            &poller_name,
            &["sh".into(), "-c".into(), ": > /tmp/log".into()],
            TIMEOUT,
        )
        .await?;
    let from = engine.event_log().last_index();
    assert_eq!(
        engine.apply("acme", "roll", web("v2", 2)).await?.revision,
        2
    );
    let done = wait_event(&engine, "rollout-completed", Duration::from_secs(60), |e| {
        e.index > from && e.payload["to_revision"] == 2
    })
    .await?;
    let replaced: Vec<_> = engine
        .events(&windlass::EventFilter {
            kind: Some("rollout-replica-replaced".into()),
            ..windlass::EventFilter::from_index(from)
        })
        .await?;
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    // Start-first: every replacement came after its surge was started (never a gap).
    let surges = engine
        .events(&windlass::EventFilter {
            kind: Some("rollout-surge-started".into()),
            ..windlass::EventFilter::from_index(from)
        })
        .await?;
    assert_eq!(surges.len(), 2);
    assert!(
        surges[0].index < replaced[0].index && replaced[0].index < surges[1].index,
        "max_parallel 1: one at a time"
    );
    let after = web_ids(&engine).await?;
    assert_eq!(
        after.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        before.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "same slot names"
    );
    assert!(
        after
            .iter()
            .all(|(_, id)| !before.iter().any(|(_, old)| old == id)),
        "every replica is new"
    );

    // The client reaches the new revision (its loop runs every 200 ms; on a loaded machine a
    // turn can take longer, so wait for it rather than a fixed time), and no request failed.
    let answers = match last_answer_is(&log, "v2").await {
        Ok(answers) => answers,
        Err(error) => return Err(error.context(what_ran(&engine).await)),
    };
    assert!(
        !answers.lines().any(|l| l.starts_with("FAIL")),
        "a request failed during the update:\n{answers}"
    );
    let rollout = engine.rollout("acme", "roll", "web").await?.unwrap();
    assert_eq!(
        (
            rollout.from_revision,
            rollout.to_revision,
            rollout.state.as_str()
        ),
        (1, 2, "completed")
    );
    let kept: Vec<u64> = engine
        .revisions("acme", "roll", "web")
        .await?
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(kept, [2, 1]);

    // Manual rollback to revision 1: rolled out the same way, and v1 answers again.
    let back = engine.rollback("acme", "roll", "web", None).await?;
    assert_eq!(back.revision, 1);
    wait_event(&engine, "rollout-completed", Duration::from_secs(60), |e| {
        e.index > done.index && e.payload["to_revision"] == 1
    })
    .await?;
    let answers = match last_answer_is(&log, "v1").await {
        Ok(answers) => answers,
        Err(error) => return Err(error.context(what_ran(&engine).await)),
    };
    assert!(
        !answers.lines().any(|l| l.starts_with("FAIL")),
        "a request failed during the rollback:\n{answers}"
    );
    task.abort();
    Ok(())
}

#[tokio::test]
async fn an_update_that_never_gets_ready_rolls_back_by_itself_without_touching_the_old_replicas()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    engine.apply("acme", "roll", web("v1", 2)).await?;
    let task = run(&engine);
    wait_ready(&engine).await?;
    let before = web_ids(&engine).await?;

    // Revision 2 never listens, so it never gets ready; the deadline is short.
    let mut broken = web("v2", 2).with_command([
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    broken.update.progress_deadline_ms = 3_000;
    let from = engine.event_log().last_index();
    assert_eq!(engine.apply("acme", "roll", broken).await?.revision, 2);
    let rolled_back = wait_event(
        &engine,
        "rollout-rolled-back",
        Duration::from_secs(30),
        |e| e.index > from,
    )
    .await?;
    assert_eq!(
        (
            rolled_back.payload["from_revision"].as_u64(),
            rolled_back.payload["to_revision"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert!(
        rolled_back.payload["reason"]
            .as_str()
            .unwrap()
            .contains("progress deadline"),
        "{rolled_back:?}"
    );
    wait_event(
        &engine,
        "rollout-surge-removed",
        Duration::from_secs(10),
        |e| e.index > rolled_back.index,
    )
    .await?;

    let desired = engine.services(windlass::Scope::All).await?;
    assert_eq!(
        desired[0].revision, 1,
        "the desired state is the last good revision again"
    );
    // The old replicas never stopped: the same containers serve.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(web_ids(&engine).await?, before);
    assert_eq!(
        engine.rollout("acme", "roll", "web").await?.unwrap().state,
        "rolled-back"
    );
    task.abort();
    Ok(())
}

#[tokio::test]
async fn an_update_interrupted_by_the_engine_going_away_resumes_in_a_new_engine()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let mut slow = web("v1", 3);
    slow.update.min_healthy_ms = 1_500;
    engine.apply("acme", "roll", slow.clone()).await?;
    let task = run(&engine);
    wait_ready(&engine).await?;
    let before = web_ids(&engine).await?;

    let from = engine.event_log().last_index();
    let mut next = web("v2", 3);
    next.update.min_healthy_ms = 1_500;
    engine.apply("acme", "roll", next).await?;
    // The first replica is replaced; then the engine goes away mid-update (the task is
    // aborted: no shutdown code runs, as with kill -9).
    wait_event(
        &engine,
        "rollout-replica-replaced",
        Duration::from_secs(30),
        |e| e.index > from,
    )
    .await?;
    task.abort();
    let _ = task.await;
    drop(engine);

    let engine = scope.builder().build().await?;
    let task = run(&engine);
    let done = match wait_event(&engine, "rollout-completed", Duration::from_secs(60), |e| {
        e.index > from
    })
    .await
    {
        Ok(done) => done,
        Err(error) => {
            let seen = engine
                .events(&windlass::EventFilter::from_index(from))
                .await?;
            let seen: Vec<String> = seen
                .iter()
                .map(|e| format!("{} {:?} {}", e.kind, e.container, e.payload))
                .collect();
            anyhow::bail!("{error}; events since the update:\n{}", seen.join("\n"));
        }
    };
    assert_eq!(done.payload["to_revision"], 2);
    let after = web_ids(&engine).await?;
    assert_eq!(after.len(), 3);
    assert!(
        after
            .iter()
            .all(|(_, id)| !before.iter().any(|(_, old)| old == id)),
        "every replica replaced"
    );
    let surges = engine
        .events(&windlass::EventFilter {
            kind: Some("rollout-surge-started".into()),
            ..windlass::EventFilter::from_index(from)
        })
        .await?;
    assert!(
        surges.len() <= 3,
        "no surge was started twice for one slot: {surges:?}"
    );
    task.abort();
    Ok(())
}
