//! Putting secrets into a container: files on a host tmpfs bind-mounted read-only at
//! `/run/secrets`, and environment variables.
//!
//! For each container with file secrets the engine writes `<runtime dir>/<random dir>/NAME`
//! (mode 0400, then owned by the container's user; the directory 0500, also the user's) and
//! mounts that directory read-only. The values are on a tmpfs (never on disk), not in the image
//! or a volume, and `docker inspect` shows only the mount's host path. Environment secrets go
//! into the create request and so are visible to whoever can inspect the container: that is
//! the documented trade-off of `env = "VAR"`.
//!
//! Every value read for injection is an audit event (`secret-read`, actor `engine`). The
//! directory of a container goes when the container is gone (swept at each reconcile pass).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use bollard::models::{Mount, MountType};
use futures::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{SECRETS_MOUNT, SecretError};
use crate::engine::Ctx;
use crate::runtime::{ContainerSpec, SecretMount};
use crate::{EngineError, NewEvent};

const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Whether `path` is on a tmpfs.
pub(crate) fn is_tmpfs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| {
        #[allow(clippy::unnecessary_cast, clippy::cast_lossless)] // FsWord differs by target
        let kind = s.f_type as i64;
        kind == TMPFS_MAGIC
    })
}

/// Creates the runtime directory (mode 0700) and checks that it is on a tmpfs.
pub(crate) fn prepare_runtime_dir(dir: &Path) -> Result<(), SecretError> {
    let fail = |reason: String| SecretError::RuntimeDir {
        path: dir.to_owned(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| fail(format!("cannot make it private: {e}")))?;
    if !is_tmpfs(dir) {
        return Err(fail(
            "is not on a tmpfs: secret files must never reach a disk; choose a directory on a \
             tmpfs ([secrets] runtime_dir)"
                .into(),
        ));
    }
    Ok(())
}

/// Removes the secret directories no container in `alive` (their directory labels) uses.
pub(crate) fn sweep(runtime_dir: &Path, alive: &HashSet<&str>) {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !alive.contains(name) {
            let path = entry.path();
            // The directory is read-only (0500) for its owner: make it writable to empty it.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).ok();
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::warn!(%error, path = %path.display(), "could not remove a container's secret files");
            }
        }
    }
}

/// Creates the container of `spec` with its secrets injected; returns its id.
pub(crate) async fn create(
    ctx: &Ctx,
    org: &str,
    spec: &ContainerSpec,
) -> Result<String, EngineError> {
    if spec.secrets.is_empty() {
        return Ok(ctx.runtime.create_container(spec).await?);
    }
    let vault = ctx
        .secrets
        .as_ref()
        .ok_or(EngineError::Secret(SecretError::NotConfigured))?;
    let mut files: Vec<(&SecretMount, SecretString)> = Vec::new();
    let mut env = Vec::new();
    for mount in &spec.secrets {
        let value = crate::engine::read_secret(ctx, org, &mount.name, mount.version).await?;
        ctx.emit(
            NewEvent::new("secret-read")
                .with_org(org)
                .with_stack(label(spec, crate::labels::LABEL_STACK))
                .with_service(label(spec, crate::labels::LABEL_SERVICE))
                .with_container(&spec.name)
                .with_payload(json!({
                    "secret": mount.name,
                    "version": mount.version,
                    "actor": "engine",
                    "injection": if mount.env.is_some() { "env" } else { "file" },
                })),
        )
        .await;
        match &mount.env {
            Some(var) => env.push(match &mount.env_template {
                Some(template) => format!(
                    "{var}={}",
                    template.replace(
                        &super::param_placeholder(&mount.name),
                        value.expose_secret()
                    )
                ),
                None => format!("{var}={}", value.expose_secret()),
            }),
            None => files.push((mount, value)),
        }
    }
    // A fresh directory per container, named by a label rather than by the container's name
    // (a surge is renamed when it takes its slot).
    let token = {
        use rand::RngCore;
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    let dir = vault.runtime_dir.join(&token);
    let mut labelled;
    let spec = if files.is_empty() {
        spec
    } else {
        labelled = spec.clone();
        labelled
            .labels
            .insert(crate::labels::LABEL_SECRETS_DIR.to_owned(), token.clone());
        &labelled
    };
    let inject_error = |reason: String| {
        EngineError::Secret(SecretError::Inject {
            container: spec.name.clone(),
            reason,
        })
    };
    let mut mounts = Vec::new();
    if !files.is_empty() {
        write_files(&dir, &files).map_err(|e| inject_error(format!("writing files: {e}")))?;
        mounts.push(Mount {
            target: Some(SECRETS_MOUNT.to_owned()),
            source: Some(dir.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let id = ctx
        .runtime
        .create_container_with(
            spec,
            crate::runtime::CreateExtras {
                env,
                mounts,
                working_dir: None,
            },
        )
        .await?;
    if !files.is_empty() {
        let (uid, gid) = container_user(ctx, &id, &spec.image)
            .await
            .map_err(|e| inject_error(format!("finding the container's user: {e}")))?;
        own(&dir, uid, gid).map_err(|e| inject_error(format!("owning the files: {e}")))?;
    }
    Ok(id)
}

fn label<'a>(spec: &'a ContainerSpec, key: &str) -> &'a str {
    spec.labels.get(key).map(String::as_str).unwrap_or_default()
}

/// Writes each value to `dir/NAME` with mode 0400 (the directory is made afresh).
fn write_files(dir: &Path, files: &[(&SecretMount, SecretString)]) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for (mount, value) in files {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(dir.join(&mount.name))?;
        file.write_all(value.expose_secret().as_bytes())?;
    }
    Ok(())
}

/// Gives `dir` and its files to `uid:gid`; the directory becomes read-only (0500).
fn own(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::os::unix::fs::chown(entry?.path(), Some(uid), Some(gid))?;
    }
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500))
}

/// The uid and gid the container runs as: the image's `User` (numeric, or a name looked up
/// in the container's `/etc/passwd`), root when it sets none.
async fn container_user(ctx: &Ctx, id: &str, image: &str) -> Result<(u32, u32), String> {
    let user = ctx
        .runtime
        .image_user(image)
        .await
        .map_err(|e| e.to_string())?;
    let (user, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user.as_str(), None),
    };
    if user.is_empty() || user == "root" {
        return Ok((0, group.and_then(|g| g.parse().ok()).unwrap_or(0)));
    }
    let numeric_gid = group.and_then(|g| g.parse::<u32>().ok());
    if let Ok(uid) = user.parse::<u32>()
        && (group.is_none() || numeric_gid.is_some())
    {
        return Ok((uid, numeric_gid.unwrap_or(0)));
    }
    let passwd = read_container_file(ctx, id, "/etc/passwd").await?;
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user))
        .ok_or_else(|| format!("user `{user}` is not in the image's /etc/passwd"))?;
    let uid = entry[2]
        .parse()
        .map_err(|_| "a malformed /etc/passwd".to_owned())?;
    let gid = match numeric_gid {
        Some(gid) => gid,
        None => entry[3]
            .parse()
            .map_err(|_| "a malformed /etc/passwd".to_owned())?,
    };
    Ok((uid, gid))
}

/// One small text file out of a (created) container, through Docker's archive endpoint.
async fn read_container_file(ctx: &Ctx, id: &str, path: &str) -> Result<String, String> {
    let bytes: Vec<u8> = ctx
        .runtime
        .download(id, path)
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut entries = archive.entries().map_err(|e| e.to_string())?;
    let mut entry = entries
        .next()
        .ok_or_else(|| format!("{path} is not in the container"))?
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    entry.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}
