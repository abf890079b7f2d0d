//! The sandbox of one call: the store's data, the limiter, the WASI context (deny by default)
//! and the host interface.
//!
//! Every call gets a fresh [`CallState`]: nothing a guest does in one call survives into the
//! next, and a trapped instance is simply dropped with its store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::host::{self, LogLevel};
use crate::guest_log::{LogBudget, escape};
use crate::spec::Grants;
use crate::stdio::{GuestOutput, Stream};

/// The parts of a plugin's spec every call needs, shared between calls.
#[derive(Debug)]
pub(crate) struct SandboxSpec {
    pub plugin: Arc<str>,
    pub memory_bytes: u64,
    /// The per-call log budget of each channel (`host.log`, stdout, stderr).
    pub log_bytes: u64,
    pub log_lines: u64,
    /// Calls whose log output was truncated, over the plugin's life.
    pub log_truncations: Arc<AtomicU64>,
    pub grants: Grants,
    /// Sorted by key, as `config-all` promises.
    pub config: BTreeMap<String, String>,
    /// Secret values, read at each call (so a rotated value reaches the next call).
    pub secret_config: crate::SecretConfig,
}

/// Bytes a table element is counted as in the memory budget: wasmtime keeps one pointer per
/// element.
pub(crate) const TABLE_ELEMENT_BYTES: u64 = 8;

/// Elements one table may grow to, on either allocator (the pooling allocator's table slots
/// are this size). Beyond it `table.grow` fails (returns -1) as the core spec allows.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// One memory budget for the whole instance, which remembers being exceeded so the error can
/// say so precisely.
///
/// wasmtime asks the store's limiter before creating or growing *any* linear memory or table
/// of *any* core instance inside the component, with that memory's current and desired size.
/// The limiter keeps the sum over all of them, so a component of four modules with a memory
/// each, or one module with four memories, has the same budget as a component with one: the
/// plugin's `memory_bytes`. This holds with the pooling allocator and without it, since the
/// limiter belongs to the store, not to the allocator.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: u64,
    /// Bytes of every memory and table of the instance, as granted so far.
    used: u64,
    /// The total the guest asked for when it went over the budget.
    pub hit: Option<u64>,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        Self {
            memory_bytes,
            used: 0,
            hit: None,
        }
    }

    /// Grants growing one memory or table from `current` to `desired` bytes, or traps.
    fn grow(&mut self, current: u64, desired: u64) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.memory_bytes {
            self.hit = Some(total);
            // Trap at once rather than report a failed grow: a guest that ignores the failure
            // would otherwise fail later with a less precise error.
            wasmtime::bail!(
                "memory budget of {} bytes exceeded: the instance's memories and tables would \
                 total {total} bytes",
                self.memory_bytes
            );
        }
        self.used = total;
        Ok(true)
    }

    /// Bytes of every memory and table of the instance so far.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current as u64, desired as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.grow(
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        )
    }

    fn instances(&self) -> usize {
        // A component holds at most this many core instances (see the pooling configuration).
        crate::host::MAX_CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        crate::host::MAX_MEMORIES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        crate::host::MAX_TABLES_PER_COMPONENT as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_the_sum_of_every_memory_and_table() {
        let mut limiter = Limiter::new(100);
        // Four memories of 20 bytes: 80 of 100.
        for _ in 0..4 {
            assert!(limiter.grow(0, 20).unwrap());
        }
        assert_eq!(limiter.used(), 80);
        // Growing one of them from 20 to 40 would make 100: allowed, exactly the budget.
        assert!(limiter.grow(20, 40).unwrap());
        // One more byte anywhere is refused, with the total asked for.
        assert!(limiter.grow(0, 1).is_err());
        assert_eq!(limiter.hit, Some(101));
        // Tables count at eight bytes an element.
        let mut limiter = Limiter::new(100);
        assert!(limiter.table_growing(0, 12, None).unwrap());
        assert!(limiter.table_growing(12, 13, None).is_err());
        // A table past its element cap fails to grow, without trapping.
        let mut limiter = Limiter::new(u64::MAX);
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
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
        if let Some(socket) = self.grants.unix_socket(&host) {
            if uri.scheme_str() != Some("http") {
                let message = format!(
                    "windlass: `{host}` is a Unix socket granted to plugin `{}`: address it as \
                     http://{host}/… (TLS is not spoken over a local socket)",
                    self.plugin
                );
                return Box::new(async move {
                    Err(wasmtime_wasi_http::Error::InternalError(Some(message)))
                });
            }
            tracing::debug!(plugin = %self.plugin, uri = %uri, socket = %socket.display(), "outbound HTTP request over a Unix socket");
            let socket = socket.to_owned();
            return Box::new(crate::unix_http::send(socket, request, options));
        }
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
    /// What `host.log` may still write in this call.
    pub log: LogBudget,
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
        let budget = |channel| {
            LogBudget::new(
                spec.plugin.clone(),
                channel,
                spec.log_bytes,
                spec.log_lines,
                spec.log_truncations.clone(),
            )
        };
        let stdout = GuestOutput::new(spec.plugin.clone(), Stream::Stdout, budget("stdout"));
        let stderr = GuestOutput::new(spec.plugin.clone(), Stream::Stderr, budget("stderr"));
        let log = budget("host.log");
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
            limiter: Limiter::new(spec.memory_bytes),
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
            log,
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
        // The budget is checked before anything is formatted: a flood costs the guest its own
        // time, not the host's.
        if !self.log.take(message.len()) {
            return Ok(());
        }
        let plugin = &*self.spec.plugin;
        let text = escape(&message);
        match level {
            LogLevel::Trace => {
                tracing::trace!(target: "windlass::plugin", plugin = %plugin, text = %text, "plugin log")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "windlass::plugin", plugin = %plugin, text = %text, "plugin log")
            }
            LogLevel::Info => {
                tracing::info!(target: "windlass::plugin", plugin = %plugin, text = %text, "plugin log")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "windlass::plugin", plugin = %plugin, text = %text, "plugin log")
            }
            LogLevel::Error => {
                tracing::error!(target: "windlass::plugin", plugin = %plugin, text = %text, "plugin log")
            }
        }
        Ok(())
    }

    fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .overlay
            .get(&key)
            .cloned()
            .or_else(|| self.spec.secret_config.expose(&key))
            .or_else(|| self.spec.config.get(&key).cloned()))
    }

    fn config_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let mut all = self.spec.config.clone();
        all.extend(self.spec.secret_config.expose_all());
        all.extend(self.overlay.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(all.into_iter().collect())
    }
}

impl crate::bindings::types::Host for CallState {}

/// The 0.1.0 `host` interface: the same functions as 0.2.0's.
impl crate::bindings::v0_1::stack_template::windlass::plugin::host::Host for CallState {
    fn log(
        &mut self,
        level: crate::bindings::v0_1::stack_template::windlass::plugin::host::LogLevel,
        message: String,
    ) -> wasmtime::Result<()> {
        use crate::bindings::v0_1::stack_template::windlass::plugin::host::LogLevel as V1;
        let level = match level {
            V1::Trace => LogLevel::Trace,
            V1::Debug => LogLevel::Debug,
            V1::Info => LogLevel::Info,
            V1::Warn => LogLevel::Warn,
            V1::Error => LogLevel::Error,
        };
        host::Host::log(self, level, message)
    }

    fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        host::Host::config_get(self, key)
    }

    fn config_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        host::Host::config_all(self)
    }
}

impl crate::bindings::v0_1::stack_template::windlass::plugin::types::Host for CallState {}
