//! The inventory through a real `windlass run` process whose config has a Control Plane target
//! (the `adapter-cpln` component, built from plugins/) pointed at the Control Plane fixture
//! server, next to the engine's own Docker (`local`): `GET /v1/inventory` with its filters, pages
//! and `count`, org scoping of tokens, `/v1/inventory/stream`'s progress events and report,
//! JSON 400s with stable codes, and `windlass inventory` (`--json`, `--count`, the table) with
//! the adapter's token a secret reference set after the runner started.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use common::cpln::{CplnFixture, Fault, FixtureSpec, Workload};
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use process::{Runner, toml_string};
use serde_json::Value;

/// `prod`: `web` (2 locations × main + sidecar), `api`, `edge` (rolling out: the new version
/// not ready, the old one ready) and `broken` (403); `staging`: `web` at another version.
/// Seven containers in prod over four workloads, one of them failing.
fn fixture_spec() -> FixtureSpec {
    FixtureSpec::new("acme")
        .with_workload(
            Workload::standard("prod", "web", "/org/acme/image/web:1.4")
                .in_locations(&["aws-us-west-2", "gcp-us-east1"])
                .with_container("sidecar", "envoy:1.30"),
        )
        .with_workload(Workload::standard("prod", "api", "/org/acme/image/api:2.0"))
        .with_workload(Workload::standard("prod", "edge", "nginx:1.27").rolling_out())
        .with_workload(Workload::standard("prod", "broken", "nginx:1.27"))
        .with_fault("broken", Fault::Forbidden)
        .with_workload(Workload::standard(
            "staging",
            "web",
            "/org/acme/image/web:1.5",
        ))
}

/// The `[[plugins]]`, `[[targets]]` and `[inventory]` of a runner with the fixture as target
/// `cpln`; `token` is the config value of the adapter's `token` (TOML).
fn cpln_config(fixture: &CplnFixture, token: &str, secrets: &[&str]) -> anyhow::Result<String> {
    let component = common::plugins::component("adapter_cpln.wasm")?;
    let granted: Vec<String> = secrets.iter().map(|s| toml_string(s)).collect();
    Ok(format!(
        r#"[[plugins]]
name = "cpln"
kind = "cloud-adapter"
source = {source}
limits = {{ timeout_ms = 10000 }}
grants = {{ outbound_hosts = [{host}], secrets = [{granted}] }}
config = {{ api_url = {url}, org = "acme", gvc = "prod", token = {token} }}

[[targets]]
name = "cpln"
plugin = "cpln"

[inventory]
concurrency = 4
ttl = "300s"
max_attempts = 3
"#,
        source = toml_string(component.to_str().unwrap()),
        host = toml_string(&fixture.host()),
        url = toml_string(&fixture.base_url()),
        granted = granted.join(", "),
    ))
}

/// A stack of one long-running busybox service `web`.
fn stack_file(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            "[[services]]\nname = \"web\"\nimage = \"{BUSYBOX}\"\n\
             command = [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
        ),
    )?;
    Ok(path.to_str().unwrap().to_owned())
}

fn api(runner: &Runner) -> Api {
    Api::new(runner.url.trim_start_matches("http://").parse().unwrap())
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn get_ok(api: &Api, path: &str, token: &str) -> anyhow::Result<Value> {
    let answer = api.get(path, token).await?;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    Ok(answer.body)
}

async fn total(api: &Api, path: &str, token: &str) -> anyhow::Result<u64> {
    Ok(get_ok(api, path, token).await?["total"].as_u64().unwrap())
}

/// A 400 whose JSON names the stable code `validation` and `field`.
async fn refused(api: &Api, path: &str, token: &str, field: &str) -> anyhow::Result<()> {
    let answer = api.get(path, token).await?;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{path}: {:?}",
        answer.body
    );
    let error = &answer.body["error"];
    assert_eq!(
        (error["code"].as_str(), error["field"].as_str()),
        (Some("validation"), Some(field)),
        "{path}: {}",
        answer.body
    );
    assert!(!error["message"].as_str().unwrap().is_empty());
    Ok(())
}

