//! Files in and out of a container as tar streams (Docker's archive endpoint), and waiting for
//! a container to exit: what running a one-shot container (a build's builder step, reading an
//! injected secret back) needs beyond create and start.

use std::time::Duration;

use bollard::query_parameters::{UploadToContainerOptions, WaitContainerOptions};
use futures::{Stream, StreamExt};

use super::error::Op;
use super::{DockerRuntime, RuntimeError};

impl DockerRuntime {
    /// A path of a container as a tar stream (Docker's archive endpoint): one entry named
    /// after the path's last component, with everything under it.
    pub(crate) fn download(
        &self,
        container: &str,
        path: &str,
    ) -> impl Stream<Item = Result<bytes::Bytes, bollard::errors::Error>> + use<> {
        self.docker.download_from_container(
            container,
            Some(bollard::query_parameters::DownloadFromContainerOptions {
                path: path.to_owned(),
            }),
        )
    }

    /// Extracts the tar stream `archive` into directory `path` of a created or running
    /// container (the directory must exist, e.g. as its working directory), waiting at most
    /// `timeout` for the whole upload.
    pub(crate) async fn upload<S>(
        &self,
        container: &str,
        path: &str,
        archive: S,
        timeout: Duration,
    ) -> Result<(), RuntimeError>
    where
        S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        let (docker, deadline) = self.waiting_client(timeout);
        let op = Op {
            endpoint: &self.endpoint,
            operation: "upload files into",
            target: container,
            timeout: deadline,
        };
        docker
            .upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: path.to_owned(),
                    ..Default::default()
                }),
                bollard::body_try_stream(archive),
            )
            .await
            .map_err(|e| op.error(e))
    }

    /// Waits for a started container to exit, at most `timeout`, and returns its exit code.
    pub(crate) async fn wait_exit(
        &self,
        container: &str,
        timeout: Duration,
    ) -> Result<i64, RuntimeError> {
        let (docker, deadline) = self.waiting_client(timeout);
        let op = Op {
            endpoint: &self.endpoint,
            operation: "wait for",
            target: container,
            timeout: deadline,
        };
        let mut waits = std::pin::pin!(docker.wait_container(
            container,
            Some(WaitContainerOptions {
                condition: "not-running".to_owned(),
            })
        ));
        match waits.next().await {
            Some(Ok(exit)) => Ok(exit.status_code),
            // Docker reports a non-zero exit as an error of the wait call.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(op.error(e)),
            None => Err(op.protocol("the wait ended without an exit code")),
        }
    }
}
