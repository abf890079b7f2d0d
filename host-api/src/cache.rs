//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes hundreds of milliseconds; loading its compiled
//! form takes well under one. Entries are keyed by the sha256 of the component bytes and by the
//! engine's compatibility hash (wasmtime version, target, compiler settings), so a changed
//! plugin or a changed engine never reads a stale entry. Writes go to a temporary file that is
//! renamed into place, so a crash never leaves a half-written entry under a real name.
//!
//! Compiled code is loaded without re-validation, which is the point of the cache, so whoever
//! can write an entry runs native code inside the engine. The cache therefore trusts only
//! what the engine's user alone can write: the directory is created with mode 0700 and
//! entries with 0600; a directory another user owns or that its group or others may write is
//! refused when the host is built (the error names the path and its mode), and an entry like
//! that is never loaded: it is reported, removed and compiled afresh.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::worker::{CompileWorker, EngineSettings, WorkerOutcome};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

/// How a component was obtained, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Compiled now with Cranelift.
    Compiled,
    /// Loaded from the on-disk compile cache.
    Cache,
    /// Compiled now in a compile worker process, then loaded from the cache entry it wrote
    /// (`PluginHostBuilder::with_compile_worker`).
    Worker,
}

impl CompileSource {
    /// Whether the component was compiled for this load (in process or in a worker).
    pub fn compiled_now(self) -> bool {
        !matches!(self, Self::Cache)
    }
}

/// Why a path of the cache is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Untrusted {
    /// Its group or others may write it.
    #[error("{path} has mode {mode:04o}: its group or others may write it; `chmod go-w` it")]
    Writable {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns it.
    #[error("{path} (mode {mode:04o}) is owned by uid {owner}, not by the engine's uid {me}")]
    Owner {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner.
        owner: u32,
        /// The engine's effective uid.
        me: u32,
    },
    /// Its metadata cannot be read.
    #[error("cannot check {path}: {error}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        error: String,
    },
}

/// Checks that only the engine's user can write `path` (and, on Unix, that it owns it).
#[cfg(unix)]
pub(crate) fn check_trusted(path: &Path) -> Result<(), Untrusted> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::symlink_metadata(path).map_err(|e| Untrusted::Unreadable {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    let mode = meta.mode() & 0o7777;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(Untrusted::Owner {
            path: path.to_owned(),
            mode,
            owner: meta.uid(),
            me,
        });
    }
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_trusted(_path: &Path) -> Result<(), Untrusted> {
    Ok(())
}

impl CompileCache {
    /// The cache in `dir`, created with mode 0700 when missing; refused when it is not
    /// trusted ([`check_trusted`]).
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Result<Self, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        check_trusted(&dir).map_err(|e| format!("refusing to load compiled code: {e}"))?;
        // SipHash with its fixed default keys: stable for a given build of the engine, which
        // is exactly the lifetime a compiled artifact is valid for.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the compiled form of `bytes`, compiling and storing it on a miss or a bad entry:
    /// in a worker process when there is one, otherwise (or when the worker fails) here.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
        worker: Option<(&CompileWorker, EngineSettings)>,
    ) -> wasmtime::Result<(Component, CompileSource)> {
        let path = self.entry(sha256);
        // An entry someone else could have written is never loaded: it may be any native code.
        if path.exists()
            && let Err(untrusted) = check_trusted(&path)
        {
            tracing::warn!(path = %path.display(), error = %untrusted, "refusing an untrusted compile cache entry; compiling afresh");
            let _ = std::fs::remove_file(&path);
        }
        if path.exists() {
            // SAFETY: entries are written only by `store` below (or by a compile worker, which
            // runs the same code) from `Component::serialize`, into a directory only the
            // engine's user may write (checked when the cache was made), the entry itself was
            // just checked the same way, and the engine key in the name guarantees the entry
            // was produced by a compatible engine.
            match unsafe { load_snapshot(engine, &path) } {
                Ok(component) => return Ok((component, CompileSource::Cache)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "discarding unreadable compile cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if let Some((worker, settings)) = worker {
            match worker.compile(settings, &self.dir, bytes) {
                WorkerOutcome::Written => {
                    // SAFETY: as above; the worker runs `store` with an engine of the same
                    // settings, and an incompatible entry is refused by wasmtime.
                    match unsafe { load_snapshot(engine, &path) } {
                        Ok(component) => return Ok((component, CompileSource::Worker)),
                        Err(error) => {
                            tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "the compile worker's entry does not load; compiling in process");
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                WorkerOutcome::CompileError(reason) => return Err(wasmtime::Error::msg(reason)),
                WorkerOutcome::Failed(why) => {
                    tracing::warn!(reason = %why, "compile worker failed; compiling in process");
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = self.store(sha256, &component) {
            tracing::warn!(path = %path.display(), %error, "could not write compile cache entry");
        }
        Ok((component, CompileSource::Compiled))
    }

    /// Writes the entry of the component whose bytes hash to `sha256`: a temporary file,
    /// renamed into place.
    pub(crate) fn store(&self, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let path = &self.entry(sha256);
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&tmp)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &serialized));
        if let Err(error) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(error.into());
        }
        Ok(())
    }
}

/// Loads a compiled component from a private snapshot of the entry at `path`, memory-mapped.
///
/// Mapped, the compiled code is file-backed: only the pages a call runs become resident, and
/// the kernel may drop them again (an 18 MB Python component compiles to 35 MB of which a
/// render touches a fraction). Mapping the entry itself would let anyone who rewrites it in
/// place (`echo > entry`) kill the process with SIGBUS the next time a truncated page is
/// touched, so the entry is first copied (in the kernel, `copy_file_range`; a reflink where the
/// file system has them) into an unnamed file in the same directory (`O_TMPFILE`) that nobody
/// else can open, and that one is mapped. Where that is not possible the entry is read into
/// memory instead, as before.
///
/// # Safety
///
/// The entry must have been written by [`Component::serialize`] of a compatible engine; see
/// [`Component::deserialize_file`].
unsafe fn load_snapshot(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut entry = std::fs::File::open(path)?;
        match tempfile::tempfile_in(dir) {
            Ok(mut snapshot) => {
                std::io::copy(&mut entry, &mut snapshot)?;
                drop(entry);
                let fd_path = format!("/proc/self/fd/{}", snapshot.as_raw_fd());
                // SAFETY: as for this function; nobody else holds the snapshot.
                let component = unsafe { Component::deserialize_file(engine, &fd_path) };
                // wasmtime opened its own descriptor; ours can go.
                drop(snapshot);
                return component;
            }
            Err(error) => {
                tracing::debug!(dir = %dir.display(), %error, "no unnamed snapshot file; reading the compile cache entry into memory");
            }
        }
    }
    let serialized = std::fs::read(path)?;
    // SAFETY: as for this function.
    unsafe { Component::deserialize(engine, &serialized) }
}

/// The lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
