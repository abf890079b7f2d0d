//! `build-nix`: a build strategy for trees that Nix builds (a `flake.nix` or a `default.nix`).
//!
//! Nix does not fit in a Dockerfile: it wants a store that outlives one build, so that a
//! derivation built once is never built again. So the plan has a **builder step**
//! (`build-plan.builder`, contract 0.2.0): the host runs Nix in a container of the builder
//! image with the tree at `/src` and the cache volume `nix-store` at `/nix`, then builds a
//! small runtime image from what the step left in `/windlass-out`:
//!
//! 1. `nix-build /src/default.nix` (or `nix build path:/src#ATTR` for a flake), its result
//!    linked at `/tmp/windlass-result`;
//! 2. the result's closure (`nix-store -qR`) copied to `/windlass-out/nix/store`, and
//!    `/windlass-out/result` a symlink to the result;
//! 3. the image: `FROM <runtime_image>`, `COPY . /`, started with `/result/bin/start`.
//!
//! A second build of the same derivation finds its output in the store volume and builds
//! nothing; only the copy and the (cached) image layers run again.
//!
//! # Detection
//!
//! | file | framework | confidence |
//! |------|-----------|------------|
//! | `flake.nix` | `flake` | 95 |
//! | `default.nix` | none | 90 |
//!
//! A tree with a Dockerfile is `build-dockerfile`'s (confidence 100).
//!
//! # Config (`[[plugins]] config = { ... }` in windlass.toml)
//!
//! | key | default | what |
//! |-----|---------|------|
//! | `nix_image` | `nixos/nix` | the builder image: `nix-build`, `nix-store`, `nix`, `sh`, `cp` on its `PATH` |
//! | `runtime_image` | `scratch` | what the result is copied into (a closure needs nothing else; use a busybox image for a shell) |
//! | `binary_cache` | none | a substituter URL (`https://`, `http://` or `file://`); without one everything is built here |
//! | `binary_cache_key` | none | the cache's public key (`name:base64`), required with a cache that signs |
//! | `attribute` | none | `-A ATTR` for `default.nix`, `#ATTR` for a flake (default: Nix's own default) |
//! | `start` | `/result/bin/start` | the command the image starts with (words separated by spaces) |
//! | `port` | `8080` | the port the result listens on (`EXPOSE`, and `PORT` in its environment) |
//! | `cache` | `nix-store` | the name of the build cache (one Docker volume per name and host) |
//!
//! Nix's settings go in `NIX_CONFIG`, so any builder image works: the container is the
//! sandbox (`sandbox = false`, no build users, no syscall filter), substituters are only the
//! configured cache, and flakes are enabled. A value with a newline or another control
//! character is refused (it would add settings of its own).

use std::path::{Path, PathBuf};

use windlass_plugin_sdk::types::{
    BuildCache, BuildOptions, BuildPhase, BuildPlan, BuilderStep, Detection, DockerfileSource,
    PluginError,
};

/// Where the tree is in the builder container (the host's contract).
const SOURCE: &str = "/src";
/// Where the step leaves the image's context.
const OUTPUT: &str = "/windlass-out";
/// Where the store is.
const STORE_MOUNT: &str = "/nix";

/// The config keys and their defaults (an empty default: not set).
const KEYS: [(&str, &str); 8] = [
    ("nix_image", "nixos/nix"),
    ("runtime_image", "scratch"),
    ("binary_cache", ""),
    ("binary_cache_key", ""),
    ("attribute", ""),
    ("start", "/result/bin/start"),
    ("port", "8080"),
    ("cache", "nix-store"),
];

/// The builder's script: build, copy the closure, link the result. The values come from the
/// environment (`WINDLASS_NIX_*`), never spliced into the script.
const SCRIPT: &str = r#"set -eu
out_link=/tmp/windlass-result
if [ "$WINDLASS_NIX_KIND" = flake ]; then
    nix build -L "path:/src${WINDLASS_NIX_ATTR:+#$WINDLASS_NIX_ATTR}" --out-link "$out_link"
else
    nix-build /src/default.nix ${WINDLASS_NIX_ATTR:+-A "$WINDLASS_NIX_ATTR"} --out-link "$out_link"
fi
result=$(readlink "$out_link")
mkdir -p /windlass-out/nix/store
nix-store -qR "$result" | while read -r path; do
    cp -a "$path" /windlass-out/nix/store/
