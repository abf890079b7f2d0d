//! Reading a managed container's output.

use futures::StreamExt as _;
use futures::stream::BoxStream;

use super::Engine;
use crate::{EngineError, LogLine, LogOptions};

/// The lines of [`Engine::logs`]; the first error ends it.
pub type LogStream = BoxStream<'static, Result<LogLine, EngineError>>;

impl Engine {
    /// A managed container's stdout and stderr, line by line with Docker's timestamps, oldest
    /// first (`tail`, `since` and `follow` as in [`LogOptions`]). With `follow` the stream
    /// stays open until the container stops or the stream is dropped. Another engine's or an
    /// unmanaged container is "not found".
    pub async fn logs(&self, name: &str, options: LogOptions) -> Result<LogStream, EngineError> {
        let info = self.inspect(name).await?;
        Ok(self
            .inner
            .ctx
            .runtime
            .logs(&info.id, options)
            .map(|line| line.map_err(EngineError::from))
            .boxed())
    }
}
