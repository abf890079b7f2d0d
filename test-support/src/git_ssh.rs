//! A private git server over SSH on loopback: an `sshd` of the test's own (its config, host
//! key and one authorized client key in a temporary directory, a free port on 127.0.0.1,
//! public-key authentication only), serving the repositories under a directory to the user
//! the tests run as. The system's ssh service is not involved. Killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd and the client key it accepts.
#[derive(Debug)]
pub struct GitSshServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The client's private key (OpenSSH format, no passphrase): what a build's credentials
    /// secret holds.
    pub client_key: String,
    user: String,
    base: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl GitSshServer {
    /// Starts sshd serving the repositories under `base`.
    pub fn start(base: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run `bash scripts/setup-git-servers.sh` (installs openssh-server)"
        );
        let dir = tempfile::tempdir()?;
        let keygen = |name: &str| -> anyhow::Result<PathBuf> {
            let path = dir.path().join(name);
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "windlass-test", "-f"])
                .arg(&path)
                .stdin(Stdio::null())
                .status()
                .context("running ssh-keygen (apt-get install openssh-client)")?;
            anyhow::ensure!(status.success(), "ssh-keygen failed for {name}");
            Ok(path)
        };
        let host_key = keygen("host_key")?;
        let client = keygen("client_key")?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client.with_extension("pub"), &authorized)?;
        let user = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?
            .trim()
            .to_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1:{port}\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\n",
                host_key.display(),
                authorized.display(),
            ),
        )?;
        // sshd wants its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").ok();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sshd")?;
        let mut server = GitSshServer {
            port,
            client_key: std::fs::read_to_string(&client)?,
            user,
            base: base.to_owned(),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("sshd exited at start ({status}); run `{SSHD} -t -f <config>` to see why");
            }
            if Instant::now() > deadline {
                bail!("sshd did not listen on 127.0.0.1:{port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The `ssh://` URL of repository `name` (under the base directory).
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.base.join(name).display()
        )
    }
}

impl Drop for GitSshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
