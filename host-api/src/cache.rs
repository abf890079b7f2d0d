//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes hundreds of milliseconds; loading its compiled
//! form takes well under one. Entries are keyed by the sha256 of the component bytes and by the
//! engine's compatibility hash (wasmtime version, target, compiler settings), so a changed
//! plugin or a changed engine never reads a stale entry. Writes go to a temporary file that is
//! renamed into place, so a crash never leaves a half-written entry under a real name.
//!
//! The directory must be writable only by the engine: compiled code is loaded without
//! re-validation, which is the point of the cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
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
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
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

    /// Loads the compiled form of `bytes`, compiling and storing it on a miss or a bad entry.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, CompileSource)> {
        let path = self.entry(sha256);
        // Read into memory rather than map the file: a mapped entry that someone rewrites in
        // place would crash the process with SIGBUS; a copy costs well under a millisecond.
        if let Ok(serialized) = std::fs::read(&path) {
            // SAFETY: entries are written only by `store` below from `Component::serialize`,
            // into a directory the engine owns, and the engine key in the name guarantees the
            // entry was produced by a compatible engine.
            match unsafe { Component::deserialize(engine, &serialized) } {
                Ok(component) => return Ok((component, CompileSource::Cache)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unreadable compile cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "could not write compile cache entry");
        }
        Ok((component, CompileSource::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
        std::fs::write(&tmp, serialized)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// The lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