fn groups(report: &Value) -> Vec<String> {
    report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["group"].as_str().unwrap().to_owned())
        .collect()
}

/// A token of `org` with the `read` role, made with the CLI.
fn read_token(runner: &Runner, org: &str) -> String {
    let created = runner.json(&[
        "tokens", "create", "--org", org, "--role", "read", "--name", "viewer",
    ]);
    created["secret"].as_str().unwrap().to_owned()
}

/// The events of an SSE text: `(event, data)` in order (comments skipped).
fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = Some(e.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
                }
            }
            event.map(|e| (e, data.join("\n")))
        })
        .collect()
}

#[tokio::test]
async fn the_api_filters_pages_counts_scopes_by_org_and_streams_progress() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(fixture_spec()).await?;
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let token = toml_string(&fixture.token());
    let config = cpln_config(&fixture, &token, &[])?;
    let runner = Runner::start_with_config(&scope, dir.path(), None, &config).await?;
    let api = api(&runner);
    let admin = runner.token.clone();

    // One local container of another org, on the engine's own Docker.
    let file = stack_file(dir.path())?;
    runner.ok(&[
        "deploy",
        &file,
        "--org",
        "globex",
        "--stack",
        "site",
        "--timeout",
        "60",
    ]);
    runner.wait_ps(&["--org", "globex", "--status", "running"], |c| {
        c.len() == 1
    });

    // The Control Plane target: partial results, statistics equal to the fixture's counts.
    let all = get_ok(&api, "/v1/inventory?target=cpln", &admin).await?;
    let stats = &all["stats"];
    assert_eq!(all["total"], 7, "{all:#}");
    assert_eq!(
        (
            &stats["workloads_processed"],
            &stats["workloads_succeeded"],
            &stats["workloads_failed"]
        ),
        (&4.into(), &3.into(), &1.into()),
        "{stats:#}"
    );
    assert_eq!(stats["calls"], 5, "one listing page and four workloads");
    assert_eq!(stats["calls"].as_u64(), Some(fixture.total_calls()));
    let errors = stats["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (
            &errors[0]["target"],
            &errors[0]["group"],
            &errors[0]["code"]
        ),
        (&"cpln".into(), &"broken".into(), &"not-found".into())
    );
    assert_eq!(errors[0]["attempts"], 1);
    assert_eq!(
        (
            &stats["containers_found"],
            &stats["containers_healthy"],
            &stats["containers_unhealthy"]
        ),
        (&7.into(), &6.into(), &1.into())
    );
    assert!(
        all["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["target"] == "cpln" && c["org"] == "acme" && c["scope"] == "prod"),
        "{all:#}"
    );
    assert!(all["next_cursor"].is_null());

    // Within the TTL: the same answer from the cache; only the failed workload (a failure is
    // not cached) is asked again.
    let again = get_ok(&api, "/v1/inventory?target=cpln", &admin).await?;
    assert_eq!(
        (&again["total"], &again["stats"]["calls"]),
        (&7.into(), &1.into())
    );
    assert_eq!(again["stats"]["cache_hits"], 4);
    assert_eq!(fixture.total_calls(), 6);
    assert_eq!(fixture.deployment_calls("prod", "broken"), 2);
    let web_only = get_ok(&api, "/v1/inventory?target=cpln&workload=web", &admin).await?;
    assert_eq!(
        (&web_only["total"], &web_only["stats"]["calls"]),
        (&4.into(), &0.into()),
        "a repeat that needs nothing uncached makes no call"
    );
    assert_eq!(fixture.total_calls(), 6);

    // Filters, under their names and their aliases.
    let cpln = "/v1/inventory?target=cpln";
    assert_eq!(
        total(&api, &format!("{cpln}&gvc=staging"), &admin).await?,
        1
    );
    assert_eq!(fixture.listing_calls("staging"), 1);
    assert_eq!(
        total(&api, &format!("{cpln}&scope=staging"), &admin).await?,
        1
    );
    assert_eq!(
        total(&api, &format!("{cpln}&workload=web"), &admin).await?,
        4
    );
    assert_eq!(total(&api, &format!("{cpln}&group=api"), &admin).await?, 1);
    let glob = enc("*/image/web:*");
    assert_eq!(
        total(&api, &format!("{cpln}&image={glob}"), &admin).await?,
        2
    );
    let exact = enc("envoy:1.30");
    assert_eq!(
        total(&api, &format!("{cpln}&image={exact}"), &admin).await?,
        2
    );
    let location = format!("{cpln}&location=gcp-us-east1");
    assert_eq!(total(&api, &location, &admin).await?, 2);
    let named = format!("{cpln}&name={}", enc("^side"));
    assert_eq!(total(&api, &named, &admin).await?, 2);
    let unhealthy = get_ok(&api, &format!("{cpln}&unhealthy=true"), &admin).await?;
    assert_eq!(groups(&unhealthy), ["edge"]);
    assert_eq!(unhealthy["containers"][0]["current_version"], true);
    assert_eq!(unhealthy["containers"][0]["image"], "nginx:1.27-next");
    let healthy = format!("{cpln}&status=healthy");
    assert_eq!(total(&api, &healthy, &admin).await?, 6);
    assert_eq!(total(&api, &format!("{cpln}&org=acme"), &admin).await?, 7);

    // count: the same total, no containers.
    let counted = get_ok(&api, &format!("{cpln}&count=true"), &admin).await?;
    assert_eq!(counted["total"], 7);
    assert_eq!(counted["containers"], Value::Array(vec![]));
    let counted = get_ok(&api, &format!("{cpln}&count=true&status=healthy"), &admin).await?;
    assert_eq!(counted["total"], 6);

    // Pages of three, following the cursor, in the order of the whole answer.
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("{cpln}&limit=3"),
            Some(c) => format!("{cpln}&limit=3&cursor={}", enc(c)),
        };
        let page = get_ok(&api, &path, &admin).await?;
        assert_eq!(page["total"], 7);
        let containers = page["containers"].as_array().unwrap();
        sizes.push(containers.len());
        ids.extend(containers.iter().map(|c| c["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    let all_ids: Vec<Value> = all["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, all_ids);

    // The local target through the same path: the engine's container of globex.
    let local = get_ok(&api, "/v1/inventory?target=local", &admin).await?;
    assert_eq!(local["total"], 1, "{local:#}");
    let c = &local["containers"][0];
    assert_eq!(
        (
            &c["target"],
            &c["org"],
            &c["scope"],
            &c["group"],
            &c["health"]
        ),
        (
            &"local".into(),
            &"globex".into(),
            &"site".into(),
            &"web".into(),
            &"healthy".into()
        )
    );
    assert_eq!(c["image"], BUSYBOX);
    let both = get_ok(&api, "/v1/inventory", &admin).await?;
    assert_eq!(
        (&both["total"], &both["stats"]["targets"]),
        (&8.into(), &2.into())
    );
    let two = get_ok(&api, "/v1/inventory?target=local,cpln&count=true", &admin).await?;
    assert_eq!(two["total"], 8);

    // A token of one org sees only its org, on every target.
    let globex = read_token(&runner, "globex");
    let seen = get_ok(&api, "/v1/inventory", &globex).await?;
    assert_eq!(seen["total"], 1, "{seen:#}");
    assert_eq!(seen["containers"][0]["org"], "globex");
    assert_eq!(total(&api, "/v1/inventory?target=cpln", &globex).await?, 0);
    let other = api.get("/v1/inventory?org=acme", &globex).await?;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{:?}", other.body);
    assert_eq!(other.body["error"]["code"], "forbidden");
    let acme = read_token(&runner, "acme");
    let seen = get_ok(&api, "/v1/inventory", &acme).await?;
    assert_eq!(seen["total"], 7, "{seen:#}");
    assert!(
        seen["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["org"] == "acme" && c["target"] == "cpln")
    );
    let unauthenticated = api.call("get", "/v1/inventory", None, None).await?;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    // Bad input: a JSON 400 with the stable code `validation` and the field, on both routes.
    for base in ["/v1/inventory", "/v1/inventory/stream"] {
        refused(&api, &format!("{base}?status=bogus"), &admin, "status").await?;
        refused(&api, &format!("{base}?name={}", enc("(")), &admin, "name").await?;
        refused(
            &api,
            &format!("{base}?image={}", enc("web:[")),
            &admin,
            "image",
        )
        .await?;
        refused(&api, &format!("{base}?target=nowhere"), &admin, "targets").await?;
        refused(&api, &format!("{base}?cursor=zz"), &admin, "cursor").await?;
        refused(&api, &format!("{base}?limit=0"), &admin, "limit").await?;
        refused(&api, &format!("{base}?limit=many"), &admin, "query").await?;
        refused(&api, &format!("{base}?colour=red"), &admin, "query").await?;
        refused(&api, &format!("{base}?unhealthy=maybe"), &admin, "query").await?;
    }
    let before = fixture.total_calls();

    // The stream: progress in order, then the report (refresh: every call made again).
    let (status, text) = api
        .stream_until(
            "/v1/inventory/stream?target=cpln&refresh=true",
            &admin,
            &[],
            |t| {
                t.find("event: report")
                    .is_some_and(|at| t[at..].contains("\n\n"))
            },
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let events = sse_events(&text);
    let (last, progress) = events.split_last().unwrap();
    let seen: Vec<(String, u64, u64)> = progress
        .iter()
        .map(|(event, data)| {
            assert_eq!(event, "progress", "{text}");
            let p: Value = serde_json::from_str(data).unwrap();
            (
                p["stage"].as_str().unwrap().to_owned(),
                p["done"].as_u64().unwrap(),
                p["total"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![("listing".to_owned(), 0, 1), ("listing".to_owned(), 1, 1)];
    expected.extend((0..=4).map(|done| ("fetching".to_owned(), done, 4)));
    expected.push(("done".to_owned(), 4, 4));
    assert_eq!(seen, expected, "{text}");
    assert_eq!(last.0, "report", "{text}");
    let report: Value = serde_json::from_str(&last.1)?;
    assert_eq!(report["total"], 7);
    assert_eq!(
        (&report["stats"]["calls"], &report["stats"]["cache_hits"]),
        (&5.into(), &0.into())
    );
    assert_eq!(fixture.total_calls(), before + 5);
    Ok(())
}

/// `windlass secrets set ORG NAME` with `value` on stdin.
fn set_secret(runner: &Runner, org: &str, name: &str, value: &str) {
    let mut child = runner
        .command()
        .args(["secrets", "set", org, name])
        .env("WINDLASS_URL", &runner.url)
        .env("WINDLASS_TOKEN", &runner.token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A plain test: the CLI commands block this thread while the fixture serves the runner from
/// the runtime's worker threads.
#[test]
fn the_cli_prints_json_counts_and_a_table_with_the_token_a_secret() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fixture = rt.block_on(CplnFixture::start(fixture_spec()))?;
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let config = cpln_config(
        &fixture,
        r#"{ secret = "cpln-token", org = "ops" }"#,
        &["ops/cpln-token"],
    )?;
    let runner = rt.block_on(Runner::start_with_config(&scope, dir.path(), None, &config))?;

    // Before the secret exists the adapter has no token: the target's listing fails (reported,
    // not fatal) and nothing reached Control Plane.
    let without = runner.json(&["inventory", "--target", "cpln"]);
    assert_eq!(without["total"], 0, "{without:#}");
    let error = &without["stats"]["errors"][0];
    assert_eq!(
        (&error["target"], &error["group"], &error["code"]),
        (&"cpln".into(), &Value::Null, &"failed".into()),
        "{without:#}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("token"),
        "{error}"
    );
    assert_eq!(fixture.total_calls(), 0);

    // Set: the next inventory reads with it (a failure is not cached).
    set_secret(&runner, "ops", "cpln-token", &fixture.token());
    let report = runner.json(&["inventory", "--target", "cpln"]);
    assert_eq!(report["total"], 7, "{report:#}");
    assert_eq!(
        report["stats"]["calls"].as_u64(),
        Some(fixture.total_calls())
    );
    assert_eq!(report["stats"]["workloads_failed"], 1);
    let api_report = rt.block_on(get_ok(
        &api(&runner),
        "/v1/inventory?target=cpln",
        &runner.token,
    ))?;
    assert_eq!(report["containers"], api_report["containers"]);

    let count = |args: &[&str]| -> u64 {
        let mut all = vec!["inventory", "--target", "cpln", "--count"];
        all.extend_from_slice(args);
        let out = runner.ok(&all);
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{all:?}: {e}: {out:?}"))
    };
    assert_eq!(count(&[]), 7);
    assert_eq!(count(&["--gvc", "staging"]), 1);
    assert_eq!(count(&["--workload", "web"]), 4);
    assert_eq!(count(&["--image", "*/image/web:*"]), 2);
    assert_eq!(count(&["--unhealthy"]), 1);
    assert_eq!(count(&["--status", "healthy"]), 6);
    assert_eq!(count(&["--name", "^side", "--location", "gcp-us-east1"]), 1);
    let unhealthy = runner.json(&["inventory", "--target", "cpln", "--unhealthy"]);
    assert_eq!(groups(&unhealthy), ["edge"]);

    // The table: a header, a row per container, the old version marked; the summary on stderr.
    let out = runner.cli(&["inventory", "--target", "cpln"]);
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout)?;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 7, "{table}");
    assert!(
        lines[0].starts_with("TARGET") && lines[0].contains("HEALTH"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("prod/edge") && l.contains("unhealthy")),
        "{table}"
    );
    assert!(lines.iter().any(|l| l.contains("2 (old)")), "{table}");
    let summary = String::from_utf8(out.stderr)?;
    assert!(
        summary.contains("7 containers (6 healthy, 1 unhealthy, 0 suspended) in 3 of 4 workloads"),
        "{summary}"
    );
    assert!(
        summary.contains("failed: cpln/broken [not-found]"),
        "{summary}"
    );

    // Pages: the table prints the cursor of the next page.
    let first = runner.ok(&["inventory", "--target", "cpln", "--limit", "5"]);
    let cursor = first
        .lines()
        .find_map(|l| l.strip_prefix("more: --cursor "))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let rest = runner.json(&[
        "inventory",
        "--target",
        "cpln",
        "--limit",
        "5",
        "--cursor",
        &cursor,
    ]);
    assert_eq!(rest["containers"].as_array().unwrap().len(), 2, "{rest:#}");
    assert!(rest["next_cursor"].is_null());

    // On a terminal (a pseudo-terminal from `script`): a progress bar fed by the stream's
    // progress events, cleared before the table. Each call takes 300 ms so the bar is drawn.
    fixture.update(|spec| spec.latency = Duration::from_millis(300));
    let before = fixture.total_calls();
    let command = format!(
        "{} inventory --target cpln --refresh",
        env!("CARGO_BIN_EXE_windlass")
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("WINDLASS_CA_CERT")
        .env("WINDLASS_URL", &runner.url)
        .env("WINDLASS_TOKEN", &runner.token)
        .env("WINDLASS_PROFILE", &runner.profile)
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .context("`script` (util-linux) gives the command a terminal")?;
    fixture.update(|spec| spec.latency = Duration::ZERO);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen:?}");
    assert!(
        screen.contains("fetching") && screen.contains("/4"),
        "a bar of the four workloads: {screen:?}"
    );
    assert!(
        screen.contains('\r') || screen.contains("\x1b["),
        "redrawn in place: {screen:?}"
    );
    assert!(
        screen.contains("TARGET") && screen.contains("prod/edge"),
        "{screen:?}"
    );
    assert_eq!(
        fixture.total_calls(),
        before + 5,
        "refreshed through the stream"
    );

    // Bad input: the API's code and field, exit code 1.
    for (args, field) in [
        (vec!["--name", "("], "name"),
        (vec!["--status", "bogus"], "status"),
        (vec!["--target", "nowhere"], "targets"),
    ] {
        let mut all = vec!["inventory"];
        all.extend_from_slice(&args);
        let out = runner.cli(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error [validation] {field}:")),
            "{args:?}: {stderr}"
        );
    }
    Ok(())
}
