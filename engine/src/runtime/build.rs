//! Image builds on the Docker host: the build endpoint fed by a tar stream, and the images a
//! build leaves (their size, the ones kept for rollback, dangling ones after a crash).
//!
//! Docker's classic builder is asked for explicitly: it uses images already on the host for
//! `FROM` without asking a registry (BuildKit resolves every `FROM` against one, and no
//! registry is reachable where the engine runs). Nothing here decides which images to keep:
//! `builds` says which to remove.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use futures::{Stream, StreamExt};

use super::{DockerRuntime, RuntimeError, label_filters};

/// What the image build endpoint reports, one item at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildOutput {
    /// A line of the build's output (a step, its command's output).
    Line(String),
    /// The build failed with this message.
    Failed(String),
}

/// One build to run.
#[derive(Debug, Clone)]
pub(crate) struct ImageBuild {
    /// The tag to give the image.
    pub tag: String,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub build_args: HashMap<String, String>,
    /// Labels of the build request. Docker's classic builder makes each one a step of its
    /// own: labels that are the same for every build of a commit belong in the Dockerfile.
    pub labels: HashMap<String, String>,
    /// How long the whole build may take.
    pub timeout: Duration,
}

/// An image the engine built, as listed.
#[derive(Debug, Clone)]
pub(crate) struct BuiltImage {
    pub id: String,
    pub tags: Vec<String>,
    pub created: i64,
}

/// What an image is made of, to tell whether two builds made the same image: its id, and
/// its layers and configuration with the label naming the build left out (each build sets
/// its own, so two builds of one tree differ in that label only).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageContent {
    pub id: String,
    /// The layer digests and the configuration without the build's label.
    pub content: serde_json::Value,
}

impl DockerRuntime {
    /// Builds `build` from the tar context `context` and streams what Docker reports. Docker
    /// reads the context as it arrives; nothing is staged on disk here.
    pub(crate) fn build_image<S>(
        &self,
        build: &ImageBuild,
        context: S,
    ) -> impl Stream<Item = Result<BuildOutput, RuntimeError>> + use<S>
    where
        S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
    {
        let (docker, timeout) = self.waiting_client(build.timeout);
        let endpoint = self.endpoint.clone();
        let target = build.tag.clone();
        let options = BuildImageOptions {
            dockerfile: build.dockerfile.clone(),
            t: Some(build.tag.clone()),
            rm: true,
            forcerm: true,
            buildargs: Some(build.build_args.clone()),
            labels: Some(build.labels.clone()),
            version: BuilderVersion::BuilderV1,
            ..Default::default()
        };
        let body = bollard::body_try_stream(context);
        async_stream(move |tx| async move {
            let op = super::error::Op {
                endpoint: &endpoint,
                operation: "build image",
                target: &target,
                timeout,
            };
            let mut stream = std::pin::pin!(docker.build_image(options, None, Some(body)));
            while let Some(item) = stream.next().await {
                let out = match item {
                    Ok(info) => {
                        if let Some(detail) = info.error_detail {
                            Ok(BuildOutput::Failed(
                                detail
                                    .message
                                    .unwrap_or_else(|| "the build failed".to_owned()),
                            ))
                        } else if let Some(text) = info.stream.or(info.status) {
                            Ok(BuildOutput::Line(text))
                        } else {
                            continue;
                        }
                    }
                    Err(bollard::errors::Error::DockerStreamError { error }) => {
                        Ok(BuildOutput::Failed(error))
                    }
                    Err(e) => Err(op.error(e)),
                };
                if tx.send(out).await.is_err() {
                    return;
                }
            }
        })
    }

    /// An image's size in bytes.
    pub(crate) async fn image_size(&self, image: &str) -> Result<Option<i64>, RuntimeError> {
        let op = self.op("inspect image", image);
        let found = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| op.error(e))?;
        Ok(found.size)
    }

    /// What image `image` (a tag or id) is made of; none when it is not on the host.
    pub(crate) async fn image_content(
        &self,
        image: &str,
        ignore_label: &str,
    ) -> Result<Option<ImageContent>, RuntimeError> {
        let op = self.op("inspect image", image);
        let found = match self.docker.inspect_image(image).await {
            Ok(found) => found,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(op.error(e)),
        };
        let id = found.id.ok_or_else(|| op.protocol("image without id"))?;
        let mut config = serde_json::to_value(&found.config).unwrap_or_default();
        if let Some(labels) = config
            .get_mut("Labels")
            .and_then(serde_json::Value::as_object_mut)
        {
            labels.remove(ignore_label);
        }
        let layers = found.root_fs.and_then(|r| r.layers).unwrap_or_default();
        Ok(Some(ImageContent {
            id,
            content: serde_json::json!({ "layers": layers, "config": config }),
        }))
    }

    /// Gives image `image` (a tag or id) the tag `tag` (`repository:tag`), moving it from the
    /// image that had it.
    pub(crate) async fn tag_image(&self, image: &str, tag: &str) -> Result<(), RuntimeError> {
        let op = self.op("tag image", image);
        let (repo, name) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
        self.docker
            .tag_image(
                image,
                Some(TagImageOptions {
                    repo: Some(repo.to_owned()),
                    tag: Some(name.to_owned()),
                }),
            )
            .await
            .map_err(|e| op.error(e))
    }

    /// The images carrying every label in `labels`; `dangling` only untagged ones.
    pub(crate) async fn list_built_images(
        &self,
        labels: &[(&str, &str)],
        dangling: bool,
    ) -> Result<Vec<BuiltImage>, RuntimeError> {
        let op = self.op("list images", "labelled");
        let mut filters = label_filters(labels);
        if dangling {
            filters.insert("dangling".to_owned(), vec!["true".to_owned()]);
        }
        let images = self
            .docker
            .list_images(Some(ListImagesOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| op.error(e))?;
        Ok(images
            .into_iter()
            .map(|i| BuiltImage {
                id: i.id,
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                created: i.created,
            })
            .collect())
    }

    /// Removes an image (by tag or id) unless a container uses it; `Ok(false)` when it was in
    /// use or already gone.
    pub(crate) async fn remove_image(&self, image: &str) -> Result<bool, RuntimeError> {
        let op = self.op("remove image", image);
        match self
            .docker
            .remove_image(
                image,
                Some(RemoveImageOptions {
                    force: false,
                    noprune: false,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(false),
            Err(e) => Err(op.error(e)),
        }
    }
}

/// A stream fed by a task: `f` sends items until it returns or the receiver goes away.
fn async_stream<T, F, Fut>(f: F) -> impl Stream<Item = T> + use<T, F, Fut>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(f(tx));
    let abort = AbortOnDrop(task);
    tokio_stream::wrappers::ReceiverStream::new(rx).map(move |item| {
        let _keep = &abort;
        item
    })
}

/// Aborts the feeding task when the stream is dropped (a cancelled build ends its request).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
