//! Fetching a build source: a shallow fetch (depth 1) of one reference into a fresh
//! directory, the commit it resolved to, and the check that the tree stays inside itself.
//!
//! This runs the `git` command-line client rather than a library (see `docs/builds.md`): it
//! speaks every transport the sources use (`file://` and local paths, `git://`, smart HTTP,
//! SSH) with shallow fetches of a branch, a tag or a bare commit, and it is what a fresh
//! machine already has. It is run so that nothing in the repository can act: no hooks (the
//! directory is made with an empty template and `core.hooksPath` points nowhere), no
//! submodules, no user or system configuration, no prompts, only the known protocols.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use tokio::process::Command;

use super::record::CommitInfo;
use super::source::{BuildSource, is_commit_sha};

/// Why a source could not be fetched or is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CloneError {
    /// git failed; the message is its own (credentials never reach it: none are in the URL).
    #[error("git {step} failed: {message}")]
    Git { step: &'static str, message: String },
    /// The credentials secret holds something git cannot send.
    #[error("build credentials: {0}")]
    Credentials(String),
    /// git could not be run at all.
    #[error("cannot run git (is it installed?): {0}")]
    Spawn(std::io::Error),
    /// The fetch took longer than allowed.
    #[error("fetching the source took longer than {0:?}")]
    Timeout(Duration),
    /// The tree holds something that leaves it.
    #[error("the source tree is refused: {0}")]
    Confinement(String),
    /// The tree is bigger than allowed.
    #[error("the source tree is too large: {0}")]
    TooLarge(String),
    /// Reading the checked-out tree failed.
    #[error("reading the source tree: {0}")]
    Io(#[from] std::io::Error),
}

/// Limits on what a fetched tree may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeLimits {
    /// The largest single file.
    pub max_file_bytes: u64,
    /// The largest whole tree.
    pub max_tree_bytes: u64,
    /// The most files.
    pub max_files: u64,
}

/// What the checked-out tree holds (for the log).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TreeSummary {
    pub files: u64,
    pub bytes: u64,
}

/// What a fetch of a private repository authenticates with (from the secret the source's
/// [`GitCredentials`](super::GitCredentials) names).
pub(crate) enum CloneAuth {
    /// A token or password sent over HTTP(S) with a user name.
    Token {
        username: String,
        token: SecretString,
    },
    /// A private key for SSH.
    SshKey(SecretString),
}

/// The files git reads the credentials from: a directory of the engine's (mode 0700) beside
/// the clone, never inside the tree; removed when dropped (and with every other leftover of
/// the work directory when the engine starts, after a crash).
struct AuthFiles {
    dir: PathBuf,
    config: Vec<String>,
    ssh_command: Option<String>,
}

impl AuthFiles {
    /// Writes `auth` for a clone into `clone_dir`. The value reaches git only through a file
    /// of mode 0600: a credential helper prints it (HTTP), or `ssh -i` reads it (SSH). It is
    /// in no argument, environment variable or log line.
    fn write(clone_dir: &Path, auth: &CloneAuth) -> Result<Self, CloneError> {
        let dir = PathBuf::from(format!("{}.auth", clone_dir.display()));
        if dir.to_string_lossy().contains('\'') {
            // The paths are quoted for git's shell; the engine's work directory has no quote.
            return Err(CloneError::Credentials(format!(
                "the build work directory {} holds a `'`: choose another [builds] work_dir",
                dir.display()
            )));
        }
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let mut files = AuthFiles {
            dir,
            config: Vec::new(),
            ssh_command: None,
        };
        match auth {
            CloneAuth::Token { username, token } => {
                let token = one_line(token.expose_secret())?;
                let path = files.file("credentials", |f| {
                    write!(f, "username={username}\npassword={token}\n")
                })?;
                // The engine's own helper only: the empty value drops any other.
                files.config.push("credential.helper=".to_owned());
                files.config.push(format!(
                    "credential.helper=!f() {{ test \"$1\" = get && cat '{}'; }}; f",
                    path.display()
                ));
            }
            CloneAuth::SshKey(key) => {
                let mut key = key.expose_secret().trim_end().to_owned();
                key.push('\n');
                let path = files.file("id", |f| f.write_all(key.as_bytes()))?;
                zeroize::Zeroize::zeroize(&mut key);
                files.ssh_command = Some(format!(
                    "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o IdentityAgent=none \
                     -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
                     -o UserKnownHostsFile='{}'",
                    path.display(),
                    files.dir.join("known_hosts").display()
                ));
            }
        }
        Ok(files)
    }

    /// Creates `name` in the directory with mode 0600 and writes it.
    fn file(
        &self,
        name: &str,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
    ) -> Result<PathBuf, CloneError> {
        let path = self.dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        write(&mut file)?;
        Ok(path)
    }
}

impl Drop for AuthFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A token is one line: the credential protocol is line-based, so a line break inside it
/// would be read as another field. A trailing one (`echo token | windlass secrets set`) is
/// dropped.
fn one_line(token: &str) -> Result<&str, CloneError> {
    let token = token.trim_end_matches(['\n', '\r']);
    if token.is_empty() || token.contains(['\n', '\r', '\0']) {
        return Err(CloneError::Credentials(
            "the credentials secret must hold one line (a token or password)".to_owned(),
        ));
    }
    Ok(token)
}

