//! `[builds]`: how the runner builds images from source — which build-strategy plugins are
//! asked (and in which order ties go), how many builds run at once, how many images of a
//! service are kept, and how long a fetch and a build may take.

use std::path::Path;

use windlass::plugins::PluginKind;

use super::ConfigError;
use super::check::Checker;
use super::raw::RawBuilds;
use super::types::{BuildsSection, PluginConfig};

/// `[builds]`; without it: every build-strategy plugin of the file, in its order, 2 at once,
/// 3 images kept.
pub(super) fn builds(
    c: &Checker<'_>,
    raw: Option<&RawBuilds>,
    plugins: &[PluginConfig],
    data_dir: &Path,
) -> Result<BuildsSection, ConfigError> {
    let defaults = windlass::builds::BuildsConfig::default();
    let all: Vec<String> = plugins
        .iter()
        .filter(|p| p.kind == PluginKind::BuildStrategy)
        .map(|p| p.name.clone())
        .collect();
    let mut section = BuildsSection {
        strategies: all.clone(),
        concurrency: defaults.concurrency,
        keep_images: defaults.keep_images,
        clone_timeout: defaults.clone_timeout,
        build_timeout: defaults.build_timeout,
        work_dir: data_dir.join("builds"),
    };
    let Some(raw) = raw else {
        return Ok(section);
    };
    if let Some(names) = &raw.strategies {
        section.strategies.clear();
        for (i, name) in names.iter().enumerate() {
            let key = format!("builds.strategies[{i}]");
            let available = if all.is_empty() {
                "this file has no build-strategy plugins".to_owned()
            } else {
                format!("build strategies here: {}", all.join(", "))
            };
            match plugins.iter().find(|p| &p.name == name.get_ref()) {
                Some(p) if p.kind == PluginKind::BuildStrategy => {
                    section.strategies.push(p.name.clone());
                }
                Some(p) => {
                    return Err(ConfigError::Reference {
                        at: c.at(&name.span()),
                        key,
                        message: format!(
                            "plugin \"{}\" is a {}, not a build-strategy ({available})",
                            p.name, p.kind
                        ),
                    });
                }
                None => {
                    return Err(ConfigError::Reference {
                        at: c.at(&name.span()),
                        key,
                        message: format!("no plugin named \"{}\" ({available})", name.get_ref()),
                    });
                }
            }
        }
    }
    if let Some(n) = &raw.concurrency {
        section.concurrency =
            usize::try_from(c.bounded(n, "builds.concurrency", 1, 64, "")?).unwrap_or(1);
    }
    if let Some(n) = &raw.keep_images {
        section.keep_images =
            usize::try_from(c.bounded(n, "builds.keep_images", 1, 100, " images")?).unwrap_or(1);
    }
    if let Some(d) = &raw.clone_timeout {
        section.clone_timeout = c.duration(d, "builds.clone_timeout")?;
    }
    if let Some(d) = &raw.build_timeout {
        section.build_timeout = c.duration(d, "builds.build_timeout")?;
    }
    if let Some(dir) = &raw.work_dir {
        section.work_dir = c.resolve(dir.get_ref());
    }
    Ok(section)
}

impl BuildsSection {
    /// The engine's build configuration, each strategy looked up by `strategy` (the runner
    /// passes its loaded plugins); a name it does not know is skipped.
    pub fn engine_config(
        &self,
        strategy: impl Fn(&str) -> Option<windlass::plugins::BuildStrategy>,
    ) -> windlass::builds::BuildsConfig {
        let mut config = windlass::builds::BuildsConfig::default()
            .with_concurrency(self.concurrency)
            .with_keep_images(self.keep_images)
            .with_work_dir(&self.work_dir);
        config.clone_timeout = self.clone_timeout;
        config.build_timeout = self.build_timeout;
        for name in &self.strategies {
            if let Some(s) = strategy(name) {
                config = config.with_strategy(name, s);
            }
        }
        config
    }
}
