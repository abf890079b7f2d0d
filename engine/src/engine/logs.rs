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
    /// unmanaged container is "not found". A container of a service placed on an adapter
    /// target (named as `windlass ps` shows it) gives its last lines through the adapter,
    /// without `follow`.
    pub async fn logs(&self, name: &str, options: LogOptions) -> Result<LogStream, EngineError> {
        let info = match self.inspect(name).await {
            Ok(info) => info,
            Err(local) if is_not_found(&local) => {
                return match self.placed_logs(name, &options).await? {
                    Some(lines) => Ok(futures::stream::iter(lines.into_iter().map(Ok)).boxed()),
                    None => Err(local),
                };
            }
            Err(other) => return Err(other),
        };
        Ok(self
            .inner
            .ctx
            .runtime
            .logs(&info.id, options)
            .map(|line| line.map_err(EngineError::from))
            .boxed())
    }
}

/// Whether an inspect failed because no such container is the engine's.
fn is_not_found(error: &EngineError) -> bool {
    match error {
        EngineError::NotFound { .. } => true,
        EngineError::Runtime(e) => e.is_not_found(),
        _ => false,
    }
}
