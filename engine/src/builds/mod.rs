//! Building images from source: a service's [`BuildSource`] becomes an image on the Docker
//! host and then a new revision of the service.
//!
//! A build goes `queued → cloning → detecting → building → succeeded | failed | cancelled`
//! ([`BuildState`]); each step persists the record ([`BuildRecord`], the `builds` table), then
//! emits `build-<state>`. The steps, one concern per file:
//!
//! - `source`: the [`BuildSource`] type and its validation;
//! - `clone`: a shallow fetch of one reference with the `git` client, nothing in the
//!   repository able to act (no hooks, no submodules), and the check that the tree stays
//!   inside itself (symlinks, sizes);
//! - `strategy`: the build strategy plugins' `detect` and `plan`, the tree mounted read-only;
//! - `builder`: a plan's builder step (Nix), run in a container with caches that outlive the
//!   build, whose output becomes the context;
//! - `context`: the context directory (or a builder's output) as a tar stream Docker reads as
//!   it is written;
//! - `live`: the log of a running build, followed by readers without gaps;
//! - `record`: the record and its state machine.
//!
//! One build from queue to deploy, with cancellation and the log, is the engine's
//! (`engine/build_run.rs`): it ends in [`Engine::apply`](crate::Engine::apply).
//!
//! The engine never pulls: a plan's `FROM` images must be on the Docker host (the strategy
//! plugins take their base images from their config). A successful build hands its image to
//! the service through [`Engine::apply`](crate::Engine::apply), so the rolling update
//! (start-first, health-gated, rolled back when the new revision never gets ready) deploys
//! it; a failed or cancelled build changes nothing that runs.

pub(crate) mod builder;
pub(crate) mod clone;
pub(crate) mod context;
pub(crate) mod kept;
mod live;
mod record;
pub(crate) mod source;
pub(crate) mod strategy;
pub(crate) mod webhook;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use windlass_host_api::BuildStrategy;

pub use crate::engine::webhook_secret_name;
pub use builder::cache_volume;
pub(crate) use live::Live;
pub use live::LogFollow;
pub use record::{BuildFilter, BuildRecord, BuildState, CommitInfo};
pub use source::{BuildSource, GitCredentials};
pub use webhook::{WebhookDelivery, WebhookOutcome, WebhookProvider, sign as sign_webhook};

/// Label on every image the engine builds: the build's id.
pub const LABEL_BUILD: &str = "dev.windlass.build";
/// Label on every image the engine builds: the commit it was built from.
pub const LABEL_COMMIT: &str = "dev.windlass.commit";

/// How the engine builds ([`EngineBuilder::with_builds`](crate::EngineBuilder::with_builds)).
#[derive(Clone)]
pub struct BuildsConfig {
    /// The build strategy plugins, by name, in the order ties are broken.
    pub strategies: Vec<(String, BuildStrategy)>,
    /// How many builds run at once; the rest wait `queued`. Default 2.
    pub concurrency: usize,
    /// How many images of a service are kept (for rollback); older ones are removed. Default 3.
    pub keep_images: usize,
    /// Where clones live while their build runs; default a directory per engine under the
    /// system's temporary directory. Emptied when the engine starts.
    pub work_dir: Option<PathBuf>,
    /// How long fetching a source may take. Default 5 minutes.
    pub clone_timeout: Duration,
    /// How long Docker's build may take. Default 30 minutes.
    pub build_timeout: Duration,
    /// The largest file a source tree may hold. Default 256 MiB.
    pub max_file_bytes: u64,
    /// The largest source tree. Default 2 GiB.
    pub max_tree_bytes: u64,
    /// The most files in a source tree. Default 200 000.
    pub max_files: u64,
}

impl Default for BuildsConfig {
    fn default() -> Self {
        Self {
            strategies: Vec::new(),
            concurrency: 2,
            keep_images: 3,
            work_dir: None,
            clone_timeout: Duration::from_secs(300),
            build_timeout: Duration::from_secs(1800),
            max_file_bytes: 256 << 20,
            max_tree_bytes: 2 << 30,
            max_files: 200_000,
        }
    }
}