done
ln -s "$result" /windlass-out/result
echo "windlass: $result and its closure ($(nix-store -qR "$result" | wc -l) store paths) copied"
"#;

/// The strategy.
struct Nix;

impl windlass_plugin_sdk::BuildStrategy for Nix {
    fn detect(source_dir: String) -> Option<Detection> {
        detect(Path::new(&source_dir))
    }

    fn plan(source_dir: String, options: BuildOptions) -> Result<BuildPlan, PluginError> {
        plan(
            Path::new(&source_dir),
            options,
            &windlass_plugin_sdk::config::all(),
        )
    }
}

windlass_plugin_sdk::export_build_strategy!(Nix);

/// Which kind of Nix tree a directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flake,
    Default,
}

impl Kind {
    fn of(dir: &Path) -> Option<Self> {
        if dir.join("flake.nix").is_file() {
            Some(Self::Flake)
        } else if dir.join("default.nix").is_file() {
            Some(Self::Default)
        } else {
            None
        }
    }

    fn file(self) -> &'static str {
        match self {
            Self::Flake => "flake.nix",
            Self::Default => "default.nix",
        }
    }
}

fn detect(root: &Path) -> Option<Detection> {
    let kind = Kind::of(root)?;
    let mut evidence = vec![kind.file().to_owned()];
    if kind == Kind::Flake && root.join("flake.lock").is_file() {
        evidence.push("flake.lock".to_owned());
    }
    Some(Detection {
        language: "nix".to_owned(),
        framework: (kind == Kind::Flake).then(|| "flake".to_owned()),
        confidence: if kind == Kind::Flake { 95 } else { 90 },
        evidence,
    })
}

/// The plugin's config, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    nix_image: String,
    runtime_image: String,
    binary_cache: Option<String>,
    binary_cache_key: Option<String>,
    attribute: Option<String>,
    start: Vec<String>,
    port: u16,
    cache: String,
}

impl Config {
    fn load(pairs: &[(String, String)]) -> Result<Self, PluginError> {
        if let Some((unknown, _)) = pairs
            .iter()
            .find(|(k, _)| !KEYS.iter().any(|(n, _)| n == k))
        {
            let known: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
            return Err(PluginError::invalid_config(
                unknown.clone(),
                format!(
                    "build-nix has no config key `{unknown}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
        let get = |key: &str| -> Result<String, PluginError> {
            let default = KEYS.iter().find(|(k, _)| *k == key).map_or("", |(_, d)| *d);
            let value = pairs
                .iter()
                .find(|(k, _)| k == key)
                .map_or(default, |(_, v)| v.as_str());
            if value.chars().any(char::is_control) {
                return Err(PluginError::invalid_config(
                    key,
                    format!(
                        "{key} holds a control character (a newline would be a Nix setting of its own)"
                    ),
                ));
            }
            Ok(value.trim().to_owned())
        };
        let optional = |key: &str| get(key).map(|v| (!v.is_empty()).then_some(v));
        let image = |key: &str| {
            let value = get(key)?;
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(PluginError::invalid_config(
                    key,
                    format!("{key} must be an image reference (one word), got `{value}`"),
                ));
            }
            Ok(value)
        };
        let binary_cache = optional("binary_cache")?;
        if let Some(url) = &binary_cache
            && (url.contains(char::is_whitespace)
                || !["https://", "http://", "file://"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme)))
        {
            return Err(PluginError::invalid_config(
                "binary_cache",
                format!("binary_cache must be one https://, http:// or file:// URL, got `{url}`"),
            ));
        }
        let attribute = optional("attribute")?;
        if let Some(attr) = &attribute
            && !attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(PluginError::invalid_config(
                "attribute",
                format!(
                    "attribute must be a Nix attribute path (letters, digits, `.`, `_`, `-`), got `{attr}`"
                ),
            ));
        }
        let start: Vec<String> = get("start")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if start.is_empty() {
            return Err(PluginError::invalid_config(
                "start",
                "start must name the command the image runs, e.g. /result/bin/start",
            ));
        }
        let port_text = get("port")?;
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                PluginError::invalid_config(
                    "port",
                    format!("port must be a port number (1-65535), got `{port_text}`"),
                )
            })?;
        let cache = get("cache")?;
        if cache.is_empty()
            || !cache
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PluginError::invalid_config(
                "cache",
                format!("cache must be a name of letters, digits, `-` and `_`, got `{cache}`"),
            ));
        }
        Ok(Self {
            nix_image: image("nix_image")?,
            runtime_image: image("runtime_image")?,
            binary_cache,
            binary_cache_key: optional("binary_cache_key")?,
            attribute,
            start,
            port,
            cache,
        })
    }

    /// What goes in `NIX_CONFIG`: the settings the builder container needs, whatever the image's
    /// own nix.conf says.
    fn nix_config(&self) -> String {
        let mut lines = vec![
            "sandbox = false".to_owned(),
            "build-users-group =".to_owned(),
            "filter-syscalls = false".to_owned(),
            "experimental-features = nix-command flakes".to_owned(),
            format!(
                "substituters = {}",
                self.binary_cache.as_deref().unwrap_or("")
            ),
        ];
        if let Some(key) = &self.binary_cache_key {
            lines.push(format!("trusted-public-keys = {key}"));
        }
        lines.join("\n")
    }
}

