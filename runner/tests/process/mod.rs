//! A real `windlass run` process for the tests of the client commands: a config on a free
//! loopback port (with a temporary SQLite store, or any store URL), the admin token read from
//! its first-start output, real Docker underneath. Each CLI command runs as its own process,
//! as an operator would run it, with a profile path inside the test's directory so that no
//! profile of the machine's user is read or written.

// Shared by several test crates, each of which uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
use windlass_test_support::engine::EngineScope;

/// A runner process serving the API on a loopback port; killed when dropped.
pub struct Runner {
    child: Child,
    config: PathBuf,
    /// The API's URL.
    pub url: String,
    /// The first-start admin token (of every org).
    pub token: String,
    /// The CLI profile file the commands of [`Runner::cli`] use (absent until a login).
    pub profile: PathBuf,
    /// Extra environment of the next starts ([`Runner::set_env`]).
    env: Vec<(String, String)>,
    /// What the current process wrote to standard error so far.
    stderr: Arc<Mutex<String>>,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Runner {
    /// Writes a config (no plugins, no stacks, the default SQLite store) for `scope` in `dir`
    /// and starts the runner.
    pub async fn start(scope: &EngineScope, dir: &Path) -> anyhow::Result<Self> {
        Self::start_with_store(scope, dir, None).await
    }

    /// Like [`Runner::start`], with the store at `store_url` when given.
    pub async fn start_with_store(
        scope: &EngineScope,
        dir: &Path,
        store_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::start_with_config(scope, dir, store_url, "").await
    }

    /// Like [`Runner::start_with_store`], with `extra` (TOML: plugins, targets, sections)
    /// appended to the config.
    pub async fn start_with_config(
        scope: &EngineScope,
        dir: &Path,
        store_url: Option<&str>,
        extra: &str,
    ) -> anyhow::Result<Self> {
        windlass_test_support::docker::connect_with_busybox().await?;
        let port = free_port()?;
        let config = dir.join("windlass.toml");
        let mut text = format!(
            "[engine]\nid = \"{}\"\ndata_dir = \"data\"\n\n[api]\nlisten = \"127.0.0.1:{port}\"\n",
            scope.id
        );
        if let Some(url) = store_url {
            text.push_str(&format!("\n[store]\nurl = {}\n", toml_string(url)));
        }
        if !extra.is_empty() {
            text.push('\n');
            text.push_str(extra);
        }
        std::fs::write(&config, text)?;
        let stderr = Arc::default();
        let (child, token) = Self::spawn(&config, true, &[], &stderr)?;
        let runner = Self {
            child,
            config,
            url: format!("http://127.0.0.1:{port}"),
            token: token.context("a first start prints the admin token")?,
            profile: dir.join("cli-profile").join("profile.json"),
            env: Vec::new(),
            stderr,
        };
        runner.wait_serving()?;
        Ok(runner)
    }

    /// Starts `windlass run` (with `env` added), its standard error collected into `stderr`
    /// (emptied first); on a first start, reads the admin token it prints.
    fn spawn(
        config: &Path,
        first: bool,
        env: &[(String, String)],
        stderr: &Arc<Mutex<String>>,
    ) -> anyhow::Result<(Child, Option<String>)> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        stderr.lock().unwrap().clear();
        let errors = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(errors).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(token) = line.split("store it now): ").nth(1) {
                    let _ = send.send(token.trim().to_owned());
                }
            }
        });
        if !first {
            return Ok((child, None));
        }
        match receive.recv_timeout(Duration::from_secs(60)) {
            Ok(token) => Ok((child, Some(token))),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                let stderr = stderr.lock().unwrap().clone();
                bail!("the runner printed no admin token:\n{stderr}")
            }
        }
    }

    fn wait_serving(&self) -> anyhow::Result<()> {
        let address = self.url.trim_start_matches("http://");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(address).is_err() {
            if Instant::now() >= deadline {
                bail!("the runner does not listen on {address}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops the runner with SIGTERM and starts it again on the same config (same store,
    /// same port; no token is printed the second time).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        let (child, token) = Self::spawn(&self.config, false, &self.env, &self.stderr)?;
        assert!(token.is_none());
        self.child = child;
        self.wait_serving()
    }

    /// Kills the runner with SIGKILL (no shutdown of any kind) and starts it again on the same
    /// config.
    pub fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        let (child, token) = Self::spawn(&self.config, false, &self.env, &self.stderr)?;
        assert!(token.is_none());
        self.child = child;
        self.wait_serving()
    }

    /// Sets (`Some`) or removes (`None`) a variable of the next starts' environment.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// What the current process wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the current process has written `needle` to standard error.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            if !self.is_running() {
                bail!(
                    "the runner exited before writing {needle:?}:\n{}",
                    self.stderr()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the runner did not write {needle:?} in {timeout:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the runner with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Whether the runner process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                self.child.kill()?;
                bail!("the runner did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// A `windlass` command with only this test's profile: no URL, no token, nothing of the
    /// environment's `WINDLASS_*`.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
        command
            .env_remove("WINDLASS_URL")
            .env_remove("WINDLASS_TOKEN")
            .env_remove("WINDLASS_CA_CERT")
            .env("WINDLASS_PROFILE", &self.profile);
        command
    }

    /// `windlass ARGS` against this runner, with its admin token.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &self.token)
    }

    /// `windlass ARGS` against this runner, with `token`.
    pub fn cli_with(&self, args: &[&str], token: &str) -> Output {
        self.command()
            .args(args)
            .env("WINDLASS_URL", &self.url)
            .env("WINDLASS_TOKEN", token)
            .output()
            .unwrap()
    }

    /// `windlass ARGS`, which must succeed: its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, &self.token)
    }

    /// `windlass ARGS` with `token`, which must succeed: its stdout.
    pub fn ok_with(&self, args: &[&str], token: &str) -> String {
        let out = self.cli_with(args, token);
        assert!(
            out.status.success(),
            "windlass {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `windlass ARGS --json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_with(args, &self.token)
    }

    /// `windlass ARGS --json` with `token`, parsed.
    pub fn json_with(&self, args: &[&str], token: &str) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let text = self.ok_with(&args, token);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{text}"))
    }

    /// The events of `kind`, as `windlass events --kind KIND --json` prints them.
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.ok(&["events", "--kind", kind, "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Polls `windlass ps --json ARGS` until `done` holds.
    pub fn wait_ps(&self, args: &[&str], done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listed = self.json(&all);
            let listed = listed.as_array().unwrap();
            if done(listed) {
                return listed.clone();
            }
            assert!(
                Instant::now() < deadline,
                "ps {args:?} never got there: {listed:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` as a TOML basic string.
pub fn toml_string(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// The `[[plugins]]`, `[[targets]]` and `[workers]` of a runner with `adapter-swarm` against
/// `manager` (`IP:PORT`) as target `swarm`.
pub fn swarm_config(manager: &str) -> anyhow::Result<String> {
    let component = windlass_test_support::plugins::component("adapter_swarm.wasm")?;
    Ok(format!(
        r#"[[plugins]]
name = "swarm"
kind = "cloud-adapter"
source = {source}
limits = {{ timeout_ms = 20000 }}
grants = {{ outbound_hosts = [{manager}] }}
config = {{ endpoint = {endpoint}, endpoint_mode = "dnsrr", encrypt_networks = "false" }}

[[targets]]
name = "swarm"
plugin = "swarm"

[workers]
poll_interval = "1s"
unhealthy_after = "10s"
"#,
        source = toml_string(component.to_str().unwrap()),
        manager = toml_string(manager),
        endpoint = toml_string(&format!("http://{manager}")),
    ))
}