/// Fetches `source` at `reference` into `dir` and returns the commit, authenticated with
/// `auth` when the repository is private. `dir` is new, or a kept clone of the same
/// repository (`super::kept`): then only the new commit's objects are fetched, the work tree
/// is forced to that commit and everything git does not track is removed, so the tree is
/// exactly the commit's either way. Every git command's output goes to `log`.
pub(crate) async fn fetch(
    source: &BuildSource,
    reference: Option<&str>,
    dir: &Path,
    auth: Option<&CloneAuth>,
    timeout: Duration,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<CommitInfo, CloneError> {
    let (url, _transport) = source.url();
    let work = async {
        std::fs::create_dir_all(dir)?;
        let files = auth.map(|a| AuthFiles::write(dir, a)).transpose()?;
        let git = Git {
            dir,
            auth: files.as_ref(),
            log,
        };
        let kept = dir.join(".git").is_dir();
        if !kept {
            // No remote is configured: the URL is fetched directly (one git process fewer).
            git.run("init", &["init", "-q", "--template=", "."]).await?;
        }
        let wanted = reference.unwrap_or("HEAD");
        log(format!(
            "fetching {wanted} of {} (depth 1)",
            source.repository
        ));
        // A reference never starts with `-` (validated), so it cannot be read as an option.
        git.run(
            "fetch",
            &[
                "fetch",
                "--depth=1",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
                "--",
                &url,
                // Forced: a kept clone's ref points at the last build's commit.
                &format!("+{wanted}:refs/windlass/build"),
            ],
        )
        .await
        .map_err(|e| {
            // A bare commit cannot be a fetch refspec's source on old servers; say so.
            if is_commit_sha(wanted) {
                CloneError::Git {
                    step: "fetch",
                    message: format!("{e}; the server may not allow fetching a commit by SHA (uploadpack.allowReachableSHA1InWant)"),
                }
            } else {
                e
            }
        })?;
        // Writing the tree is the fetch's slow half on a journalled disk (each file's create
        // waits on the journal, longer still while it discards a removed tree's blocks: 1 to
        // 1.8 s for 5,000 files here, 0.1 s on tmpfs); creates from parallel workers overlap
        // those waits, and a kept clone only rewrites the files that changed.
        git.run(
            "checkout",
            &[
                "-c",
                "checkout.workers=8",
                "checkout",
                "-q",
                "-f",
                "--detach",
                "refs/windlass/build",
            ],
        )
        .await?;
        if kept {
            // Nothing the last build's tree had and this one does not, ignored files included.
            git.run("clean", &["clean", "-ffdxq"]).await?;
        }
        let shown = git
            .run(
                "log",
                &[
                    "log",
                    "-1",
                    "--format=%H%n%an <%ae>%n%s",
                    "refs/windlass/build",
                ],
            )
            .await?;
        let mut lines = shown.lines();
        let commit = CommitInfo {
            sha: lines.next().unwrap_or_default().to_owned(),
            author: lines.next().unwrap_or_default().to_owned(),
            message: lines.next().unwrap_or_default().to_owned(),
        };
        log(format!(
            "at {} by {}: {}",
            commit.sha, commit.author, commit.message
        ));
        Ok(commit)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| CloneError::Timeout(timeout))?
}

/// Where git runs, with which credentials, and where its output goes.
struct Git<'a> {
    dir: &'a Path,
    auth: Option<&'a AuthFiles>,
    log: &'a (dyn Fn(String) + Send + Sync),
}

impl Git<'_> {
    /// Runs one git command in the clone with nothing from the repository or the user able
    /// to act.
    async fn run(&self, step: &'static str, args: &[&str]) -> Result<String, CloneError> {
        let auth_config = self.auth.map(|a| a.config.as_slice()).unwrap_or_default();
        let ssh_command = self
            .auth
            .and_then(|a| a.ssh_command.clone())
            .unwrap_or_else(|| {
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new".to_owned()
            });
        git(self.dir, step, args, auth_config, &ssh_command, self.log).await
    }
}

