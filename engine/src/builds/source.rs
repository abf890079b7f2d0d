//! Where a service's image comes from when it is built: a git repository (or a local
//! directory), a reference and a subdirectory. Pure data and its validation; cloning is
//! `clone.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::SpecError;

/// A service's build source: `build = { repository = "…", reference = "main" }` in a stack
/// file. The engine clones it shallow, asks the build strategies to plan it and builds the
/// image on the Docker host; the service's `image` may then be left empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildSource {
    /// A git URL (`https://`, `http://`, `git://`, `ssh://`, `file://`) or an absolute local
    /// path to a repository.
    pub repository: String,
    /// A branch, tag or full commit SHA; none = the repository's default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A directory inside the tree to build from (relative, no `..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdirectory: Option<String>,
    /// The build strategy plugin to use; none = every strategy's `detect`, most confident
    /// wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Build arguments passed to the image build.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
    /// The secret to authenticate the fetch with, for a private repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<GitCredentials>,
}

/// How a private repository is authenticated: a secret of the service's organisation, read
/// by the engine for each fetch (a `secret-read` event with purpose `build-clone`) and never
/// put in a URL, an argument, an environment variable or the build log.
///
/// Over `https://` (or `http://` to a loopback host) the secret is a token or password, sent
/// with `username`; over `ssh://` it is a private key (OpenSSH format, no passphrase) and
/// `username` is not used (the URL names the user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GitCredentials {
    /// The secret's name, in the service's organisation.
    pub secret: String,
    /// The user name sent with an HTTP token; none = `git` (forges that authenticate by the
    /// token alone accept any name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl GitCredentials {
    /// Authenticates with the secret `secret`.
    pub fn secret(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            username: None,
        }
    }

    /// Sends `username` with the token.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The user name sent with an HTTP token.
    pub(crate) fn username(&self) -> &str {
        self.username.as_deref().unwrap_or("git")
    }
}

/// How a repository is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `https://`, `http://`, `git://`, `ssh://`.
    Network,
    /// `file://` or a local path.
    Local,
}

impl BuildSource {
    /// A source for `repository` at its default branch.
    pub fn new(repository: impl Into<String>) -> Self {
        Self {
            repository: repository.into(),
            reference: None,
            subdirectory: None,
            strategy: None,
            build_args: BTreeMap::new(),
            credentials: None,
        }
    }

    /// At `reference` (a branch, tag or commit).
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// Built from `subdirectory` of the tree.
    pub fn with_subdirectory(mut self, subdirectory: impl Into<String>) -> Self {
        self.subdirectory = Some(subdirectory.into());
        self
    }

    /// With the strategy plugin `strategy`.
    pub fn with_strategy(mut self, strategy: impl Into<String>) -> Self {
        self.strategy = Some(strategy.into());
        self
    }

    /// With a build argument.
    pub fn with_build_arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.build_args.insert(name.into(), value.into());
        self
    }

    /// Authenticated with `credentials` (a private repository).
    pub fn with_credentials(mut self, credentials: GitCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The repository as a URL git fetches from (a local path becomes `file://`), and how it
    /// is reached.
    pub(crate) fn url(&self) -> (String, Transport) {
        let repo = self.repository.trim();
        if repo.starts_with("file://") {
            (repo.to_owned(), Transport::Local)
        } else if repo.starts_with('/') {
            (format!("file://{repo}"), Transport::Local)
        } else {
            (repo.to_owned(), Transport::Network)
        }
    }

    /// Checks the source; the error names the field (under `build.`).
    pub fn validate(&self) -> Result<(), SpecError> {
        let repo = self.repository.trim();
        let schemes = ["https://", "http://", "git://", "ssh://", "file://"];
        if repo.is_empty()
            || repo.chars().any(|c| c.is_whitespace() || c.is_control())
            || !(repo.starts_with('/') || schemes.iter().any(|s| repo.starts_with(s)))
        {
            return Err(SpecError::new(
                "build.repository",
                "a git URL (https://, http://, git://, ssh://, file://) or an absolute local path is required",
            ));
        }
        if let Some(reference) = &self.reference
            && !valid_reference(reference)
        {
            return Err(SpecError::new(
                "build.reference",
                format!(
                    "`{reference}` is not a branch, tag or commit name (letters, digits, `/`, `.`, `_`, `-`; not starting with `-`, no `..`)"
                ),
            ));
        }
        if let Some(sub) = &self.subdirectory {
            check_relative("build.subdirectory", sub)?;
        }
        if let Some(strategy) = &self.strategy
            && strategy.trim().is_empty()
        {
            return Err(SpecError::new(
                "build.strategy",
                "a plugin name, or leave it out",
            ));
        }
        if let Some(credentials) = &self.credentials {
            check_credentials(repo, credentials)?;
        }
        for name in self.build_args.keys() {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SpecError::new(
                    format!("build.build_args.{name}"),
                    "build argument names match [A-Za-z_][A-Za-z0-9_]*",
                ));
            }
        }
        Ok(())
    }
}

