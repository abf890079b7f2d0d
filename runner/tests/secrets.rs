//! Secrets through the HTTP API and the CLI, against a real engine (real Docker, a real SQLite
//! file): routes and roles, the write-only value in the OpenAPI document, 409 naming the
//! services, the CLI reading values from stdin or a file; the redaction test (every trace-level
//! log line, event, API answer, `/metrics`, store table and `docker inspect` searched for the
//! values); a PostgreSQL service whose password is a file secret; a rotation rolled while a
//! client polls the app without one failed request.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::db::TestDb;
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::{Answer, Api};
use hyper::StatusCode;
use serde_json::{Value, json};
use windlass::secrets::SecretsConfig;
use windlass::{ContainerFilter, Engine, EventFilter};
use windlass_runner::api::{ApiState, Role};

/// Everything every tracing subscriber of this test binary wrote, at trace level.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the trace-level subscriber once for this binary (before any engine exists).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::filter::FilterExt as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        // Every target at TRACE, through the runner's own cap on the crates that log request
        // bodies (`windlass_runner::logging`): what `RUST_LOG=trace windlass run` writes.
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(|| Capture)
                    .with_filter(
                        tracing_subscriber::filter::LevelFilter::TRACE
                            .and(windlass_runner::logging::body_filter()),
                    ),
            )
            .init();
    });
}

struct Server {
    api: Api,
    address: SocketAddr,
    state: ApiState,
    engine: Engine,
    admin: String,
    db: TestDb,
    runtime_dir: PathBuf,
    _keys: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    scope: EngineScope,
    /// Every answer's body, for the redaction search.
    answers: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(entries) = std::fs::read_dir(&self.runtime_dir) {
            for entry in entries.flatten() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700)).ok();
            }
        }
        std::fs::remove_dir_all(&self.runtime_dir).ok();
    }
}

async fn server() -> anyhow::Result<Server> {
    server_with(Vec::new()).await
}

/// A server whose API has the stack templates `templates`.
async fn server_with(templates: Vec<windlass::plugins::PluginSpec>) -> anyhow::Result<Server> {
    capture_logs();
    let scope = EngineScope::new();
    common::docker::connect_with_busybox().await?;
    let db = TestDb::sqlite().await?;
    let keys = tempfile::tempdir()?;
    let runtime_dir = PathBuf::from(format!("/dev/shm/windlass-test-{}", scope.id));
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_secrets(
            SecretsConfig::key_file(keys.path().join("secrets.key")).with_runtime_dir(&runtime_dir),
        )
        .build()
        .await?;
    let state = ApiState::new(engine.clone());
    let host = windlass::plugins::PluginHost::builder().build()?;
    let mut plugins = Vec::new();
    for spec in templates {
        plugins.push(host.load(spec).await?);
    }
    state.metrics().watch_plugins(plugins);
    let admin = state.tokens.ensure_admin().await?.unwrap().secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = windlass_runner::api::router(state.clone());
    tokio::spawn(windlass_runner::api::serve(listener, router, async {
        stopped.await.ok();
    }));
    Ok(Server {
        api: Api::new(address),
        address,
        state,
        engine,
        admin,
        db,
        runtime_dir,
        _keys: keys,
        _stop: stop,
        scope,
        answers: Arc::default(),
    })
}

impl Server {
    /// A request whose answer is kept for the redaction search.
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let answer = self.api.call(method, path, Some(token), body).await?;
        self.answers
            .lock()
            .unwrap()
            .push_str(&answer.body.to_string());
        Ok(answer)
    }

    /// Runs `windlass ARGS` against this server with `token`, `stdin` piped in.
    fn cli(&self, args: &[&str], token: &str, stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .env("WINDLASS_URL", format!("http://{}", self.address))
            .env("WINDLASS_TOKEN", token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        self.answers
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&out.stdout));
        out
    }

    fn run(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.engine.clone();
        tokio::spawn(async move {
            engine.run(std::future::pending()).await.ok();
        })
    }

    async fn wait_ready(&self, stack: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = self.engine.stack_status("acme", stack).await?;
            if !status.is_empty() && status.iter().all(|s| s.is_ready()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "stack {stack} never ready: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn container(&self, stack: &str, service: &str) -> String {
        format!("wl_{}_acme_{stack}_{service}_0", self.scope.id)
    }
}

