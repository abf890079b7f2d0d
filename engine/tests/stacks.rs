//! Stacks against real Docker: dependency order and readiness gates, injected connection
//! details, DNS between services, isolation between orgs, volumes across redeploys, and the
//! validation errors that store nothing.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::{EngineScope, wait_event};
use windlass::health::{CheckKind, HealthCheck, Probe};
use windlass::stacks::{Condition, StackSpec};
use windlass::{Engine, Event, EventFilter, ServiceSpec};

const TIMEOUT: Duration = Duration::from_secs(5);

/// httpd serving `text` at `/` on port 8080 after `delay` seconds.
fn web(name: &str, delay: u32, text: &str) -> ServiceSpec {
    let script = format!(
        "trap 'exit 0' TERM; sleep {delay}; mkdir -p /www && echo '{text}' > /www/index.html \
         && env > /www/env.txt && exec httpd -f -p 8080 -h /www"
    );
    ServiceSpec::new(name, BUSYBOX)
        .with_command(["sh", "-c", &script])
        .with_health_check(
            HealthCheck::new(CheckKind::Readiness, Probe::Tcp { port: 8080 })
                .every(Duration::from_millis(200)),
        )
}

async fn running(engine: &Engine) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let runner = engine.clone();
    tokio::spawn(async move {
        runner.run(std::future::pending()).await?;
        Ok(())
    })
}

async fn events_of(engine: &Engine, kind: &str) -> anyhow::Result<Vec<Event>> {
    Ok(engine
        .events(&EventFilter {
            kind: Some(kind.into()),
            ..EventFilter::from_index(0)
        })
        .await?)
}

async fn wait_ready(engine: &Engine, org: &str, stack: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = engine.stack_status(org, stack).await?;
        if !status.is_empty() && status.iter().all(|s| s.is_ready()) {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "stack {org}/{stack} not ready: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn services_start_in_dependency_order_behind_readiness_gates_with_injected_env()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    // db takes 3 s to listen; api waits for it to be healthy, web for api to be started;
    // side has no dependencies and starts at once.
    let stack = StackSpec::new()
        .with_service(web("db", 3, "db").with_provides("DB_URL", "tcp://db:8080/${db_name}"))
        .with_service(web("api", 0, "api").with_dependency("db", Condition::Healthy))
        .with_service(web("web", 0, "web").with_dependency("api", Condition::Started))
        .with_service(web("side", 0, "side"));
    let params = BTreeMap::from([("db_name".to_owned(), "shop".to_owned())]);
    let deployment = engine
        .deploy_stack("acme", "order", &stack, &params)
        .await?;
    assert_eq!(
        deployment.waves,
        [vec!["db", "side"], vec!["api"], vec!["web"]]
    );
    let run = running(&engine).await;
    wait_ready(&engine, "acme", "order").await?;

    let created = events_of(&engine, "container-created").await?;
    let index_of = |service: &str| {
        created
            .iter()
            .find(|e| e.service.as_deref() == Some(service))
            .unwrap()
            .index
    };
    let db_ready = wait_event(&engine, "health-changed", TIMEOUT, |e| {
        e.service.as_deref() == Some("db") && e.payload["to"] == "passing"
    })
    .await?;
    assert!(
        index_of("api") > db_ready.index,
        "api was created before db was ready"
    );
    assert!(index_of("web") > index_of("api"));
    assert!(
        index_of("side") < db_ready.index,
        "side does not wait for anyone"
    );
    let waiting = events_of(&engine, "service-waiting").await?;
    assert!(
        waiting.iter().any(|e| e.service.as_deref() == Some("api")
            && e.payload["waiting_for"][0] == "db (healthy)"),
        "{waiting:?}"
    );

    // The dependency's connection details reach the dependent, interpolated; DNS finds db.
    let runtime = common::docker::connect().await?;
    let api = format!("wl_{}_acme_order_api_0", scope.id);
    let env = runtime
        .exec(&api, &["cat".into(), "/www/env.txt".into()], TIMEOUT)
        .await?;
    assert!(
        env.stdout.contains("DB_URL=tcp://db:8080/shop"),
        "{}",
        env.stdout
    );
    let page = runtime
        .exec(
            &api,
            &[
                "wget".into(),
                "-q".into(),
                "-O".into(),
                "-".into(),
                "http://db:8080/".into(),
            ],
            TIMEOUT,
        )
        .await?;
    assert_eq!((page.exit_code, page.stdout.trim()), (0, "db"), "{page:?}");
    run.abort();
    Ok(())
}

#[tokio::test]
async fn a_dependency_cycle_is_refused_naming_the_cycle_and_stores_nothing() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let stack = StackSpec::new()
        .with_service(web("api", 0, "x").with_dependency("worker", Condition::Started))
        .with_service(web("worker", 0, "x").with_dependency("api", Condition::Started))
        .with_service(web("web", 0, "x").with_dependency("nowhere", Condition::Started));
    let error = engine
        .deploy_stack("acme", "loop", &stack, &BTreeMap::new())
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("dependency cycle: api -> worker -> api"),
        "{text}"
    );
    assert!(text.contains("unknown service \"nowhere\""), "{text}");
    assert_eq!(error.code(), "validation");
    assert!(engine.services(windlass::Scope::All).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn stacks_of_different_orgs_cannot_reach_each_other() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let stack = StackSpec::new()
        .with_service(web("db", 0, "secret"))
        .with_service(web("probe", 0, "p"));
    engine
        .deploy_stack("acme", "shop", &stack, &BTreeMap::new())
        .await?;
    engine
        .deploy_stack("globex", "shop", &stack, &BTreeMap::new())
        .await?;
    let run = running(&engine).await;
    wait_ready(&engine, "acme", "shop").await?;
    wait_ready(&engine, "globex", "shop").await?;

    let runtime = common::docker::connect().await?;
    let name = |org: &str, service: &str| format!("wl_{}_{org}_shop_{service}_0", scope.id);
    let acme_db = engine.inspect(&name("acme", "db")).await?;
    let acme_ip = acme_db
        .networks
        .values()
        .flatten()
        .next()
        .unwrap()
        .to_string();
    // busybox's static wget crashes resolving a name with -T: bound it with timeout instead.
    let wget = |url: String| {
        ["timeout", "3", "wget", "-q", "-O", "-"]
            .map(String::from)
            .into_iter()
            .chain([url])
            .collect::<Vec<_>>()
    };
    // From globex: `db` is globex's own db, and acme's address is unreachable.
    let own = runtime
        .exec(
            &name("globex", "probe"),
            &wget("http://db:8080/".into()),
            TIMEOUT,
        )
        .await?;
    assert_eq!(own.exit_code, 0, "{own:?}");
    let globex_db = engine.inspect(&name("globex", "db")).await?;
    assert_ne!(
        globex_db
            .networks
            .values()
            .flatten()
            .next()
            .unwrap()
            .to_string(),
        acme_ip
    );
    let across = runtime
        .exec(
            &name("globex", "probe"),
            &wget(format!("http://{acme_ip}:8080/")),
            TIMEOUT,
        )
        .await?;
    assert_ne!(across.exit_code, 0, "globex reached acme's db: {across:?}");
    // From acme, the same address works.
    let inside = runtime
        .exec(
            &name("acme", "probe"),
            &wget(format!("http://{acme_ip}:8080/")),
            TIMEOUT,
        )
        .await?;
    assert_eq!(
        (inside.exit_code, inside.stdout.trim()),
        (0, "secret"),
        "{inside:?}"
    );
    run.abort();
    Ok(())
}

