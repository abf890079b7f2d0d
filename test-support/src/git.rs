//! Git repositories made by a test and a real git server on loopback (`git daemon`, started
//! by the test, killed on drop): what the build tests fetch from.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A repository under a server's base path, with a work tree to commit from.
#[derive(Debug)]
pub struct Repo {
    /// Its work tree (the repository itself: `git daemon` serves non-bare ones too).
    pub dir: PathBuf,
}

impl Repo {
    /// `git init` of `name` under `base`, on branch `main`.
    pub fn init(base: &Path, name: &str) -> anyhow::Result<Repo> {
        let dir = base.join(name);
        std::fs::create_dir_all(&dir)?;
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"])?;
        repo.git(&["config", "user.name", "Test Author"])?;
        repo.git(&["config", "user.email", "author@example.invalid"])?;
        // Lets a shallow fetch ask for any commit by its SHA.
        repo.git(&["config", "uploadpack.allowAnySHA1InWant", "true"])?;
        Ok(repo)
    }

    /// Writes `files` (path, content) and commits everything with `message`; returns the SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> anyhow::Result<String> {
        for (path, content) in files {
            let at = self.dir.join(path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(at, content)?;
        }
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", message])?;
        Ok(self.git(&["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// Runs git in the repository and returns its output.
    pub fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .context("running git (install it: apt-get install git)")?;
        if !output.status.success() {
            bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// `git daemon --export-all` serving `base` on 127.0.0.1; killed on drop.
#[derive(Debug)]
pub struct GitServer {
    /// The port it listens on.
    pub port: u16,
    child: Child,
}

impl GitServer {
    /// Starts the daemon on a free port and waits until it accepts connections.
    pub fn start(base: &Path) -> anyhow::Result<GitServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--informative-errors",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `git daemon` (apt-get install git; it ships git-daemon)")?;
        let server = GitServer { port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("git daemon did not listen on 127.0.0.1:{port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The `git://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
