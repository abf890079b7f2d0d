//! Local images: whether an image is on the Docker host.
//!
//! Windlass never pulls: images are built or loaded on the host (`builds` owns building). This
//! module must not contact a registry.

use tracing::instrument;

use super::{DockerRuntime, RuntimeError};

impl DockerRuntime {
    /// The id (`sha256:…`) of a local image, or [`RuntimeError::ImageMissing`] telling the user
    /// to build or load it locally.
    #[instrument(name = "runtime.require_image", skip(self))]
    pub async fn require_image(&self, image: &str) -> Result<String, RuntimeError> {
        let op = self.op("inspect image", image);
        match self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| op.error(e))
        {
            Ok(found) => found.id.ok_or_else(|| op.protocol("image without id")),
            Err(RuntimeError::NotFound { .. }) => Err(RuntimeError::ImageMissing {
                image: image.to_owned(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The user an image runs as (`Config.User`: empty for root, `name`, `uid` or `uid:gid`).
    #[instrument(name = "runtime.image_user", skip(self))]
    pub(crate) async fn image_user(&self, image: &str) -> Result<String, RuntimeError> {
        let op = self.op("inspect image", image);
        let found = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| op.error(e))?;
        Ok(found.config.and_then(|c| c.user).unwrap_or_default())
    }

    /// Whether an image is on the Docker host.
    pub async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.require_image(image).await {
            Ok(_) => Ok(true),
            Err(RuntimeError::ImageMissing { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
