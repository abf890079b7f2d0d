//! The `build-strategy` world.

use std::path::Path;

use super::guest_call;
use crate::convert::{convert, v1};
use crate::types::{BuildOptions, BuildPlan, Detection, PluginError};
use crate::{CallError, Plugin};

/// Where the source tree appears inside the sandbox.
const SOURCE_DIR: &str = "/source";

/// A build strategy plugin: detects a source tree and plans its build.
#[derive(Debug, Clone)]
pub struct BuildStrategy(pub(crate) Plugin);

impl BuildStrategy {
    /// The plugin behind the handle.
    pub fn plugin(&self) -> &Plugin {
        &self.0
    }

    /// Asks whether the strategy can build the tree at `source` (mounted read-only for the
    /// call).
    pub async fn detect(&self, source: &Path) -> Result<Option<Detection>, CallError> {
        let dirs = [(source.to_path_buf(), SOURCE_DIR.to_owned())];
        guest_call!(self.0, "detect", &dirs, {
            BuildStrategy => |guest, store| guest.windlass_plugin_build().call_detect(store, SOURCE_DIR),
            BuildStrategyV0_1 => |guest, store| async move {
                convert(&guest.windlass_plugin_build().call_detect(store, SOURCE_DIR).await?)
            },
        })
    }

    /// Plans the build of the tree at `source`. The host executes the plan.
    pub async fn plan(
        &self,
        source: &Path,
        options: &BuildOptions,
    ) -> Result<Result<BuildPlan, PluginError>, CallError> {
        let dirs = [(source.to_path_buf(), SOURCE_DIR.to_owned())];
        guest_call!(self.0, "plan", &dirs, {
            BuildStrategy => |guest, store| guest.windlass_plugin_build().call_plan(store, SOURCE_DIR, options),
            BuildStrategyV0_1 => |guest, store| async move {
                let options: v1::BuildOptions = convert(options)?;
                convert(&guest.windlass_plugin_build().call_plan(store, SOURCE_DIR, &options).await?)
            },
        })
    }
}
