//! Choosing a build strategy and getting its plan: the strategy the source names, or every
//! loaded strategy's `detect` with the most confident answer winning (ties: the first in the
//! configured order), then that strategy's `plan`. The plugins see the tree read-only (the
//! host mounts it per call); a plugin that fails is contained: its error is logged and, while
//! detecting, the other strategies still answer.

use std::path::Path;

use windlass_host_api::BuildStrategy;
use windlass_host_api::types::{BuildOptions, BuildPlan, Detection, DockerfileSource};

/// Why no plan came out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StrategyError {
    /// The engine has no build strategy plugin.
    #[error("no build strategy plugin is loaded")]
    NoStrategies,
    /// The source names a strategy that is not loaded.
    #[error("the build strategy `{name}` is not loaded (loaded: {loaded})")]
    Unknown { name: String, loaded: String },
    /// No strategy recognised the tree.
    #[error("no build strategy recognised the tree (asked: {asked})")]
    NoMatch { asked: String },
    /// The chosen strategy refused to plan.
    #[error("the build strategy `{name}` could not plan the build: {message}")]
    Refused { name: String, message: String },
    /// Calling the plugin failed (a trap, a timeout, a limit).
    #[error("the build strategy `{name}` failed: {message}")]
    Plugin { name: String, message: String },
}

/// The strategy chosen and its plan.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub name: String,
    pub detection: Option<Detection>,
    pub plan: BuildPlan,
}

/// Detects (in `detect_dir`: the subdirectory when there is one) and plans (with `root`
/// mounted and the subdirectory in `options`).
pub(crate) async fn choose(
    strategies: &[(String, BuildStrategy)],
    named: Option<&str>,
    root: &Path,
    detect_dir: &Path,
    options: &BuildOptions,
    log: &(dyn Fn(String) + Send + Sync),
) -> Result<Chosen, StrategyError> {
    if strategies.is_empty() {
        return Err(StrategyError::NoStrategies);
    }
    let (name, strategy, detection) = match named {
        Some(name) => {
            let Some((_, strategy)) = strategies.iter().find(|(n, _)| n == name) else {
                return Err(StrategyError::Unknown {
                    name: name.to_owned(),
                    loaded: names(strategies),
                });
            };
            let detection = match strategy.detect(detect_dir).await {
                Ok(found) => found,
                Err(error) => {
                    return Err(StrategyError::Plugin {
                        name: name.to_owned(),
                        message: error.to_string(),
                    });
                }
            };
            log(describe(name, detection.as_ref()));
            (name.to_owned(), strategy, detection)
        }
        None => {
            let mut best: Option<(&String, &BuildStrategy, Detection)> = None;
            for (name, strategy) in strategies {
                match strategy.detect(detect_dir).await {
                    Ok(found) => {
                        log(describe(name, found.as_ref()));
                        if let Some(found) = found
                            && best
                                .as_ref()
                                .is_none_or(|(_, _, b)| found.confidence > b.confidence)
                        {
                            best = Some((name, strategy, found));
                        }
                    }
                    Err(error) => log(format!("strategy {name}: detect failed: {error}")),
                }
            }
            let Some((name, strategy, detection)) = best else {
                return Err(StrategyError::NoMatch {
                    asked: names(strategies),
                });
            };
            log(format!(
                "chose {name} ({}, confidence {})",
                detection.language, detection.confidence
            ));
            (name.clone(), strategy, Some(detection))
        }
    };
    match strategy.plan(root, options).await {
        Ok(Ok(plan)) => Ok(Chosen {
            name,
            detection,
            plan,
        }),
        Ok(Err(refused)) => Err(StrategyError::Refused {
            name,
            message: format!("{} ({})", refused.message, refused.code),
        }),
        Err(error) => Err(StrategyError::Plugin {
            name,
            message: error.to_string(),
        }),
    }
}

fn names(strategies: &[(String, BuildStrategy)]) -> String {
    strategies
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(name: &str, found: Option<&Detection>) -> String {
    match found {
        Some(d) => format!(
            "strategy {name}: {}{} with confidence {} (evidence: {})",
            d.language,
            d.framework
                .as_deref()
                .map(|f| format!("/{f}"))
                .unwrap_or_default(),
            d.confidence,
            d.evidence.join(", ")
        ),
        None => format!("strategy {name}: does not recognise the tree"),
    }
}

/// The plan as shown to people (and stored in the build's record).
pub(crate) fn plan_json(chosen: &Chosen) -> serde_json::Value {
    let plan = &chosen.plan;
    let (dockerfile_path, dockerfile) = match &plan.dockerfile {
        DockerfileSource::Path(path) => (Some(path.clone()), None),
        DockerfileSource::Inline(text) => (None, Some(text.clone())),
    };
    serde_json::json!({
        "strategy": chosen.name,
        "language": plan.language,
        "framework": chosen.detection.as_ref().and_then(|d| d.framework.clone()),
        "confidence": chosen.detection.as_ref().map(|d| d.confidence),
        "evidence": chosen.detection.as_ref().map(|d| d.evidence.clone()).unwrap_or_default(),
        "context": plan.context,
        "dockerfile_path": dockerfile_path,
        "dockerfile": dockerfile,
        "phases": plan.phases.iter().map(|p| serde_json::json!({
            "name": p.name, "commands": p.commands,
        })).collect::<Vec<_>>(),
        "start_command": plan.start_command,
        "ports": plan.ports,
        // The builder step, its environment by name only (values may be long or private).
        "builder": plan.builder.as_ref().map(|b| serde_json::json!({
            "image": b.image,
            "command": b.command,
            "env": b.env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "caches": b.caches.iter().map(|c| serde_json::json!({
                "name": c.name, "path": c.path,
            })).collect::<Vec<_>>(),
            "output": b.output,
        })),
    })
}