fn distinctive(tag: &str) -> String {
    format!("wl-redact-{tag}-{}", common::docker::suffix())
}

fn sleeper(name: &str) -> Value {
    json!({
        "name": name,
        "image": BUSYBOX,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    })
}

/// `docker ARGS` as a separate process (so its output is not in this process's logs).
fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_the_cli_manage_secrets_and_never_answer_a_value() -> anyhow::Result<()> {
    let server = server().await?;
    let tokens = &server.state.tokens;
    let deploy = tokens
        .create("acme-deployer", "acme", Role::Deploy)
        .await?
        .secret;
    let read = tokens
        .create("acme-reader", "acme", Role::Read)
        .await?
        .secret;
    let org_admin = tokens
        .create("acme-admin", "acme", Role::Admin)
        .await?
        .secret;
    let globex = tokens
        .create("globex-deployer", "globex", Role::Deploy)
        .await?
        .secret;
    let value = distinctive("api");
    let path = "/v1/orgs/acme/secrets/db-password";

    let set = server
        .call("put", path, &deploy, Some(&json!({ "value": value })))
        .await?;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(set.body["version"], 1);
    let refused = server
        .call("put", path, &read, Some(&json!({ "value": "x" })))
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let other_org = server
        .call("get", "/v1/orgs/acme/secrets", &globex, None)
        .await?;
    assert_eq!(other_org.status, StatusCode::FORBIDDEN, "{other_org:?}");
    // A body that does not fit is refused without being repeated.
    let echo = distinctive("echo");
    for body in [
        json!({ "value": 5, "note": echo }),
        json!({ "value": "v", "extra": echo }),
    ] {
        let bad = server.call("put", path, &deploy, Some(&body)).await?;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(bad.body["error"]["field"], "body");
        assert!(!bad.body.to_string().contains(&echo), "{bad:?}");
    }
    let empty = server
        .call("put", path, &deploy, Some(&json!({ "value": "" })))
        .await?;
    assert_eq!(
        (empty.status, empty.body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );

    // A service using it; a service using a missing one is refused with the name.
    let mut web = sleeper("web");
    web["secrets"] = json!([{ "name": "db-password" }]);
    let applied = server
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop/services/web",
            &deploy,
            Some(&web),
        )
        .await?;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    assert_eq!(applied.body["spec"]["secrets"][0]["bound_version"], 1);
    let mut lost = sleeper("lost");
    lost["secrets"] = json!([{ "name": "nope" }]);
    let missing = server
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop/services/lost",
            &deploy,
            Some(&lost),
        )
        .await?;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{missing:?}");
    assert_eq!(missing.body["error"]["field"], "secrets[0].name");
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`nope`")
    );

    let listed = server
        .call("get", "/v1/orgs/acme/secrets", &read, None)
        .await?;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body[0]["name"], "db-password");
    assert_eq!(listed.body[0]["versions"][0]["created_by"], "acme-deployer");
    assert_eq!(listed.body[0]["used_by"][0]["service"], "web");
    let shown = server.call("get", path, &read, None).await?;
    assert_eq!(shown.body["latest_version"], 1);

    let in_use = server.call("delete", path, &deploy, None).await?;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{in_use:?}");
    assert_eq!(in_use.body["error"]["code"], "secret-in-use");
    assert!(
        in_use.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shop/web")
    );

    // The key: an org's admin may not rotate it, the `*` admin may.
    let org_rotate = server
        .call("post", "/v1/secrets/rotate-key", &org_admin, None)
        .await?;
    assert_eq!(org_rotate.status, StatusCode::FORBIDDEN, "{org_rotate:?}");
    let rotated = server
        .call("post", "/v1/secrets/rotate-key", &server.admin, None)
        .await?;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    assert_eq!(rotated.body["reencrypted"], 1);

    // The document: the value is write-only.
    let doc = server.api.call("get", "/openapi.json", None, None).await?;
    let schema = &doc.body["components"]["schemas"]["SecretValue"]["properties"]["value"];
    assert_eq!(schema["writeOnly"], true, "{schema}");
    assert!(doc.body["paths"]["/v1/orgs/{org}/secrets/{name}"]["put"]["requestBody"].is_object());

    // The CLI: the value from stdin or a file, never an argument.
    let cli_value = distinctive("cli");
    let out = server.cli(
        &["secrets", "set", "acme", "cli-token"],
        &deploy,
        Some(&cli_value),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("acme/cli-token: version 1"),
        "{out:?}"
    );
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), distinctive("file"))?;
    let out = server.cli(
        &[
            "secrets",
            "set",
            "acme",
            "cli-token",
            "--from-file",
            file.path().to_str().unwrap(),
        ],
        &deploy,
        None,
    );
    assert!(stdout(&out).contains("version 2"), "{out:?}");
    let out = server.cli(&["secrets", "set", "acme", "empty"], &deploy, Some(""));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = server.cli(&["secrets", "ls", "acme"], &read, None);
    let table = stdout(&out);
    assert!(
        table.contains("cli-token") && table.contains("shop/web@1"),
        "{table}"
    );
    let out = server.cli(&["secrets", "ls", "acme", "--json"], &read, None);
    let listed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let out = server.cli(&["secrets", "rm", "acme", "db-password"], &deploy, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error [secret-in-use]"),
        "{out:?}"
    );
    let out = server.cli(&["secrets", "rm", "acme", "cli-token"], &deploy, None);
    assert!(out.status.success(), "{out:?}");
    let out = server.cli(&["secrets", "rotate-key"], &server.admin, None);
    assert!(stdout(&out).contains("re-encrypted 1 values"), "{out:?}");

    let answers = server.answers.lock().unwrap().clone();
    for secret in [&value, &cli_value] {
        assert!(
            !answers.contains(secret.as_str()),
            "an answer carried a value"
        );
    }
    Ok(())
}

