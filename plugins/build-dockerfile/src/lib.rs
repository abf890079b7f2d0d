//! `build-dockerfile`: a build strategy that builds a tree with its own `Dockerfile`.
//!
//! - `detect` looks for `Dockerfile`, then `Containerfile`, at the root of the tree: found, it
//!   answers language `dockerfile` with confidence 100 and the file as evidence.
//! - `plan` looks in `options.subdirectory` when set (a relative path inside the tree; `..` and
//!   absolute paths are refused with `invalid-input`, field `subdirectory`), and returns the file
//!   (`dockerfile: path`, relative to the tree's root) with that directory as build context,
//!   the build arguments as given, the final stage's numeric `EXPOSE` ports, and its
//!   `ENTRYPOINT`/`CMD` as the start command when they are in exec form (JSON array). Without
//!   a Dockerfile it fails with `no-match`.
//!
//! The phases are for display: `build` lists the Dockerfile's `RUN` commands and `start` the
//! start command.

mod dockerfile;

use std::path::{Path, PathBuf};

use windlass_plugin_sdk::types::{
    BuildOptions, BuildPhase, BuildPlan, Detection, DockerfileSource, PluginError,
};

/// The file names looked for, in order.
const NAMES: [&str; 2] = ["Dockerfile", "Containerfile"];
/// Larger files are refused.
const MAX_DOCKERFILE_BYTES: u64 = 1024 * 1024;

/// The strategy.
struct DockerfileStrategy;

impl windlass_plugin_sdk::BuildStrategy for DockerfileStrategy {
    fn detect(source_dir: String) -> Option<Detection> {
        detect(Path::new(&source_dir))
    }

    fn plan(source_dir: String, options: BuildOptions) -> Result<BuildPlan, PluginError> {
        plan(Path::new(&source_dir), options)
    }
}

windlass_plugin_sdk::export_build_strategy!(DockerfileStrategy);

/// The Dockerfile's name in `dir`, if it has one.
fn find(dir: &Path) -> Option<&'static str> {
    NAMES.into_iter().find(|name| dir.join(name).is_file())
}

fn detect(root: &Path) -> Option<Detection> {
    let name = find(root)?;
    Some(Detection {
        language: "dockerfile".to_owned(),
        framework: None,
        confidence: 100,
        evidence: vec![name.to_owned()],
    })
}

