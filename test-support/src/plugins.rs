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

/// The bases build-auto's plans use here (its plugin config): what
/// scripts/build-test-images.sh builds from Debian's packages.
pub const AUTO_IMAGES: [(&str, &str); 4] = [
    ("python_image", "windlass-test/python:3"),
    ("node_image", "windlass-test/node:18"),
    ("static_image", crate::docker::BUSYBOX),
    ("static_server", "busybox"),
];

/// Fails with what to run when a base image of build-auto's plans is missing.
pub async fn require_build_bases() -> anyhow::Result<()> {
    let runtime = crate::docker::connect_with_busybox().await?;
    for (_, image) in AUTO_IMAGES.iter().filter(|(k, _)| k.ends_with("_image")) {
        anyhow::ensure!(
            runtime.image_exists(image).await?,
            "the build tests' base image {image} is missing: run `bash scripts/build-test-images.sh python node` (built locally from Debian's packages; nothing is pulled)"
        );
    }
    Ok(())
}

/// The engine's build strategies as the build tests configure them: `dockerfile`
/// (`build_dockerfile.wasm`) and `auto` (`build_auto.wasm`, its bases [`AUTO_IMAGES`]).
pub async fn build_strategies(
    host: &windlass::plugins::PluginHost,
) -> anyhow::Result<windlass::builds::BuildsConfig> {
    use windlass::plugins::{PluginKind, PluginSpec};
    let mut config = windlass::builds::BuildsConfig::default();
    for (name, file) in [
        ("dockerfile", "build_dockerfile.wasm"),
        ("auto", "build_auto.wasm"),
    ] {
        let mut spec =
            PluginSpec::from_file(name, component(file)?).with_kind(PluginKind::BuildStrategy);
        if name == "auto" {
            for (key, value) in AUTO_IMAGES {
                spec = spec.with_config(key, value);
            }
        }
        let plugin = host.load(spec).await?;
        let strategy = plugin
            .build_strategy()
            .ok_or_else(|| anyhow::anyhow!("{file} is not a build strategy"))?;
        config = config.with_strategy(name, strategy);
    }
    Ok(config)
}

/// The Nix strategy's builder image here: Debian's nix-bin, built by
/// `scripts/build-test-images.sh nix`.
pub const NIX_IMAGE: &str = "windlass-test/nix:2";

/// The `build-nix` strategy (`build_nix.wasm`) under the name `nix`, building with
/// [`NIX_IMAGE`] into a busybox runtime image, its store in build cache `cache`. Fails with
/// what to run when the builder image is missing.
pub async fn nix_strategy(
    host: &windlass::plugins::PluginHost,
    cache: &str,
) -> anyhow::Result<windlass::plugins::BuildStrategy> {
    use windlass::plugins::{PluginKind, PluginSpec};
    let runtime = crate::docker::connect_with_busybox().await?;
    anyhow::ensure!(
        runtime.image_exists(NIX_IMAGE).await?,
        "the Nix strategy's builder image {NIX_IMAGE} is missing: run `bash scripts/build-test-images.sh nix` (built locally from Debian's nix-bin; nothing is pulled)"
    );
    let spec = PluginSpec::from_file("nix", component("build_nix.wasm")?)
        .with_kind(PluginKind::BuildStrategy)
        .with_config("nix_image", NIX_IMAGE)
        .with_config("runtime_image", crate::docker::BUSYBOX)
        .with_config("cache", cache);
    host.load(spec)
        .await?
        .build_strategy()
        .ok_or_else(|| anyhow::anyhow!("build_nix.wasm is not a build strategy"))
}