/// Secrets with distinctive values, services using them (one failing over and over), a new
/// version rolled out, the key rotated: no value in any log line (trace level), event, API
/// answer, `/metrics`, store table or `docker inspect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_value_shows_in_logs_events_answers_metrics_store_or_docker_inspect()
-> anyhow::Result<()> {
    let server = server().await?;
    let first = distinctive("first");
    let second = distinctive("second");
    let crash = distinctive("crash");
    let admin = server.admin.clone();
    // An environment secret is in the container's create request, which the Docker client
    // logs at DEBUG: the runner's log filter must keep it out.
    let env_value = distinctive("env");
    for (name, value) in [
        ("db-password", &first),
        ("crash-token", &crash),
        ("api-key", &env_value),
    ] {
        let path = format!("/v1/orgs/acme/secrets/{name}");
        let set = server
            .call("put", &path, &admin, Some(&json!({ "value": value })))
            .await?;
        assert_eq!(set.status, StatusCode::OK, "{set:?}");
    }
    let mut web = sleeper("web");
    web["secrets"] = json!([{ "name": "db-password" }, { "name": "api-key", "env": "API_KEY" }]);
    let crasher = json!({
        "name": "crasher",
        "image": BUSYBOX,
        "command": ["sh", "-c", "test -s /run/secrets/crash-token && sleep 0.3 && exit 3"],
        "secrets": [{ "name": "crash-token" }],
    });
    for (name, spec) in [("web", &web), ("crasher", &crasher)] {
        let path = format!("/v1/orgs/acme/stacks/leak/services/{name}");
        let applied = server.call("put", &path, &admin, Some(spec)).await?;
        assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    }
    let task = server.run();
    let web_name = server.container("leak", "web");
    let read = |name: &str| stdout(&docker(&["exec", name, "cat", "/run/secrets/db-password"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while read(&web_name) != first {
        anyhow::ensure!(Instant::now() < deadline, "web never got its secret");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The crasher fails repeatedly (each exit an event).
    common::engine::wait_event(
        &server.engine,
        "container-died",
        Duration::from_secs(30),
        |e| e.service.as_deref() == Some("crasher"),
    )
    .await?;

    // A new version rolls web; then the key is rotated.
    let set = server
        .call(
            "put",
            "/v1/orgs/acme/secrets/db-password",
            &admin,
            Some(&json!({ "value": second })),
        )
        .await?;
    assert_eq!(set.body["rolled"], json!(["leak/web"]), "{set:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while read(&web_name) != second {
        anyhow::ensure!(
            Instant::now() < deadline,
            "web was not rolled onto version 2"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rotated = server
        .call("post", "/v1/secrets/rotate-key", &admin, None)
        .await?;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");

    // Everything a person or a program can read.
    for path in [
        "/v1/orgs/acme/secrets",
        "/v1/orgs/acme/secrets/db-password",
        "/v1/containers",
        &format!("/v1/containers/{web_name}"),
        "/v1/orgs/acme/stacks/leak",
        "/v1/orgs/acme/stacks/leak/services",
        "/v1/events?limit=10000",
        "/metrics",
    ] {
        let answer = server.call("get", path, &admin, None).await?;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
    }
    let events = server
        .engine
        .events(&EventFilter {
            limit: Some(100_000),
            ..EventFilter::default()
        })
        .await?;
    let events = serde_json::to_string(&events)?;
    assert!(events.contains("secret-read") && events.contains("secrets-key-rotated"));
    let mut inspected = String::new();
    for c in server
        .engine
        .containers(&ContainerFilter::default())
        .await?
    {
        inspected.push_str(&stdout(&docker(&["inspect", &c.name])));
    }
    assert!(inspected.contains("/run/secrets"), "{inspected}");
    // A variable is visible to `docker inspect`, as documented: the one place it may be.
    assert!(
        inspected.contains(&format!("API_KEY={env_value}")),
        "{}",
        inspected
            .lines()
            .filter(|l| l.contains("API_KEY") || l.contains("\"Name\""))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let inspected = inspected.replace(&format!("API_KEY={env_value}"), "API_KEY=…");
    let store = dump_sqlite(&server.db).await?;
    task.abort();
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    assert!(
        logs.contains("TRACE") && logs.contains("engine.set_secret"),
        "the logs were not captured at trace level"
    );
    let answers = server.answers.lock().unwrap().clone();
    for (what, text) in [
        ("a log line", &logs),
        ("an event", &events),
        ("an API answer", &answers),
        ("docker inspect", &inspected),
        ("the store", &store),
    ] {
        for value in [&first, &second, &crash, &env_value] {
            assert!(
                !text.contains(value.as_str()),
                "{what} shows a secret value"
            );
        }
    }
    Ok(())
}

/// A template parameter marked `secret` bound to a secret (`{"secret": NAME}`): the template
/// renders a placeholder, the containers get the value (PostgreSQL its password, the API its
/// `DATABASE_URL`, and the API connects), and no log line, event, answer or store table — the
/// stack's stored spec included — holds it. A parameter the template does not mark secret
/// cannot be bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_template_parameter_reaches_the_containers_and_nothing_else() -> anyhow::Result<()>
{
    let template = windlass::plugins::PluginSpec::from_file(
        "web-postgres",
        common::plugins::component("stack_web_postgres.wasm")?,
    )
    .with_kind(windlass::plugins::PluginKind::StackTemplate);
    let server = server_with(vec![template]).await?;
    let admin = server.admin.clone();
    // Letters, digits and `-`: the value goes into the URL as it is (see docs/secrets.md).
    let password = distinctive("pgpass");
    let set = server
        .call(
            "put",
            "/v1/orgs/acme/secrets/db-password",
            &admin,
            Some(&json!({ "value": password })),
        )
        .await?;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");

    let unmarked = server
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            &admin,
            Some(&json!({
                "template": "web-postgres",
                "params": { "db_password": "x", "web_replicas": { "secret": "db-password" } },
            })),
        )
        .await?;
    assert_eq!(unmarked.status, StatusCode::BAD_REQUEST, "{unmarked:?}");
    assert_eq!(unmarked.body["error"]["field"], "params.web_replicas");
    let missing = server
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            &admin,
            Some(&json!({
                "template": "web-postgres",
                "params": { "db_password": { "secret": "no-such-secret" } },
            })),
        )
        .await?;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{missing:?}");
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-secret"),
        "{missing:?}"
    );

    let deployed = server
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            &admin,
            Some(&json!({
                "template": "web-postgres",
                "params": { "db_password": { "secret": "db-password" } },
            })),
        )
        .await?;
    assert_eq!(deployed.status, StatusCode::OK, "{deployed:?}");
    let task = server.run();
    // The API's readiness needs its database: the URL with the password works.
    server.wait_ready("shop").await?;
    let env_of = |service: &str| {
        stdout(&docker(&[
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            &server.container("shop", service),
        ]))
    };
    assert!(
        env_of("db").contains(&format!("POSTGRES_PASSWORD={password}")),
        "the database got its password"
    );
    assert!(
        env_of("api").contains(&format!(":{password}@db:")),
        "the API's DATABASE_URL holds the password"
    );

    for path in [
        "/v1/orgs/acme/stacks/shop",
        "/v1/orgs/acme/stacks/shop/services",
        "/v1/orgs/acme/secrets/db-password",
        "/v1/events?limit=10000",
    ] {
        let answer = server.call("get", path, &admin, None).await?;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
    }
    let events = serde_json::to_string(
        &server
            .engine
            .events(&EventFilter {
                limit: Some(100_000),
                ..EventFilter::default()
            })
            .await?,
    )?;
    let store = dump_sqlite(&server.db).await?;
    assert!(
        store.contains(&windlass::secrets::param_placeholder("db-password")),
        "the stored spec holds the placeholder"
    );
    task.abort();
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    let answers = server.answers.lock().unwrap().clone();
    for (what, text) in [
        ("a log line", &logs),
        ("an event", &events),
        ("an API answer", &answers),
        ("the store", &store),
    ] {
        assert!(!text.contains(&password), "{what} shows the password");
    }
    Ok(())
}

/// Every value of every table of an SQLite store as text, except the ciphertexts.
async fn dump_sqlite(db: &TestDb) -> anyhow::Result<String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await?;
    let mut out = String::new();
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
    anyhow::ensure!(out.contains("db-password") && out.contains("secret-read"));
    Ok(out)
}

/// PostgreSQL takes its password from a file secret (`POSTGRES_PASSWORD_FILE` style); an app
/// reading its own file secret is rolled onto a new version while a client polls it, and no
/// request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_its_password_file_and_a_rotation_fails_no_request() -> anyhow::Result<()> {
    common::docker::connect_with_demo_images().await?;
    let server = server().await?;
    let admin = server.admin.clone();
    let password = distinctive("pg");
    // Two versions of different lengths: the app serves the length, never the value.
    let (v1, v2) = ("a".repeat(20), "b".repeat(31));
    for (name, value) in [("pg-password", &password), ("app-token", &v1)] {
        let path = format!("/v1/orgs/acme/secrets/{name}");
        server
            .call("put", &path, &admin, Some(&json!({ "value": value })))
            .await?;
    }
    let db = json!({
        "name": "db",
        "image": "local/postgres:15",
        "command": ["bash", "-c",
            "export POSTGRES_PASSWORD=\"$(cat /run/secrets/pg-password)\"; \
             exec /usr/local/bin/windlass-postgres-entrypoint postgres"],
        "env": { "POSTGRES_USER": "app", "POSTGRES_DB": "app" },
        "secrets": [{ "name": "pg-password" }],
        "health_checks": [{ "kind": "readiness", "interval_ms": 500,
            "probe": { "type": "exec", "command": ["pg_isready", "-h", "127.0.0.1", "-U", "app"] } }],
    });
    let web = json!({
        "name": "web",
        "image": BUSYBOX,
        "replicas": 2,
        "command": ["sh", "-c",
            "trap 'exit 0' TERM; mkdir -p /www && echo len-$(wc -c < /run/secrets/app-token) > /www/index.html && exec httpd -f -p 8080 -h /www"],
        "secrets": [{ "name": "app-token" }],
        "health_checks": [{ "kind": "readiness", "interval_ms": 200,
            "probe": { "type": "tcp", "port": 8080 } }],
        "update": { "min_healthy_ms": 500, "progress_deadline_ms": 30000 },
    });
    let poller = json!({
        "name": "poller",
        "image": BUSYBOX,
        "command": ["sh", "-c",
            "trap 'exit 0' TERM; while true; do wget -q -O - http://web:8080/ >> /tmp/log 2>/tmp/err || echo FAIL $(cat /tmp/err) >> /tmp/log; usleep 200000; done"],
    });
    for spec in [&db, &web, &poller] {
        let path = format!(
            "/v1/orgs/acme/stacks/pg/services/{}",
            spec["name"].as_str().unwrap()
        );
        let applied = server.call("put", &path, &admin, Some(spec)).await?;
        assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    }
    let task = server.run();
    server.wait_ready("pg").await?;

    // PostgreSQL accepts the file's password over TCP, and refuses another.
    let db_name = server.container("pg", "db");
    let psql = |password: &str| {
        docker(&[
            "exec",
            "-e",
            &format!("PGPASSWORD={password}"),
            &db_name,
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "app",
            "-d",
            "app",
            "-tAc",
            "select 40 + 2",
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = psql(&password);
        if stdout(&out).trim() == "42" {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "psql with the file's password: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !psql("not-the-password").status.success(),
        "postgres accepts any password"
    );
    let env = stdout(&docker(&[
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &db_name,
    ]));
    assert!(
        !env.contains(&password),
        "the password is in the container's environment"
    );

    // The client gets v1's page; from here on no request may fail.
    let poller_name = server.container("pg", "poller");
    let log = || stdout(&docker(&["exec", &poller_name, "cat", "/tmp/log"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log().contains("len-20") {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the poller never got v1: {}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    docker(&["exec", &poller_name, "sh", "-c", ": > /tmp/log"]);
    let from = server.engine.event_log().last_index();
    let set = server
        .call(
            "put",
            "/v1/orgs/acme/secrets/app-token",
            &admin,
            Some(&json!({ "value": v2 })),
        )
        .await?;
    assert_eq!(set.body["rolled"], json!(["pg/web"]), "{set:?}");
    common::engine::wait_event(
        &server.engine,
        "rollout-completed",
        Duration::from_secs(90),
        |e| e.index > from && e.service.as_deref() == Some("web") && e.payload["to_revision"] == 2,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answers = log();
    let lines: Vec<&str> = answers.lines().collect();
    assert!(!lines.is_empty());
    assert!(
        !lines.iter().any(|l| l.starts_with("FAIL")),
        "a request failed during the rotation:\n{answers}"
    );
    assert_eq!(lines.last(), Some(&"len-31"), "{answers}");
    task.abort();
    Ok(())
}
