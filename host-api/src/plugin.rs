//! A loaded plugin: its compiled component, hot reload, the failure policy, and starting a
//! call (a fresh store with the limits and the deadline; `call` finishes it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use wasmtime::component::Component;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{billing_rule, build_strategy, cloud_adapter, stack_template, v0_1};
use crate::cache::{CompileSource, sha256_hex};
use crate::call::Call;
use crate::events::{PluginEvent, PluginEventKind};
use crate::host::PluginHost;
use crate::sandbox::{CallState, SandboxSpec};
use crate::{CallError, LoadError, PluginKind, PluginSource, PluginSpec, contract};

/// How long a guest computes before it yields to the async executor.
const YIELD_SLICE: Duration = Duration::from_millis(10);

/// The pre-instantiated component, typed by world and contract version (`V0_1`: a component
/// built against 0.1.0, whose values `convert` translates).
#[allow(
    clippy::large_enum_variant,
    reason = "one per loaded component version, kept in an Arc: the size does not matter"
)]
pub(crate) enum Pre {
    StackTemplate(stack_template::StackTemplatePre<CallState>),
    BuildStrategy(build_strategy::BuildStrategyPre<CallState>),
    BillingRule(billing_rule::BillingRulePre<CallState>),
    CloudAdapter(cloud_adapter::CloudAdapterPre<CallState>),
    StackTemplateV0_1(v0_1::stack_template::StackTemplatePre<CallState>),
    BuildStrategyV0_1(v0_1::build_strategy::BuildStrategyPre<CallState>),
    BillingRuleV0_1(v0_1::billing_rule::BillingRulePre<CallState>),
    CloudAdapterV0_1(v0_1::cloud_adapter::CloudAdapterPre<CallState>),
}

/// One loaded version of a plugin. Calls in flight keep theirs alive across a reload.
pub(crate) struct Loaded {
    pub pre: Pre,
    pub kind: PluginKind,
    pub contract_version: semver::Version,
    pub sha256: String,
    pub compiled: CompileSource,
    pub loaded_at: SystemTime,
}

/// A loaded plugin. Cheap to clone; clones share state.
///
/// Use [`Plugin::stack_template`] and its siblings to get a typed handle for calls.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

pub(crate) struct PluginInner {
    pub(crate) host: PluginHost,
    name: Arc<str>,
    spec: Mutex<PluginSpec>,
    sandbox: Arc<SandboxSpec>,
    pub(crate) limits: crate::Limits,
    max_failures: u32,
    current: ArcSwap<Loaded>,
    consecutive_failures: AtomicU32,
    pub(crate) calls: AtomicU64,
    failures: AtomicU64,
    disabled: Mutex<Option<String>>,
}