/// Runs one git command in `dir` with nothing from the repository or the user able to act;
/// `config` adds `-c` settings (the credential helper).
async fn git(
    dir: &Path,
    step: &'static str,
    args: &[&str],
    config: &[String],
    ssh_command: &str,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<String, CloneError> {
    let config = config.iter().flat_map(|c| ["-c", c.as_str()]);
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.allow=never",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "protocol.git.allow=always",
            "-c",
            "protocol.http.allow=always",
            "-c",
            "protocol.https.allow=always",
            "-c",
            "protocol.ssh.allow=always",
            "-c",
            "submodule.recurse=false",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(config)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .env("GIT_SSH_COMMAND", ssh_command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(CloneError::Spawn)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        log(format!("git: {line}"));
    }
    if !output.status.success() {
        let message = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_owned();
        return Err(CloneError::Git { step, message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Walks the tree at `root` (skipping `.git`): refuses a symlink that points outside it (or
/// anywhere absolute) and a tree over `limits`.
pub(crate) fn check_tree(root: &Path, limits: TreeLimits) -> Result<TreeSummary, CloneError> {
    let mut summary = TreeSummary::default();
    let real_root = std::fs::canonicalize(root)?;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git"));
    for entry in walker {
        let entry = entry.map_err(|e| CloneError::Io(e.into()))?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let kind = entry.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            // Judged on the path, and where it resolves to: a link through another link
            // (`up -> loop/loop/../..` with `loop -> .`) looks inside on paper only.
            let resolves_outside =
                std::fs::canonicalize(entry.path()).is_ok_and(|real| !real.starts_with(&real_root));
            if !stays_inside(rel, &target) || resolves_outside {
                return Err(CloneError::Confinement(format!(
                    "symlink `{}` points to `{}`, outside the tree",
                    rel.display(),
                    target.display()
                )));
            }
        } else if kind.is_file() {
            let len = entry
                .metadata()
                .map_err(|e| CloneError::Io(e.into()))?
                .len();
            summary.files += 1;
            summary.bytes += len;
            if len > limits.max_file_bytes {
                return Err(CloneError::TooLarge(format!(
                    "`{}` is {len} bytes (at most {} per file)",
                    rel.display(),
                    limits.max_file_bytes
                )));
            }
            if summary.bytes > limits.max_tree_bytes {
                return Err(CloneError::TooLarge(format!(
                    "more than {} bytes",
                    limits.max_tree_bytes
                )));
            }
            if summary.files > limits.max_files {
                return Err(CloneError::TooLarge(format!(
                    "more than {} files",
                    limits.max_files
                )));
            }
        }
    }
    Ok(summary)
}

/// Whether a symlink at `link` (relative to the root) pointing at `target` resolves inside
/// the root, judged on the path alone.
pub(crate) fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<PathBuf> = Vec::new();
    let parent = link.parent().unwrap_or(Path::new(""));
    for component in parent.components().chain(target.components()) {
        match component {
            Component::Normal(part) => depth.push(PathBuf::from(part)),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Whether `rel` (a path inside the tree) goes through a symlink or leaves the tree: a
/// context or Dockerfile path must name real directories and files of the tree.
pub(crate) fn check_inside(root: &Path, rel: &str, field: &str) -> Result<PathBuf, CloneError> {
    crate::builds::source::check_relative(field, rel)
        .map_err(|e| CloneError::Confinement(format!("{}: {}", e.field, e.message)))?;
    let mut at = root.to_path_buf();
    for component in Path::new(rel).components() {
        if let Component::Normal(part) = component {
            at.push(part);
            let meta = std::fs::symlink_metadata(&at).map_err(|_| {
                CloneError::Confinement(format!("{field}: `{rel}` is not in the tree"))
            })?;
            if meta.file_type().is_symlink() {
                return Err(CloneError::Confinement(format!(
                    "{field}: `{rel}` goes through a symlink"
                )));
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_that_leave_the_tree_are_told_apart() {
        assert!(stays_inside(Path::new("a/link"), Path::new("../b")));
        assert!(stays_inside(Path::new("link"), Path::new("b/c")));
        assert!(!stays_inside(Path::new("link"), Path::new("../etc/passwd")));
        assert!(!stays_inside(Path::new("a/link"), Path::new("../../x")));
        assert!(!stays_inside(Path::new("link"), Path::new("/etc/passwd")));
    }

    #[test]
    fn a_tree_with_an_escaping_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "hi").unwrap();
        std::os::unix::fs::symlink("index.html", dir.path().join("ok")).unwrap();
        let limits = TreeLimits {
            max_file_bytes: 10,
            max_tree_bytes: 100,
            max_files: 10,
        };
        assert_eq!(check_tree(dir.path(), limits).unwrap().files, 1);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("bad")).unwrap();
        let error = check_tree(dir.path(), limits).unwrap_err().to_string();
        assert!(error.contains("symlink `bad`"), "{error}");
        std::fs::remove_file(dir.path().join("bad")).unwrap();
        // Inside on paper, outside where it resolves: `loop` is the root itself.
        std::os::unix::fs::symlink(".", dir.path().join("loop")).unwrap();
        assert!(check_tree(dir.path(), limits).is_ok());
        std::os::unix::fs::symlink("loop/loop/../..", dir.path().join("up")).unwrap();
        let error = check_tree(dir.path(), limits).unwrap_err().to_string();
        assert!(error.contains("symlink `up`"), "{error}");
        std::fs::remove_file(dir.path().join("up")).unwrap();
        std::fs::write(dir.path().join("big"), "x".repeat(11)).unwrap();
        let error = check_tree(dir.path(), limits).unwrap_err().to_string();
        assert!(error.contains("`big` is 11 bytes"), "{error}");
        assert!(check_inside(dir.path(), "ok", "context").is_err());
        assert!(check_inside(dir.path(), "../x", "context").is_err());
        assert!(check_inside(dir.path(), "index.html", "dockerfile").is_ok());
    }
}
