//! The CLI's profile: the API URL, token and CA file `windlass login` saved, so that the
//! client commands work without `WINDLASS_TOKEN` in the environment. `windlass logout` deletes
//! it.
//!
//! The file is `$WINDLASS_PROFILE`, else `$XDG_CONFIG_HOME/windlass/profile.json`, else
//! `~/.config/windlass/profile.json`. It holds a bearer token, so it is written with mode 0600
//! in a directory created 0700, and a profile that others can read or write is refused
//! rather than used (as ssh refuses a private key others can read).
//!
//! Precedence, for each of URL, token and CA file: the command-line flag, then the
//! environment variable (`WINDLASS_URL`, `WINDLASS_TOKEN`, `WINDLASS_CA_CERT`), then the
//! profile, then the default URL `http://127.0.0.1:7878`. The profile's token is sent only to
//! the profile's URL: pointing a command at another server with `--url` never leaks it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CliError;

/// The environment variable naming the profile file.
pub(crate) const PROFILE_VAR: &str = "WINDLASS_PROFILE";

/// What `windlass login` saves, as JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    /// The runner's API URL.
    pub url: String,
    /// The bearer token.
    pub token: String,
    /// The CA file for `https`, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &"***")
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// Where the profile lives (see the module docs); `None` when neither `WINDLASS_PROFILE`,
/// `XDG_CONFIG_HOME` nor `HOME` is set.
pub(crate) fn path() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(file) = var(PROFILE_VAR) {
        return Some(PathBuf::from(file));
    }
    let config = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(config.join("windlass").join("profile.json"))
}

/// The saved profile, `None` when there is none; one others may read or write is an error.
pub(crate) fn load() -> Result<Option<Profile>, CliError> {
    let Some(file) = path() else {
        return Ok(None);
    };
    let usage = |why: String| CliError::Usage(format!("profile {}: {why}", file.display()));
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(usage(e.to_string())),
    };
    check_private(&file).map_err(usage)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| usage(format!("not a profile: {e}")))
}

/// Refuses a file whose mode lets its group or others in.
#[cfg(unix)]
fn check_private(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(file)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:04o} lets other users read or change the token in it; \
             `chmod 600` it or `windlass login` again"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &Path) -> Result<(), String> {
    Ok(())
}

/// Writes `profile` with mode 0600 (its directory 0700 when created), replacing any other.
pub(crate) fn save(profile: &Profile) -> Result<PathBuf, CliError> {
    let file = path().ok_or_else(|| {
        CliError::Usage(format!(
            "nowhere to keep the profile: set {PROFILE_VAR}, XDG_CONFIG_HOME or HOME"
        ))
    })?;
    let failed = |e: std::io::Error| CliError::Usage(format!("profile {}: {e}", file.display()));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(failed)?;
    }
    let mut text = serde_json::to_string_pretty(profile).map_err(|e| CliError::Other(e.into()))?;
    text.push('\n');
    // A new file under a temporary name, created 0600 before a byte is written, then renamed
    // over the old one: the token is never in a file others could open.
    let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = std::fs::remove_file(&tmp);
    let written = options.open(&tmp).and_then(|mut out| {
        std::io::Write::write_all(&mut out, text.as_bytes())?;
        out.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, &file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            failed(e)
        })?;
    Ok(file)
}

/// Deletes the profile; the file it was in, or `None` when there was none.
pub(crate) fn remove() -> Result<Option<PathBuf>, CliError> {
    let Some(file) = path() else {
        return Ok(None);
    };
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Usage(format!("profile {}: {e}", file.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let profile = Profile {
            url: "http://127.0.0.1:7878".into(),
            token: "wl_0123456789abcdef".into(),
            ca_cert: None,
        };
        let debug = format!("{profile:?} {profile:#?}");
        assert!(
            !debug.contains("wl_0123") && debug.contains("***"),
            "{debug}"
        );
    }
}
