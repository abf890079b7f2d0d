//! The build context as a tar stream: the context directory of the clone, written entry by
//! entry into a pipe that Docker reads as it goes (no copy of the tree is staged), plus the
//! plan's Dockerfile under a name of the engine's.
//!
//! Entries are written in a stable order with normalised metadata (`tar`'s deterministic
//! mode: fixed mtime, owner root, modes 644/755), so an unchanged tree gives Docker's layer
//! cache the same context and a rebuild reuses every layer. `.git` is left out. Symlinks are
//! archived as links, never followed (the tree was checked: none leaves it).

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::Stream;

/// The name the plan's Dockerfile gets in the context.
pub(crate) const DOCKERFILE_NAME: &str = ".windlass.Dockerfile";

/// How much the writer buffers before handing a chunk to the stream.
const CHUNK: usize = 256 * 1024;

/// Streams `dir` as a tar with `dockerfile` added as [`DOCKERFILE_NAME`]. The archive is
/// written on a blocking thread; an I/O error ends the stream with that error.
pub(crate) fn stream(
    dir: PathBuf,
    dockerfile: String,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let writer = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(error) = write_archive(&dir, &dockerfile, writer) {
            // The receiver may be gone (a cancelled build): nothing more to tell.
            let _ = tx.blocking_send(Err(error));
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn write_archive(dir: &Path, dockerfile: &str, writer: ChunkWriter) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(writer);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != DOCKERFILE_NAME);
    for entry in walker {
        let entry = entry.map_err(std::io::Error::from)?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        tar.append_path_with_name(entry.path(), rel)?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, DOCKERFILE_NAME, dockerfile.as_bytes())?;
    let mut writer = tar.into_inner()?;
    writer.flush()?;
    Ok(())
}

/// A `Write` that sends what it is given, in chunks, down a channel.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the build stopped reading")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn the_context_is_the_tree_without_git_plus_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("www/index.html"), "hello").unwrap();
        std::os::unix::fs::symlink("www/index.html", dir.path().join("link")).unwrap();
        let read = |dir: PathBuf| async move {
            let chunks: Vec<_> = stream(dir, "FROM scratch\n".into()).collect().await;
            let bytes: Vec<u8> = chunks
                .into_iter()
                .flat_map(|c| c.unwrap().to_vec())
                .collect();
            bytes
        };
        let bytes = read(dir.path().to_path_buf()).await;
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["link", "www", "www/index.html", DOCKERFILE_NAME],
            "{names:?}"
        );
        // The same tree gives the same bytes: Docker's cache sees an unchanged context.
        assert_eq!(read(dir.path().to_path_buf()).await, bytes);
    }
}
