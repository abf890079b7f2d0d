//! Disk use of containers: the writable layer (Docker computes it) and the named volumes they
//! mount (measured by walking the volume's directory on the Docker host).
//!
//! Both are expensive — Docker walks each writable layer, the engine walks each volume — so
//! they are read at the snapshot interval, never per stats sample. Volume sizes are only known
//! when the engine runs on the Docker host as a user that can read
//! `/var/lib/docker/volumes`; otherwise they are `None`, not a guess. (Docker's own `system df`
//! would answer remotely, but its volume section changed shape between API versions.)

use std::path::{Path, PathBuf};

use bollard::query_parameters::ListContainersOptions;
use tracing::instrument;

use super::{ContainerSummary, DockerRuntime, RuntimeError, label_filters};

/// Disk use of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerDisk {
    /// The container as listed.
    pub summary: ContainerSummary,
    /// Bytes in its writable layer, if Docker reported them.
    pub rw_bytes: Option<u64>,
    /// Host directories of the named volumes it mounts.
    pub volume_dirs: Vec<PathBuf>,
}

impl DockerRuntime {
    /// Disk use of every container (any state) whose labels match all `labels` pairs, in one
    /// call (Docker computes the writable layers' sizes for it).
    #[instrument(name = "runtime.container_disk", skip(self))]
    pub(crate) async fn container_disk(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerDisk>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            size: true,
            filters: Some(label_filters(labels)),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.op("list containers with sizes", "by label").error(e))?;
        Ok(listed
            .into_iter()
            .filter_map(|mut c| {
                let volume_dirs = c
                    .mounts
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.typ.as_deref() == Some("volume"))
                    .filter_map(|m| m.source.filter(|s| !s.is_empty()).map(PathBuf::from))
                    .collect();
                let rw_bytes = c.size_rw.and_then(|s| u64::try_from(s).ok());
                Some(ContainerDisk {
                    summary: ContainerSummary::from_docker(c)?,
                    rw_bytes,
                    volume_dirs,
                })
            })
            .collect())
    }
}

/// Bytes in the regular files under `dir` (symbolic links are not followed), or `None` when
/// the directory cannot be read from here. Blocking: run it on a blocking thread.
pub(crate) fn directory_bytes(dir: &Path) -> Option<u64> {
    // The top directory must be readable (walkdir reports it first, at depth 0); an entry
    // below it that vanishes or cannot be read meanwhile is skipped.
    std::fs::read_dir(dir).ok()?;
    let total = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .fold(0u64, |total, meta| total.saturating_add(meta.len()));
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_bytes_adds_up_nested_files_and_knows_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("b"), [0u8; 23]).unwrap();
        assert_eq!(directory_bytes(dir.path()), Some(123));
        // A link to a file outside is not followed (nor counted), and a file is not a directory.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), [0u8; 1000]).unwrap();
        std::os::unix::fs::symlink(outside.path().join("big"), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dirlink")).unwrap();
        assert_eq!(directory_bytes(dir.path()), Some(123));
        assert_eq!(directory_bytes(&dir.path().join("a")), None);
        assert_eq!(directory_bytes(&dir.path().join("missing")), None);
    }
}