impl std::fmt::Debug for BuildsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildsConfig")
            .field(
                "strategies",
                &self.strategies.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("concurrency", &self.concurrency)
            .field("keep_images", &self.keep_images)
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

impl BuildsConfig {
    /// With a build strategy plugin.
    pub fn with_strategy(mut self, name: impl Into<String>, strategy: BuildStrategy) -> Self {
        self.strategies.push((name.into(), strategy));
        self
    }

    /// With at most `n` builds at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Keeping the last `n` images of each service.
    pub fn with_keep_images(mut self, n: usize) -> Self {
        self.keep_images = n.max(1);
        self
    }

    /// With clones under `dir`.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }
}

/// The engine's build state: the config, the slots and the running builds.
pub(crate) struct Builds {
    pub config: BuildsConfig,
    pub work_dir: PathBuf,
    /// Each service's last clone, reused by its next build.
    pub kept: kept::KeptClones,
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Builds not yet finished, by id.
    pub live: std::sync::Mutex<HashMap<String, Arc<Live>>>,
}

impl Builds {
    pub(crate) fn new(config: BuildsConfig, engine_id: &str) -> Self {
        let work_dir = config
            .work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("windlass-builds-{engine_id}")));
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1))),
            config,
            kept: kept::KeptClones::new(&work_dir),
            work_dir,
            live: std::sync::Mutex::default(),
        }
    }

    /// The running build `id`, if it is.
    pub(crate) fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.lock().ok()?.get(id).cloned()
    }

    /// Whether a build of this service is running or queued.
    pub(crate) fn busy(&self, org: &str, stack: &str, service: &str) -> bool {
        self.live.lock().is_ok_and(|live| {
            live.values()
                .any(|l| l.org == org && l.stack == stack && l.service == service)
        })
    }
}

/// The tag of the image built for a service from a commit.
pub(crate) fn image_tag(engine: &str, org: &str, stack: &str, service: &str, sha: &str) -> String {
    let short: String = sha.chars().take(12).collect();
    format!("windlass-build/{engine}/{org}/{stack}/{service}:{short}")
}

/// What usually causes a failure like `error`, and what to do about it.
pub(crate) fn hint_for(error: &str) -> Option<String> {
    let e = error.to_ascii_lowercase();
    let hint = if e.contains("no build strategy recognised") {
        "no strategy recognised the tree: add a Dockerfile, or one of the files build-auto looks for (package.json, requirements.txt, pyproject.toml, go.mod, Cargo.toml, index.html), or name a strategy in the build source"
    } else if e.contains("pull access denied")
        || e.contains("repository does not exist")
        || e.contains("manifest unknown")
        || e.contains("no such image")
        || (e.contains("not found") && e.contains("from"))
    {
        "a base or builder image of the plan is not on this Docker host: the engine never pulls, so build or load it locally (scripts/build-test-images.sh builds the test bases), or set the strategy's image in its plugin config (e.g. build-auto's python_image, build-nix's nix_image)"
    } else if e.contains("returned a non-zero code") || e.contains("non-zero exit") {
        "a build step failed: the lines above the error in the build's log are that step's output"
    } else if e.contains("build credentials:") {
        "the build's credentials secret could not be read or used: check that it exists in the service's org (windlass secrets ls) and holds one line (a token) or a private key (ssh://)"
    } else if e.contains("authentication failed")
        || e.contains("could not read username")
        || e.contains("could not read password")
        || e.contains("permission denied (publickey")
        || e.contains("returned error: 401")
        || e.contains("returned error: 403")
    {
        "the repository refused the fetch's authentication: a private repository needs `credentials = { secret = \"NAME\" }` in the build source, and the secret must hold a token (https://) or a private key (ssh://) the server accepts"
    } else if e.contains("git fetch failed") || e.contains("couldn't find remote ref") {
        "the source could not be fetched: check the repository URL, that the reference (branch, tag or commit) exists, and the credentials"
    } else if e.contains("refused") && e.contains("symlink") {
        "the tree holds a symlink pointing outside it: remove it or make it relative inside the tree"
    } else if e.contains("too large") {
        "the tree is over the engine's size limits ([builds] in windlass.toml): remove large files from the repository or raise the limits"
    } else if e.contains("the engine stopped") {
        "the engine was stopped or crashed while this build ran: start the build again"
    } else {
        return None;
    };
    Some(hint.to_owned())
}