impl PluginInner {
    /// Epoch ticks a guest runs before it yields to the executor (about 10 ms of CPU).
    pub(crate) fn slice_ticks(&self) -> u64 {
        let tick = self.host.inner.epoch_tick.as_nanos().max(1);
        (YIELD_SLICE.as_nanos().div_ceil(tick) as u64).max(1)
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// A snapshot of a plugin's state, for status pages and APIs.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginStatus {
    /// The plugin's name.
    pub name: String,
    /// Its kind.
    pub kind: PluginKind,
    /// The contract version it was built against.
    pub contract_version: String,
    /// The sha256 of the running component.
    pub sha256: String,
    /// When the running version was loaded.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::SystemTimeSchema))]
    pub loaded_at: SystemTime,
    /// Calls since the plugin was first loaded.
    pub calls: u64,
    /// Failed calls (sandbox failures) since the plugin was first loaded.
    pub failures: u64,
    /// Failures in a row, reset by a successful call or a reload.
    pub consecutive_failures: u32,
    /// Why the plugin is disabled, when it is.
    pub disabled: Option<String>,
    /// Times a call's log output (`host.log`, stdout or stderr) went over its budget and was
    /// cut, since the plugin was first loaded.
    pub log_truncations: u64,
}

impl Plugin {
    pub(crate) async fn load(host: PluginHost, spec: PluginSpec) -> Result<Self, LoadError> {
        let loaded = compile(&host, &spec, spec.kind).await?;
        let sandbox = Arc::new(SandboxSpec {
            plugin: spec.name.as_str().into(),
            memory_bytes: spec.limits.memory_bytes,
            log_bytes: spec.limits.log_bytes,
            log_lines: spec.limits.log_lines,
            log_truncations: Arc::default(),
            grants: spec.grants.clone(),
            config: spec.config.clone(),
            secret_config: spec.secret_config.clone(),
        });
        for (path, _) in &spec.grants.read_only_dirs {
            if !path.is_dir() {
                return Err(LoadError::BadGrant {
                    plugin: spec.name.clone(),
                    reason: format!("read-only directory {} does not exist", path.display()),
                });
            }
        }
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                name: sandbox.plugin.clone(),
                sandbox,
                limits: spec.limits.clone(),
                max_failures: spec.failure_policy.max_consecutive_failures,
                current: ArcSwap::from_pointee(loaded),
                consecutive_failures: AtomicU32::new(0),
                calls: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                disabled: Mutex::new(None),
                spec: Mutex::new(spec),
                host,
            }),
        };
        plugin.announce_loaded(false);
        Ok(plugin)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The plugin's kind.
    pub fn kind(&self) -> PluginKind {
        self.inner.current.load().kind
    }

    /// The contract version the running component was built against (0.1.x or 0.2.x).
    pub fn contract_version(&self) -> semver::Version {
        self.inner.current.load().contract_version.clone()
    }

    /// Whether the running component was built against contract 0.1.x (its values are
    /// converted, and the functions 0.2.0 added are not called).
    pub(crate) fn is_v0_1(&self) -> bool {
        let loaded = self.inner.current.load();
        loaded.contract_version.major == 0 && loaded.contract_version.minor == 1
    }

    /// Whether the running component was compiled at load or came from the compile cache.
    pub fn compile_source(&self) -> CompileSource {
        self.inner.current.load().compiled
    }

    /// A snapshot of the plugin's state.
    pub fn status(&self) -> PluginStatus {
        let loaded = self.inner.current.load();
        PluginStatus {
            name: self.name().to_owned(),
            kind: loaded.kind,
            contract_version: loaded.contract_version.to_string(),
            sha256: loaded.sha256.clone(),
            loaded_at: loaded.loaded_at,
            calls: self.inner.calls.load(Ordering::Relaxed),
            failures: self.inner.failures.load(Ordering::Relaxed),
            consecutive_failures: self.inner.consecutive_failures.load(Ordering::Relaxed),
            disabled: lock(&self.inner.disabled).clone(),
            log_truncations: self.inner.sandbox.log_truncations.load(Ordering::Relaxed),
        }
    }

    /// Loads the plugin again from its source (re-reading the file) and swaps it in
    /// atomically. Calls in flight finish on the old version; new calls use the new one. The
    /// failure count is reset and a disabled plugin is enabled again.
    pub async fn reload(&self) -> Result<(), LoadError> {
        let source = lock(&self.inner.spec).source.clone();
        self.reload_from(source).await
    }

    /// Like [`Plugin::reload`], from a new source. The new component must be the same kind.
    pub async fn reload_from(&self, source: PluginSource) -> Result<(), LoadError> {
        let mut spec = lock(&self.inner.spec).clone();
        spec.source = source;
        let loaded = compile(&self.inner.host, &spec, Some(self.kind())).await?;
        self.inner.current.store(Arc::new(loaded));
        *lock(&self.inner.spec) = spec;
        self.inner.consecutive_failures.store(0, Ordering::Relaxed);
        *lock(&self.inner.disabled) = None;
        self.announce_loaded(true);
        Ok(())
    }

    fn announce_loaded(&self, reload: bool) {
        let loaded = self.inner.current.load();
        tracing::info!(
            plugin = %self.inner.name,
            kind = %loaded.kind,
            contract = %loaded.contract_version,
            sha256 = %loaded.sha256,
            compiled = ?loaded.compiled,
            reload,
            "plugin loaded"
        );
        self.emit(PluginEventKind::Loaded {
            kind: loaded.kind,
            contract_version: loaded.contract_version.to_string(),
            sha256: loaded.sha256.clone(),
            compiled: loaded.compiled,
            reload,
            pool_unavailable: self.inner.host.inner.pool_unavailable.clone(),
        });
    }

    fn emit(&self, kind: PluginEventKind) {
        // No subscribers is fine: events are also in the log.
        let _ = self.inner.host.inner.events.send(PluginEvent {
            plugin: self.name().to_owned(),
            kind,
        });
    }

    /// Starts a call: refuses a disabled plugin, then builds a fresh store with the limits.
    pub(crate) fn start_call(
        &self,
        function: &'static str,
        extra_dirs: &[(PathBuf, String)],
    ) -> Result<Call, CallError> {
        if let Some(error) = self.disabled_error() {
            return Err(error);
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let host = &self.inner.host.inner;
        let deadline = Instant::now() + self.inner.limits.timeout;
        let state =
            CallState::new(self.inner.sandbox.clone(), deadline, extra_dirs).map_err(|e| {
                CallError::Host {
                    plugin: self.name().to_owned(),
                    function,
                    message: e.to_string(),
                }
            })?;
        let mut store = Store::new(&host.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Every slice the guest checks in: past the call's deadline it is interrupted (a
        // timeout), otherwise it yields so that a busy guest never starves other tasks.
        let slice = self.inner.slice_ticks();
        store.set_epoch_deadline(slice);
        store.epoch_deadline_callback(move |context| {
            if Instant::now() >= context.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(
                    slice,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        if host.fuel {
            // Fuel is only unavailable when the engine has metering off, which `host.fuel` rules out.
            let _ = store.set_fuel(self.inner.limits.fuel.unwrap_or(u64::MAX));
        }
        Ok(Call {
            plugin: self.clone(),
            function,
            loaded: self.inner.current.load_full(),
            store,
            _in_flight: host.ticker.enter(),
        })
    }

    pub(crate) fn disabled_error(&self) -> Option<CallError> {
        lock(&self.inner.disabled)
            .clone()
            .map(|last_error| CallError::Disabled {
                plugin: self.name().to_owned(),
                failures: self.inner.consecutive_failures.load(Ordering::Relaxed),
                last_error,
            })
    }

    pub(crate) fn record_success(&self) {
        self.inner.consecutive_failures.store(0, Ordering::Relaxed);
    }

    pub(crate) fn record_failure(&self, function: &'static str, error: &CallError) {
        self.inner.failures.fetch_add(1, Ordering::Relaxed);
        let consecutive = self
            .inner
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        tracing::warn!(plugin = %self.inner.name, function, code = error.code(), consecutive, "plugin call failed: {error}");
        self.emit(PluginEventKind::CallFailed {
            function,
            error: error.clone(),
            consecutive_failures: consecutive,
        });
        let max = self.inner.max_failures;
        if max > 0 && consecutive >= max {
            let mut disabled = lock(&self.inner.disabled);
            if disabled.is_none() {
                *disabled = Some(error.to_string());
                drop(disabled);
                tracing::error!(plugin = %self.inner.name, failures = consecutive, "plugin disabled by its failure policy");
                self.emit(PluginEventKind::Disabled {
                    failures: consecutive,
                    last_error: error.to_string(),
                });
            }
        }
    }
}

/// Reads, compiles (or loads from the cache), checks and links a component.
async fn compile(
    host: &PluginHost,
    spec: &PluginSpec,
    expected: Option<PluginKind>,
) -> Result<Loaded, LoadError> {
    let plugin = spec.name.clone();
    let bytes: Arc<[u8]> = match &spec.source {
        PluginSource::Bytes(bytes) => bytes.clone(),
        PluginSource::File(path) => tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                plugin: plugin.clone(),
                path: path.clone(),
                source,
            })?
            .into(),
    };
    let host = host.clone();
    // Compiling is CPU-bound and can take a second: keep it off the async workers. What the
    // compiler freed is handed back to the OS at once (`memory`).
    tokio::task::spawn_blocking(move || {
        let loaded = compile_blocking(&host, plugin, &bytes, expected);
        drop(bytes);
        if host.inner.release_memory {
            crate::memory::release_free_memory();
        }
        loaded
    })
    .await
    .map_err(|e| LoadError::Compile {
        plugin: spec.name.clone(),
        reason: format!("compilation task failed: {e}"),
    })?
}

fn compile_blocking(
    host: &PluginHost,
    plugin: String,
    bytes: &[u8],
    expected: Option<PluginKind>,
) -> Result<Loaded, LoadError> {
    let engine = &host.inner.engine;
    let compile_error = |e: wasmtime::Error| {
        let reason = format!("{e:#}");
        if host.inner.pooling && crate::error::is_pool_limit(&reason) {
            LoadError::PoolLimit {
                plugin: plugin.clone(),
                reason,
            }
        } else {
            LoadError::Compile {
                plugin: plugin.clone(),
                reason,
            }
        }
    };
    let sha256 = sha256_hex(bytes);
    let (component, compiled) = match &host.inner.cache {
        Some(cache) => {
            let worker = host.inner.compile_worker.as_ref().map(|(w, s)| (w, *s));
            cache
                .load(engine, bytes, &sha256, worker)
                .map_err(compile_error)?
        }
        None => (
            Component::new(engine, bytes).map_err(compile_error)?,
            CompileSource::Compiled,
        ),
    };
    let ty = component.component_type();
    let info = contract::check(&plugin, ty.exports(engine).map(|(name, _)| name))?;
    if let Some(expected) = expected
        && expected != info.kind
    {
        return Err(LoadError::KindMismatch {
            plugin,
            expected,
            found: info.kind,
        });
    }
    let link_error = |e: wasmtime::Error| LoadError::Link {
        plugin: plugin.clone(),
        kind: info.kind,
        reason: format!("{e:#}"),
    };
    let instance_pre = host
        .inner
        .linker(info.kind)
        .instantiate_pre(&component)
        .map_err(link_error)?;
    let v0_1 = info.version.major == 0 && info.version.minor == 1;
    let pre = match (info.kind, v0_1) {
        (PluginKind::StackTemplate, false) => Pre::StackTemplate(
            stack_template::StackTemplatePre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::BuildStrategy, false) => Pre::BuildStrategy(
            build_strategy::BuildStrategyPre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::BillingRule, false) => {
            Pre::BillingRule(billing_rule::BillingRulePre::new(instance_pre).map_err(link_error)?)
        }
        (PluginKind::CloudAdapter, false) => Pre::CloudAdapter(
            cloud_adapter::CloudAdapterPre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::StackTemplate, true) => Pre::StackTemplateV0_1(
            v0_1::stack_template::StackTemplatePre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::BuildStrategy, true) => Pre::BuildStrategyV0_1(
            v0_1::build_strategy::BuildStrategyPre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::BillingRule, true) => Pre::BillingRuleV0_1(
            v0_1::billing_rule::BillingRulePre::new(instance_pre).map_err(link_error)?,
        ),
        (PluginKind::CloudAdapter, true) => Pre::CloudAdapterV0_1(
            v0_1::cloud_adapter::CloudAdapterPre::new(instance_pre).map_err(link_error)?,
        ),
    };
    Ok(Loaded {
        pre,
        kind: info.kind,
        contract_version: info.version,
        sha256,
        compiled,
        loaded_at: SystemTime::now(),
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
