//! The Nix strategy against the real thing: a `default.nix` in a git repository served on
//! loopback, `build_nix.wasm`, Nix (Debian's nix-bin) in a builder container with its store
//! in a build cache volume, and the busybox runtime image that serves the result.

use std::time::Duration;

use windlass::builds::{BuildSource, BuildState, BuildsConfig};
use windlass::plugins::PluginHost;
use windlass::{BuildRequest, PortSpec, ServiceSpec};
use windlass_test_support::docker;
use windlass_test_support::engine::{EngineScope, build_finished};
use windlass_test_support::git::{GitServer, Repo};
use windlass_test_support::plugins::nix_strategy;

/// What the derivation prints while it builds: seen once per store.
const BUILDING: &str = "windlass-nix-test: building the site";

/// A site Nix builds with nothing downloaded: the builder is the image's `/bin/sh`, the
/// result a page and `bin/start`, which serves it with busybox httpd in the runtime image.
const DEFAULT_NIX: &str = r#"derivation {
  name = "windlass-nix-site";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/usr/bin:/bin";
  args = [ "-c" ''
    echo "windlass-nix-test: building the site"
    mkdir -p $out/bin $out/share/www
    echo '<h1>built by nix</h1>' > $out/share/www/index.html
    printf '#!/bin/sh\nexec httpd -f -p 8080 -h %s/share/www\n' "$out" > $out/bin/start
    chmod 755 $out/bin/start
  '' ];
}
"#;

/// A `default.nix` becomes a served page; the next commit, with the same derivation, builds
/// nothing in Nix (the store volume kept it) and deploys again; no builder container is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_nix_is_built_by_nix_with_the_store_kept() -> anyhow::Result<()> {
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    let first = repo.commit(&[("default.nix", DEFAULT_NIX)], "A Nix site")?;
    let server = GitServer::start(base.path())?;

    let scope = EngineScope::new();
    let cache = format!("nix-test-{}", scope.id);
    let host = PluginHost::builder().build()?;
    let work = tempfile::tempdir()?;
    let builds = BuildsConfig::default()
        .with_strategy("nix", nix_strategy(&host, &cache).await?)
        .with_work_dir(work.path());
    let engine = scope.builder().with_builds(builds).build().await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let spec = ServiceSpec::new("site", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"))
        .with_port(PortSpec::tcp(8080).with_host_port(port));
    engine.apply("acme", "nix", spec).await?;
    let queued = loop {
        let filter = windlass::builds::BuildFilter {
            service: Some("site".to_owned()),
            ..Default::default()
        };
        if let Some(build) = engine.builds(&filter).await?.into_iter().next() {
            break build;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let build = build_finished(&engine, &queued.id, Duration::from_secs(180)).await?;
    let log = engine.build_log(&build.id).await?;
    assert_eq!(build.state, BuildState::Succeeded, "{build:?}\n{log}");
    assert_eq!(build.strategy.as_deref(), Some("nix"), "{log}");
    assert_eq!(
        build.commit.as_ref().map(|c| c.sha.as_str()),
        Some(first.as_str())
    );
    let plan = build.plan.clone().unwrap_or_default();
    assert_eq!(plan["language"], "nix", "{plan}");
    assert_eq!(plan["builder"]["image"], "windlass-test/nix:2", "{plan}");
    assert_eq!(plan["builder"]["caches"][0]["path"], "/nix", "{plan}");
    assert!(
        log.contains(BUILDING),
        "the first build ran the derivation:\n{log}"
    );
    assert!(log.contains("copied"), "the closure was copied out:\n{log}");
    assert_eq!(build.deployed_revision, Some(2), "{build:?}\n{log}");
    let page = docker::http_get(port, "/", Duration::from_secs(30)).await?;
    assert!(page.contains("<h1>built by nix</h1>"), "{page}");

    // The store is a build cache volume that outlives the build.
    let runtime = docker::connect().await?;
    let volumes = runtime
        .list_volumes(&[("dev.windlass.build-cache", cache.as_str())])
        .await?;
    assert_eq!(volumes.len(), 1, "{volumes:?}");

    // A commit that leaves the derivation as it was: Nix finds it in the store.
    let second = repo.commit(&[("README.md", "A site.\n")], "Describe the site")?;
    let again = engine
        .build("acme", "nix", "site", BuildRequest::default())
        .await?;
    let again = build_finished(&engine, &again.id, Duration::from_secs(180)).await?;
    let log = engine.build_log(&again.id).await?;
    assert_eq!(again.state, BuildState::Succeeded, "{again:?}\n{log}");
    assert_eq!(
        again.commit.as_ref().map(|c| c.sha.as_str()),
        Some(second.as_str())
    );
    assert!(
        !log.contains(BUILDING) && !log.contains("will be built"),
        "the second build rebuilt the derivation:\n{log}"
    );
    assert_eq!(again.deployed_revision, Some(3), "{again:?}\n{log}");
    let page = docker::http_get(port, "/", Duration::from_secs(30)).await?;
    assert!(page.contains("<h1>built by nix</h1>"), "{page}");

    // Nothing of the builder steps is left: no container, no clone.
    let builders = runtime
        .list_containers(&[("dev.windlass.builder-of", scope.id.as_str())])
        .await?;
    assert!(builders.is_empty(), "{builders:?}");
    assert_eq!(
        windlass_test_support::engine::build_leftovers(work.path()),
        Vec::<String>::new()
    );

    task.abort();
    docker::remove_images_of_engine(&scope.id).await;
    runtime
        .remove_volume(&windlass::builds::cache_volume(&cache), true)
        .await?;
    Ok(())
}