fn plan(
    root: &Path,
    options: BuildOptions,
    config: &[(String, String)],
) -> Result<BuildPlan, PluginError> {
    let sub = options.checked_subdirectory()?;
    let dir: PathBuf = match &sub {
        Some(sub) => root.join(sub),
        None => root.to_path_buf(),
    };
    let Some(kind) = Kind::of(&dir) else {
        let where_ = sub.as_deref().map_or_else(
            || "the root of the source tree".to_owned(),
            |s| format!("`{s}`"),
        );
        return Err(PluginError::no_match(format!(
            "no flake.nix or default.nix in {where_}; add one, or use another strategy"
        )));
    };
    let config = Config::load(config)?;
    let kind_name = match kind {
        Kind::Flake => "flake",
        Kind::Default => "default",
    };
    let mut env = vec![
        ("NIX_CONFIG".to_owned(), config.nix_config()),
        ("WINDLASS_NIX_KIND".to_owned(), kind_name.to_owned()),
    ];
    if let Some(attr) = &config.attribute {
        env.push(("WINDLASS_NIX_ATTR".to_owned(), attr.clone()));
    }
    let build_command = match (kind, &config.attribute) {
        (Kind::Flake, Some(attr)) => format!("nix build path:{SOURCE}#{attr}"),
        (Kind::Flake, None) => format!("nix build path:{SOURCE}"),
        (Kind::Default, Some(attr)) => format!("nix-build {SOURCE}/default.nix -A {attr}"),
        (Kind::Default, None) => format!("nix-build {SOURCE}/default.nix"),
    };
    let start_json = config
        .start
        .iter()
        .map(|word| json_string(word))
        .collect::<Vec<_>>()
        .join(", ");
    let dockerfile = format!(
        "FROM {runtime}\nCOPY . /\nENV PORT={port}\nEXPOSE {port}\nCMD [{start_json}]\n",
        runtime = config.runtime_image,
        port = config.port,
    );
    windlass_plugin_sdk::debug!(
        "build-nix: {} with {} (store cache `{}`)",
        kind.file(),
        config.nix_image,
        config.cache
    );
    Ok(BuildPlan {
        language: "nix".to_owned(),
        dockerfile: DockerfileSource::Inline(dockerfile),
        context: sub.unwrap_or_else(|| ".".to_owned()),
        build_args: options.build_args,
        phases: vec![
            BuildPhase {
                name: "build".to_owned(),
                commands: vec![build_command],
            },
            BuildPhase {
                name: "copy".to_owned(),
                commands: vec![format!(
                    "the result's closure into {} on {}",
                    "/nix/store", config.runtime_image
                )],
            },
            BuildPhase {
                name: "start".to_owned(),
                commands: vec![config.start.join(" ")],
            },
        ],
        start_command: Some(config.start.clone()),
        ports: vec![config.port],
        image_tag: options.image_tag,
        builder: Some(BuilderStep {
            image: config.nix_image.clone(),
            command: vec!["sh".to_owned(), "-c".to_owned(), SCRIPT.to_owned()],
            env,
            caches: vec![BuildCache {
                name: config.cache.clone(),
                path: STORE_MOUNT.to_owned(),
            }],
            output: OUTPUT.to_owned(),
        }),
    })
}

/// `s` as a JSON string (a Dockerfile exec-form word).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
