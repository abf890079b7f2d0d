//! The sandbox of one call: the store's data, the limiter, the WASI context (deny by default)
//! and the host interface.
//!
//! Every call gets a fresh [`CallState`]: nothing a guest does in one call survives into the
//! next, and a trapped instance is simply dropped with its store.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::host::{self, LogLevel};
use crate::spec::Grants;
use crate::stdio::{GuestOutput, Stream};

/// The parts of a plugin's spec every call needs, shared between calls.
#[derive(Debug)]
pub(crate) struct SandboxSpec {
    pub plugin: Arc<str>,
    pub memory_bytes: u64,
    pub grants: Grants,
    /// Sorted by key, as `config-all` promises.
    pub config: BTreeMap<String, String>,
}

/// A memory cap that remembers being hit, so the error can say so precisely.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: u64,
    pub hit: Option<u64>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_bytes {
            self.hit = Some(desired as u64);
            // Trap at once rather than report a failed grow: a guest that ignores the failure
            // would otherwise fail later with a less precise error.
            wasmtime::bail!("memory cap of {} bytes exceeded", self.memory_bytes);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Records the HTTP requests the grants refused during a call.
#[derive(Debug)]
pub(crate) struct HttpHooks {
    plugin: Arc<str>,
    grants: Grants,
    pub denied: Vec<String>,
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        if !self.grants.allows_authority(&host, port) {
            let authority = match port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            tracing::warn!(plugin = %self.plugin, host = %authority, "outbound HTTP request denied: host not granted");
            let message = format!(
                "windlass: plugin `{}` may not reach `{authority}`: not in grants.outbound_hosts (add \"{authority}\" to allow it)",
                self.plugin
            );
            self.denied.push(authority);
            return Box::new(async move {
                Err(wasmtime_wasi_http::Error::InternalError(Some(message)))
            });
        }
        tracing::debug!(plugin = %self.plugin, uri = %uri, "outbound HTTP request");
        // Granted: hand over to wasmtime's own client.
        let mut default = DefaultHooks;
        default.send_request(request, options, fut)
    }
}

/// wasmtime's default hooks, for the default `send_request`.
struct DefaultHooks;
impl WasiHttpHooks for DefaultHooks {}

/// The data of one call's store.
pub(crate) struct CallState {
    pub spec: Arc<SandboxSpec>,
    /// When the current call must have finished.
    pub deadline: std::time::Instant,
    pub limiter: Limiter,
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: HttpHooks,
    pub stdout: GuestOutput,
    pub stderr: GuestOutput,
    /// Values the caller sets for this call only, answered before the plugin's own config
    /// (e.g. an organisation's quota limits for a billing rule).
    pub overlay: BTreeMap<String, String>,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("plugin", &self.spec.plugin)
            .finish_non_exhaustive()
    }
}

impl CallState {
    /// A fresh sandbox: no environment, no arguments, no sockets, no files except the granted
    /// read-only directories and any `extra_dirs` this call mounts.
    pub(crate) fn new(
        spec: Arc<SandboxSpec>,
        deadline: std::time::Instant,
        extra_dirs: &[(std::path::PathBuf, String)],
    ) -> std::io::Result<Self> {
        let stdout = GuestOutput::new(spec.plugin.clone(), Stream::Stdout);
        let stderr = GuestOutput::new(spec.plugin.clone(), Stream::Stderr);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (host_path, guest_path) in spec.grants.read_only_dirs.iter().chain(extra_dirs) {
            wasi.preopened_dir(host_path, guest_path, wasmtime_wasi::FsPerms::ReadOnly)
                .map_err(|e| {
                    std::io::Error::other(format!("cannot mount {}: {e}", host_path.display()))
                })?;
        }
        Ok(Self {
            deadline,
            limiter: Limiter {
                memory_bytes: spec.memory_bytes,
                hit: None,
            },
            hooks: HttpHooks {
                plugin: spec.plugin.clone(),
                grants: spec.grants.clone(),
                denied: Vec::new(),
            },
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            stdout,
            stderr,
            overlay: BTreeMap::new(),
            spec,
        })
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let plugin = &*self.spec.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(target: "windlass::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "windlass::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "windlass::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "windlass::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "windlass::plugin", plugin, "{message}"),
        }
        Ok(())
    }

    fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .overlay
            .get(&key)
            .or_else(|| self.spec.config.get(&key))
            .cloned())
    }

    fn config_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let mut all = self.spec.config.clone();
        all.extend(self.overlay.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(all.into_iter().collect())
    }
}

impl crate::bindings::types::Host for CallState {}
