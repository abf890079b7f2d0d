//! The file is the truth: `windlass run` as a separate process against real Docker removes
//! the stacks its file declared and no longer lists — on start and on SIGHUP — after the orphan
//! grace, says so in its log, leaves stacks deployed through the API alone, reports a bad file
//! on SIGHUP without changing anything, and keeps everything with `--no-prune`.
//!
//! Needs Docker with the busybox test image, and the plugin components
//! (`cargo build --release` in `plugins/`, or `WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use serde_json::json;
use windlass::labels::{LABEL_ENGINE, LABEL_STACK};

/// The stack template component.
fn web_postgres() -> anyhow::Result<PathBuf> {
    common::plugins::component("stack_web_postgres.wasm")
}

/// One runner under test: its config file, its log files and the process.
struct Runner {
    dir: PathBuf,
    engine: String,
    port: u16,
    child: Option<Child>,
    runs: usize,
}

impl Runner {
    fn new(dir: &Path, engine: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Ok(Self {
            dir: dir.to_path_buf(),
            engine: engine.to_owned(),
            port,
            child: None,
            runs: 0,
        })
    }

    fn config(&self) -> PathBuf {
        self.dir.join("windlass.toml")
    }

    /// Writes the config with acme's stacks `stacks` (each a busybox web-postgres stack) and
    /// `extra` TOML inside the last stack entry (to make the file invalid).
    fn write(&self, stacks: &[&str], extra: &str) -> anyhow::Result<()> {
        let mut text = format!(
            r#"[engine]
id = "{id}"
data_dir = "data"
orphan_grace = "1s"

[api]
listen = "127.0.0.1:{port}"

[[plugins]]
name = "web-postgres"
kind = "stack-template"
source = "{component}"
limits = {{ memory_mib = 32, timeout_ms = 2000 }}
"#,
            id = self.engine,
            port = self.port,
            component = web_postgres()?.display(),
        );
        for stack in stacks {
            text.push_str(&format!(
                r#"
[[stacks]]
name = "{stack}"
org = "acme"
template = "web-postgres"
params = {{ db_password = "pw", postgres_image = "{BUSYBOX}", api_image = "{BUSYBOX}", web_image = "{BUSYBOX}" }}
"#
            ));
        }
        text.push_str(extra);
        std::fs::write(self.config(), text)?;
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("runner-{}.log", self.runs))
    }

    fn stdout_path(&self) -> PathBuf {
        self.dir.join(format!("runner-{}.out", self.runs))
    }

    /// This run's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn start(&mut self, extra_args: &[&str]) -> anyhow::Result<()> {
        self.runs += 1;
        let child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["run", "--config"])
            .arg(self.config())
            .args(extra_args)
            .env("RUST_LOG", "windlass=info,warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(std::fs::File::create(self.stdout_path())?))
            .stderr(Stdio::from(std::fs::File::create(self.log_path())?))
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.child.as_ref().context("no runner")?.id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(&mut self) -> anyhow::Result<()> {
        self.signal("TERM")?;
        let mut child = self.child.take().context("no runner")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = child.try_wait()? {
                anyhow::ensure!(exit.success(), "runner exited with {exit}:\n{}", self.log());
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                bail!("the runner did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn api(&self) -> Api {
        Api::new(format!("127.0.0.1:{}", self.port).parse().unwrap())
    }

    /// Waits for the API to answer and returns the admin token the first start printed.
    async fn wait_api(&mut self) -> anyhow::Result<Option<String>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.api().call("get", "/healthz", None, None).await.is_ok() {
                break;
            }
            if let Some(status) = self.child.as_mut().context("no runner")?.try_wait()? {
                bail!("the runner exited early ({status}):\n{}", self.log());
            }
            if Instant::now() >= deadline {
                bail!("the API never answered:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let out = std::fs::read_to_string(self.stdout_path())?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_prefix("admin token (shown once, store it now): "))
            .map(str::to_owned))
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The declared stacks, as `org/stack`.
async fn declared(api: &Api, token: &str) -> anyhow::Result<BTreeSet<String>> {
    let answer = api.get("/v1/stacks", token).await?;
    anyhow::ensure!(answer.status == StatusCode::OK, "{answer:?}");
    Ok(answer
        .body
        .as_array()
        .context("a list of stacks")?
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["org"].as_str().unwrap(),
                s["stack"].as_str().unwrap()
            )
        })
        .collect())
}

/// The stacks that have containers of `engine` on the Docker host.
async fn with_containers(
    runtime: &windlass::DockerRuntime,
    engine: &str,
) -> anyhow::Result<BTreeSet<String>> {
    Ok(runtime
        .list_containers(&[(LABEL_ENGINE, engine)])
        .await?
        .into_iter()
        .filter_map(|c| c.labels.get(LABEL_STACK).cloned())
        .collect())
}

/// Waits until the declared stacks are `want` and exactly their stacks have containers.
async fn wait_stacks(
    runner: &Runner,
    runtime: &windlass::DockerRuntime,
    token: &str,
    want: &[&str],
    within: Duration,
) -> anyhow::Result<()> {
    let want_declared: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let want_running: BTreeSet<String> = want
        .iter()
        .map(|s| s.split_once('/').unwrap().1.to_owned())
        .collect();
    let deadline = Instant::now() + within;
    loop {
        let now = declared(&runner.api(), token).await?;
        let running = with_containers(runtime, &runner.engine).await?;
        if now == want_declared && running == want_running {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "wanted {want:?}; declared {now:?}, with containers {running:?}\n{}",
                runner.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits for `text` in the runner's log.
async fn wait_log(runner: &Runner, text: &str, within: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let log = runner.log();
        if log.contains(text) {
            return Ok(log);
        }
        if Instant::now() >= deadline {
            bail!("{text:?} not in the log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The log lines that mention `stack` and `text`.
fn lines_with<'a>(log: &'a str, stack: &str, text: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(stack) && l.contains(text))
        .collect()
}

#[tokio::test]
async fn the_file_is_the_truth_on_start_and_on_sighup_and_api_stacks_stay() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_busybox().await?;
    let dir = tempfile::tempdir()?;
    let mut runner = Runner::new(dir.path(), &scope.id)?;

    // 1. The file declares acme/shop and acme/blog; the API deploys globex/crm.
    runner.write(&["shop", "blog"], "")?;
    runner.start(&[])?;
    let token = runner
        .wait_api()
        .await?
        .context("the first start prints the admin token")?;
    let crm = json!({ "spec": { "services": [{
        "name": "app",
        "image": BUSYBOX,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    }] } });
    let answer = runner
        .api()
        .call(
            "put",
            "/v1/orgs/globex/stacks/crm",
            Some(&token),
            Some(&crm),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let all = ["acme/blog", "acme/shop", "globex/crm"];
    wait_stacks(&runner, &runtime, &token, &all, Duration::from_secs(60)).await?;
    runner.stop()?;

    // 2. Restarted with blog gone from the file: blog is removed after the grace, shop and
    //    the API's crm stay, and the log says so.
    runner.write(&["shop"], "")?;
    runner.start(&[])?;
    runner.wait_api().await?;
    let kept = ["acme/shop", "globex/crm"];
    wait_stacks(&runner, &runtime, &token, &kept, Duration::from_secs(30)).await?;
    let log = wait_log(
        &runner,
        "stack removed: no longer in the file",
        Duration::from_secs(5),
    )
    .await?;
    assert_eq!(
        lines_with(&log, "acme/blog", "stack no longer in the file").len(),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, "acme/blog", "stack removed: no longer in the file").len(),
        1,
        "{log}"
    );
    assert!(lines_with(&log, "globex/crm", "").is_empty(), "{log}");
    assert!(
        lines_with(&log, "acme/shop", "no longer").is_empty(),
        "{log}"
    );

    // 3. SIGHUP with shop replaced by wiki: wiki is deployed, shop removed, crm untouched.
    runner.write(&["wiki"], "")?;
    runner.signal("HUP")?;
    let now = ["acme/wiki", "globex/crm"];
    wait_stacks(&runner, &runtime, &token, &now, Duration::from_secs(30)).await?;
    let log = wait_log(&runner, "config file reloaded", Duration::from_secs(5)).await?;
    assert_eq!(
        lines_with(&log, "acme/shop", "stack removed: no longer in the file").len(),
        1,
        "{log}"
    );

    // 4. A bad file on SIGHUP is reported with its file, line and key, and changes nothing —
    //    not even for wiki, which the bad file does not list.
    runner.write(&[], "\n[[stacks]]\nname = \"wiki\"\norg = \"acme\"\ntemplate = \"web-postgres\"\ncolour = \"blue\"\n")?;
    runner.signal("HUP")?;
    let log = wait_log(&runner, "nothing changed", Duration::from_secs(10)).await?;
    let reported = log.lines().find(|l| l.contains("nothing changed")).unwrap();
    // file:line:column: key: message
    let at = reported
        .split("windlass.toml:")
        .nth(1)
        .with_context(|| format!("no file in {reported}"))?;
    let line: String = at.chars().take_while(char::is_ascii_digit).collect();
    assert!(line.parse::<u32>().is_ok_and(|l| l > 1), "{reported}");
    assert!(reported.contains("stacks[0].colour"), "{reported}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_stacks(&runner, &runtime, &token, &now, Duration::from_secs(1)).await?;
    runner.stop()?;

    // 5. --no-prune keeps what the file dropped.
    runner.write(&[], "")?;
    runner.start(&["--no-prune"])?;
    runner.wait_api().await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    wait_stacks(&runner, &runtime, &token, &now, Duration::from_secs(1)).await?;
    assert!(
        !runner.log().contains("no longer in the file"),
        "{}",
        runner.log()
    );
    runner.stop()?;
    Ok(())
}