/// Credentials need a transport that carries them, and one that does not show them to the
/// network: `https://`, `ssh://`, or `http://` to a loopback host only.
fn check_credentials(repo: &str, credentials: &GitCredentials) -> Result<(), SpecError> {
    crate::secrets::validate_secret_name("build.credentials.secret", &credentials.secret)?;
    if let Some(user) = &credentials.username
        && (user.is_empty() || user.len() > 255 || user.chars().any(|c| c.is_control()))
    {
        return Err(SpecError::new(
            "build.credentials.username",
            "a user name of 1 to 255 characters without control characters is required",
        ));
    }
    if repo.starts_with("https://") || repo.starts_with("ssh://") {
        return Ok(());
    }
    if let Some(rest) = repo.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(SpecError::new(
            "build.credentials",
            "plain http:// would send the credentials in the clear; use https:// (http:// is allowed to a loopback host only)",
        ));
    }
    Err(SpecError::new(
        "build.credentials",
        "credentials are sent over https:// or ssh:// only; git://, file:// and local paths carry none",
    ))
}

/// A reference git accepts on the command line without reading it as an option.
pub(crate) fn valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= 255
        && !reference.starts_with('-')
        && !reference.contains("..")
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

/// Whether `reference` is a full commit SHA (40 hex digits).
pub(crate) fn is_commit_sha(reference: &str) -> bool {
    reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit())
}

/// Refuses a path that is absolute, empty or has a `..` component.
pub(crate) fn check_relative(field: &str, path: &str) -> Result<(), SpecError> {
    let p = std::path::Path::new(path);
    if path.trim().is_empty()
        || p.is_absolute()
        || p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(SpecError::new(
            field,
            format!("`{path}` must be a relative path inside the tree, without `..`"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            BuildSource::new("/srv/git/app").url(),
            ("file:///srv/git/app".to_owned(), Transport::Local)
        );
        assert_eq!(
            BuildSource::new("git://127.0.0.1/app").url().1,
            Transport::Network
        );
        assert!(BuildSource::new("git://127.0.0.1/app").validate().is_ok());
        for bad in ["", "app", "ftp://x/y", "https://a b"] {
            let error = BuildSource::new(bad).validate().unwrap_err();
            assert_eq!(error.field, "build.repository", "{bad}");
        }
    }

    #[test]
    fn references_and_subdirectories() {
        let ok = BuildSource::new("/r").with_reference("release/1.2");
        assert!(ok.validate().is_ok());
        for bad in ["--upload-pack=x", "a..b", "a b", ""] {
            let error = BuildSource::new("/r")
                .with_reference(bad)
                .validate()
                .unwrap_err();
            assert_eq!(error.field, "build.reference", "{bad}");
        }
        for bad in ["../up", "/abs", "a/../../b", ""] {
            let error = BuildSource::new("/r")
                .with_subdirectory(bad)
                .validate()
                .unwrap_err();
            assert_eq!(error.field, "build.subdirectory", "{bad}");
        }
        let error = BuildSource::new("/r")
            .with_build_arg("1x", "v")
            .validate()
            .unwrap_err();
        assert_eq!(error.field, "build.build_args.1x");
        assert!(is_commit_sha(&"a".repeat(40)));
    }

    #[test]
    fn credentials_need_a_transport_that_carries_them_privately() {
        let token = || GitCredentials::secret("git-token");
        for ok in [
            "https://git.example/app.git",
            "ssh://git@git.example/app.git",
            "http://127.0.0.1:8080/app",
            "http://localhost/app",
            "http://[::1]:9/app",
        ] {
            let source = BuildSource::new(ok).with_credentials(token());
            assert!(source.validate().is_ok(), "{ok}");
        }
        for bad in [
            "http://git.example/app",
            "http://127.0.0.1.example/app",
            "git://127.0.0.1/app",
            "file:///srv/app",
            "/srv/app",
        ] {
            let error = BuildSource::new(bad)
                .with_credentials(token())
                .validate()
                .unwrap_err();
            assert_eq!(error.field, "build.credentials", "{bad}");
        }
        let error = BuildSource::new("https://g/a")
            .with_credentials(GitCredentials::secret("bad name"))
            .validate()
            .unwrap_err();
        assert_eq!(error.field, "build.credentials.secret");
        let error = BuildSource::new("https://g/a")
            .with_credentials(token().with_username("a\nb"))
            .validate()
            .unwrap_err();
        assert_eq!(error.field, "build.credentials.username");
        assert_eq!(token().username(), "git");
        assert!(!is_commit_sha("main"));
    }
}