fn plan(root: &Path, options: BuildOptions) -> Result<BuildPlan, PluginError> {
    let sub = options.checked_subdirectory()?;
    let dir: PathBuf = match &sub {
        Some(sub) => root.join(sub),
        None => root.to_path_buf(),
    };
    let where_ = sub.as_deref().map_or_else(
        || "the root of the source tree".to_owned(),
        |s| format!("`{s}`"),
    );
    let Some(name) = find(&dir) else {
        return Err(PluginError::no_match(format!(
            "no Dockerfile or Containerfile in {where_}; add one, or use a strategy that writes its own (e.g. build-auto)"
        )));
    };
    let path = dir.join(name);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_DOCKERFILE_BYTES {
        return Err(PluginError::invalid_input(format!(
            "{name} in {where_} is {size} bytes; at most {MAX_DOCKERFILE_BYTES} are read"
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| PluginError::invalid_input(format!("cannot read {name} in {where_}: {e}")))?;
    let info = dockerfile::parse(&String::from_utf8_lossy(&bytes));
    if !info.skipped_ports.is_empty() {
        windlass_plugin_sdk::warn!(
            "{name}: EXPOSE values that are not port numbers were skipped: {}",
            info.skipped_ports.join(" ")
        );
    }

    let mut phases = Vec::new();
    if !info.runs.is_empty() {
        phases.push(BuildPhase {
            name: "build".to_owned(),
            commands: info.runs.clone(),
        });
    }
    if let Some(start) = &info.start {
        phases.push(BuildPhase {
            name: "start".to_owned(),
            commands: vec![start.join(" ")],
        });
    }
    let relative = match &sub {
        Some(sub) => format!("{sub}/{name}"),
        None => name.to_owned(),
    };
    Ok(BuildPlan {
        language: "dockerfile".to_owned(),
        dockerfile: DockerfileSource::Path(relative),
        context: sub.unwrap_or_else(|| ".".to_owned()),
        build_args: options.build_args,
        phases,
        start_command: info.start,
        ports: info.ports,
        image_tag: options.image_tag,
        // The same source builds the 0.1.0 test component (plugins/v0_1/build-dockerfile),
        // whose contract has no builder step.
        #[cfg(not(feature = "contract-0-1"))]
        builder: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(files: &[(&str, &str)]) -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "build-dockerfile-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for (path, content) in files {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, content).unwrap();
            }
            Self(dir)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn options(sub: Option<&str>) -> BuildOptions {
        BuildOptions {
            image_tag: "acme/web:rev-7".into(),
            build_args: vec![("VERSION".into(), "7".into())],
            subdirectory: sub.map(str::to_owned),
        }
    }

    const DOCKERFILE: &str = "FROM rust:1-slim AS build\nRUN cargo build --release\nFROM debian:stable-slim\nEXPOSE 8080\nCMD [\"/app\"]\n";

    #[test]
    fn detects_dockerfile_and_containerfile() {
        let tree = Tree::new(&[("Dockerfile", DOCKERFILE)]);
        let d = detect(&tree.0).unwrap();
        assert_eq!((d.language.as_str(), d.confidence), ("dockerfile", 100));
        assert_eq!(d.evidence, ["Dockerfile"]);
        let tree = Tree::new(&[("Containerfile", DOCKERFILE)]);
        assert_eq!(detect(&tree.0).unwrap().evidence, ["Containerfile"]);
        let tree = Tree::new(&[("README.md", "hi"), ("Dockerfile.dev/x", "")]);
        assert_eq!(detect(&tree.0), None);
    }

    #[test]
    fn plans_at_the_root() {
        let tree = Tree::new(&[("Dockerfile", DOCKERFILE)]);
        let plan = plan(&tree.0, options(None)).unwrap();
        assert_eq!(plan.language, "dockerfile");
        assert_eq!(plan.dockerfile, DockerfileSource::Path("Dockerfile".into()));
        assert_eq!(plan.context, ".");
        assert_eq!(plan.build_args, vec![("VERSION".into(), "7".into())]);
        assert_eq!(plan.ports, [8080]);
        assert_eq!(plan.start_command, Some(vec!["/app".into()]));
        assert_eq!(plan.image_tag, "acme/web:rev-7");
        assert_eq!(plan.phases.len(), 2);
        assert_eq!(plan.phases[0].commands, ["cargo build --release"]);
        assert_eq!(plan.phases[1].commands, ["/app"]);
    }

    #[test]
    fn plans_in_a_subdirectory() {
        let tree = Tree::new(&[("services/web/Containerfile", "FROM nginx\nEXPOSE 80\n")]);
        let plan = plan(&tree.0, options(Some("./services/web/"))).unwrap();
        assert_eq!(
            plan.dockerfile,
            DockerfileSource::Path("services/web/Containerfile".into())
        );
        assert_eq!(plan.context, "services/web");
        assert_eq!(plan.ports, [80]);
        assert_eq!(plan.start_command, None);
        assert!(plan.phases.is_empty());
    }

    #[test]
    fn no_dockerfile_is_no_match() {
        let tree = Tree::new(&[("main.go", "package main")]);
        let err = plan(&tree.0, options(None)).unwrap_err();
        assert_eq!(err.code, "no-match");
        assert!(err.message.contains("Dockerfile"), "{}", err.message);
        let err = plan(&tree.0, options(Some("nope"))).unwrap_err();
        assert_eq!(err.code, "no-match");
        assert!(err.message.contains("`nope`"), "{}", err.message);
    }

    #[test]
    fn refuses_escaping_subdirectories() {
        let tree = Tree::new(&[("Dockerfile", DOCKERFILE)]);
        for bad in ["../x", "/etc", "a/../../b"] {
            let err = plan(&tree.0, options(Some(bad))).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("subdirectory"), "{bad}");
        }
        // "." is the root.
        assert_eq!(plan(&tree.0, options(Some("."))).unwrap().context, ".");
    }
}