#[tokio::test]
async fn volume_data_survives_a_redeploy_and_a_completed_job_gates_its_dependent()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    // A one-shot job writes to the volume; the server starts once it completed and serves the
    // volume, appending one line per start.
    let job = ServiceSpec::new("migrate", BUSYBOX)
        .with_command(["sh", "-c", "echo migrated >> /data/log"])
        .with_volume("data", "/data", false)
        .with_restart(windlass::lifecycle::RestartPolicy::Never);
    let server = |revision: &str| {
        web("server", 0, "x")
            .with_command([
                "sh",
                "-c",
                "trap 'exit 0' TERM; echo started >> /data/log; exec httpd -f -p 8080 -h /data",
            ])
            .with_env("REVISION", revision)
            .with_volume("data", "/data", false)
            .with_dependency("migrate", Condition::Completed)
    };
    let stack = |revision: &str| {
        StackSpec::new()
            .with_service(job.clone())
            .with_service(server(revision))
            .with_volume("data")
    };
    engine
        .deploy_stack("acme", "vol", &stack("1"), &BTreeMap::new())
        .await?;
    let run = running(&engine).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let server_name = format!("wl_{}_acme_vol_server_0", scope.id);
    let runtime = common::docker::connect().await?;
    let read_log = || async {
        runtime
            .exec(&server_name, &["cat".into(), "/data/log".into()], TIMEOUT)
            .await
    };
    loop {
        if let Ok(log) = read_log().await
            && log.stdout.contains("started")
        {
            assert_eq!(
                log.stdout, "migrated\nstarted\n",
                "the server started after the job completed"
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "server never started"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A new revision replaces the server container; the volume keeps what was written.
    let first_id = engine.inspect(&server_name).await?.id;
    let deployment = engine
        .deploy_stack("acme", "vol", &stack("2"), &BTreeMap::new())
        .await?;
    assert_eq!(
        deployment
            .services
            .iter()
            .find(|s| s.service == "server")
            .unwrap()
            .revision,
        2
    );
    loop {
        if let Ok(info) = engine.inspect(&server_name).await
            && info.id != first_id
            && let Ok(log) = read_log().await
            && log.stdout.matches("started").count() == 2
        {
            assert_eq!(log.stdout, "migrated\nstarted\nstarted\n");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "server never redeployed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.abort();
    Ok(())
}

/// Docker's default address pools hold about 31 bridge networks: 40 stacks deployed and
/// removed one after another must all succeed, and leave no network behind.
#[tokio::test]
async fn forty_stacks_deployed_and_removed_leave_no_network_behind() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let runtime = common::docker::connect_with_busybox().await?;
    let idle = ServiceSpec::new("app", BUSYBOX).with_command([
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 600 & wait",
    ]);
    for i in 0..40 {
        let name = format!("s{i}");
        let stack = StackSpec::new().with_service(idle.clone());
        engine
            .deploy_stack("acme", &name, &stack, &BTreeMap::new())
            .await?;
        let report = engine.reconcile().await?;
        anyhow::ensure!(
            report.created == 1 && report.errors.is_empty(),
            "stack {i}: {report:?}"
        );
        engine.remove_stack("acme", &name).await?;
        let report = engine.reconcile().await?;
        anyhow::ensure!(
            report.removed == 1 && report.networks_removed == 1,
            "stack {i} removal: {report:?}"
        );
    }
    let left = runtime
        .list_networks(&[(windlass::labels::LABEL_ENGINE, scope.id.as_str())])
        .await?;
    assert!(left.is_empty(), "networks left behind: {left:?}");
    let removed = events_of(&engine, "network-removed").await?;
    assert_eq!(removed.len(), 40);
    Ok(())
}

/// A removed service's containers (and DNS name) go while the stack keeps its network; the
/// stack's volumes outlive its removal until they are removed on purpose.
#[tokio::test]
async fn a_stack_keeps_its_network_while_it_has_services_and_volumes_until_asked()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let runtime = common::docker::connect_with_busybox().await?;
    let sleeper = |name: &str| {
        ServiceSpec::new(name, BUSYBOX)
            .with_command(["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"])
            .with_volume("data", "/data", false)
    };
    let both = StackSpec::new()
        .with_service(sleeper("a"))
        .with_service(sleeper("b"))
        .with_volume("data");
    engine
        .deploy_stack("acme", "keep", &both, &BTreeMap::new())
        .await?;
    engine.reconcile().await?;
    let only_a = StackSpec::new()
        .with_service(sleeper("a"))
        .with_volume("data");
    engine
        .deploy_stack("acme", "keep", &only_a, &BTreeMap::new())
        .await?;
    let report = engine.reconcile().await?;
    assert_eq!(
        (report.removed, report.networks_removed),
        (1, 0),
        "{report:?}"
    );
    let engine_label = [(windlass::labels::LABEL_ENGINE, scope.id.as_str())];
    assert_eq!(runtime.list_networks(&engine_label).await?.len(), 1);

    // Volumes of a stack that still has services are refused.
    let refused = engine
        .remove_stack_volumes("acme", "keep")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "conflict", "{refused}");

    engine.remove_stack("acme", "keep").await?;
    engine.reconcile().await?;
    assert!(runtime.list_networks(&engine_label).await?.is_empty());
    assert_eq!(
        runtime.list_volumes(&engine_label).await?.len(),
        1,
        "the data volume outlives the stack"
    );
    let removed = engine.remove_stack_volumes("acme", "keep").await?;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(runtime.list_volumes(&engine_label).await?.is_empty());
    assert_eq!(events_of(&engine, "volume-removed").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_stack_is_removed_by_its_origin_only_while_that_origin_declared_it_last()
-> anyhow::Result<()> {
    use windlass::StackOrigin;

    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let stack = StackSpec::new().with_service(web("app", 0, "app"));
    let params = BTreeMap::new();
    engine
        .deploy_stack_from("acme", "shop", &stack, &params, StackOrigin::File)
        .await?;
    engine.deploy_stack("acme", "blog", &stack, &params).await?;
    assert_eq!(
        engine.stacks_from(StackOrigin::File).await?,
        [("acme".to_owned(), "shop".to_owned())]
    );
    assert_eq!(
        engine.stack_origin("acme", "blog").await?,
        Some(StackOrigin::Api)
    );

    // The API re-declares the file's stack: the file's prune no longer owns it.
    engine.deploy_stack("acme", "shop", &stack, &params).await?;
    assert_eq!(
        engine
            .remove_stack_from("acme", "shop", StackOrigin::File)
            .await?,
        None
    );
    assert_eq!(engine.stack_status("acme", "shop").await?.len(), 1);
    assert!(engine.stacks_from(StackOrigin::File).await?.is_empty());

    // Its own origin removes it, and the origin goes with it.
    assert_eq!(
        engine
            .remove_stack_from("acme", "shop", StackOrigin::Api)
            .await?,
        Some(vec!["app".to_owned()])
    );
    assert!(engine.stack_status("acme", "shop").await?.is_empty());
    assert_eq!(engine.stack_origin("acme", "shop").await?, None);
    // remove_stack forgets the origin too.
    engine.remove_stack("acme", "blog").await?;
    assert_eq!(engine.stack_origin("acme", "blog").await?, None);
    Ok(())
}
