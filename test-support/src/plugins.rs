//! Where the tests find the plugin components: `WINDLASS_PLUGINS_DIR`, else `plugins/target`.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The built component `file` (e.g. `stack_web_postgres.wasm`); fails with how to build it.
pub fn component(file: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    );
    let component = dir.join(file);
    if !component.is_file() {
        bail!(
            "{} is missing: build the plugins (`cargo build --release` in plugins/) or set \
             WINDLASS_PLUGINS_DIR to where they were built",
            component.display()
        );
    }
    Ok(component)
}

/// The `build-dockerfile` strategy (`build_dockerfile.wasm`), loaded under the name
/// `dockerfile` by a plugin host of its own: what build tests and benches give the engine when
/// their trees bring a Dockerfile.
pub async fn dockerfile_strategy() -> anyhow::Result<windlass::plugins::BuildStrategy> {
    use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
    let host = PluginHost::builder().build()?;
    let plugin = host
        .load(
            PluginSpec::from_file("dockerfile", component("build_dockerfile.wasm")?)
                .with_kind(PluginKind::BuildStrategy),
        )
        .await?;
    plugin
        .build_strategy()
        .ok_or_else(|| anyhow::anyhow!("build_dockerfile.wasm is not a build strategy"))
}
