//! The build context as a tar stream: the context directory of the clone, written entry by
//! entry into a pipe that Docker reads as it goes (no copy of the tree is staged), plus the
//! plan's Dockerfile under a name of the engine's ([`stream`]); or a builder step's output,
//! read from its container and rewritten on the fly ([`from_archive`]).
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

/// Whether the context of `dir` keeps the engine's Dockerfile out of the image: it does when
/// the tree has no `.dockerignore` of its own, for then [`stream`] adds one that names the
/// Dockerfile and itself, and Docker's builder removes both from the context before any
/// `COPY` (a tree's own `.dockerignore` is sent as it is, and the Dockerfile stays in the
/// context). When it is kept out, the Dockerfile's text may change from build to build (the
/// build's id in its `LABEL`) without touching the cache of a `COPY . /`.
pub(crate) fn hides_dockerfile(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(".dockerignore")).is_err()
}

/// Streams `dir` as a tar, with `dockerfile` added as [`DOCKERFILE_NAME`] when given (a
/// builder step's context has none), and the `.dockerignore` that hides it when the tree has
/// none ([`hides_dockerfile`]). The archive is written on a blocking thread; an I/O error ends
/// the stream with that error.
pub(crate) fn stream(
    dir: PathBuf,
    dockerfile: Option<String>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    spawn_archive(move |writer| write_archive(&dir, dockerfile.as_deref(), writer))
}

/// The most a builder step's output may hold, in entries and in bytes of file content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputLimits {
    pub max_files: u64,
    pub max_bytes: u64,
}

/// The build context made from a builder step's output: `archive` is what Docker's archive
/// endpoint sends for the output directory (every entry under one first component, the
/// directory's name), rewritten on the fly with that component stripped, metadata normalised
/// as [`stream`] does, and `dockerfile` added with a `.dockerignore` that keeps the engine's
/// two files out of the image (`COPY . /` copies the output alone). Device files and FIFOs are
/// left out. Nothing is written to the engine's disk: whatever the step put in its output
/// (links pointing anywhere) is data in a tar that only Docker's builder unpacks.
pub(crate) fn from_archive<S>(
    archive: S,
    dockerfile: String,
    limits: OutputLimits,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut archive = std::pin::pin!(archive);
        while let Some(item) = archive.next().await {
            if in_tx.send(item).await.is_err() {
                return;
            }
        }
    });
    let reader = ChannelReader {
        rx: in_rx,
        current: Bytes::new(),
    };
    spawn_archive(move |writer| rewrite_output(reader, &dockerfile, limits, writer))
}

/// Runs `write` on a blocking thread with a writer whose chunks are the returned stream.
fn spawn_archive<F>(write: F) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    F: FnOnce(ChunkWriter) -> std::io::Result<()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let writer = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(error) = write(writer) {
            // The receiver may be gone (a cancelled build): nothing more to tell.
            let _ = tx.blocking_send(Err(error));
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn write_archive(dir: &Path, dockerfile: Option<&str>, writer: ChunkWriter) -> std::io::Result<()> {
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
    if let Some(dockerfile) = dockerfile {
        if hides_dockerfile(dir) {
            append_engine_files(&mut tar, dockerfile)?;
        } else {
            append_file(&mut tar, DOCKERFILE_NAME, dockerfile)?;
        }
    }
    finish(tar)
}

/// A small file of the engine's, with the deterministic metadata.
fn append_file(tar: &mut tar::Builder<ChunkWriter>, name: &str, text: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, text.as_bytes())
}

fn finish(tar: tar::Builder<ChunkWriter>) -> std::io::Result<()> {
    let mut writer = tar.into_inner()?;
    writer.flush()
}

/// See [`from_archive`].
fn rewrite_output(
    reader: ChannelReader,
    dockerfile: &str,
    limits: OutputLimits,
    writer: ChunkWriter,
) -> std::io::Result<()> {
    use std::path::Component;
    let too_large = |what: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the builder's output is too large: {what}"),
        )
    };
    // The path below the output directory, when it is a plain relative one.
    let strip = |path: &Path| -> Option<PathBuf> {
        let mut parts = path.components();
        let _output_dir = parts.next()?;
        let rest: PathBuf = parts.as_path().to_path_buf();
        let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
        (plain && !rest.as_os_str().is_empty()).then_some(rest)
    };
    let mut archive = tar::Archive::new(reader);
    let mut tar = tar::Builder::new(writer);
    let (mut files, mut bytes) = (0u64, 0u64);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let Some(rel) = strip(&entry.path()?) else {
            continue;
        };
        if rel == Path::new(DOCKERFILE_NAME) || rel == Path::new(".dockerignore") {
            continue;
        }
        files += 1;
        bytes += entry.header().size()?;
        if files > limits.max_files {
            return Err(too_large(format!("over {} entries", limits.max_files)));
        }
        if bytes > limits.max_bytes {
            return Err(too_large(format!("over {} bytes", limits.max_bytes)));
        }
        let kind = entry.header().entry_type();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(entry.header().mode()? & 0o7777);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(entry.header().size()?);
                tar.append_data(&mut header, &rel, &mut entry)?;
            }
            tar::EntryType::Directory => {
                header.set_size(0);
                tar.append_data(&mut header, &rel, std::io::empty())?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                header.set_size(0);
                tar.append_link(&mut header, &rel, target)?;
            }
            tar::EntryType::Link => {
                // A hard link names another entry of the archive: strip it the same way.
                let Some(target) = entry.link_name()?.and_then(|t| strip(&t)) else {
                    continue;
                };
                header.set_size(0);
                tar.append_link(&mut header, &rel, target)?;
            }
            _ => {}
        }
    }
    append_engine_files(&mut tar, dockerfile)?;
    finish(tar)
}

/// The engine's Dockerfile and a `.dockerignore` that makes Docker's builder drop both from
/// the context, so that neither reaches the image nor a `COPY`'s cache key.
fn append_engine_files(
    tar: &mut tar::Builder<ChunkWriter>,
    dockerfile: &str,
) -> std::io::Result<()> {
    append_file(tar, DOCKERFILE_NAME, dockerfile)?;
    append_file(
        tar,
        ".dockerignore",
        &format!("{DOCKERFILE_NAME}\n.dockerignore\n"),
    )
}

/// A blocking `Read` over chunks arriving on a channel (Docker's archive, read by `tar` on a
/// blocking thread).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// `dockerfile` with one `LABEL` instruction appended that sets every label in `labels` on
/// the final stage (in key order, so the same labels give the same text).
///
/// Docker's classic builder turns each label of a build request into a step of its own, an
/// intermediate container and a commit each (about 80-100 ms apiece here): six labels were
/// half a second of every build. One instruction is one step. Values are quoted with the
/// Dockerfile's escape character (`\` unless an `# escape=` directive says otherwise), so a
/// `"`, `$` or the escape character in a value stays literal.
pub(crate) fn with_labels<'a>(
    dockerfile: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut labels: Vec<_> = labels.into_iter().collect();
    if labels.is_empty() {
        return dockerfile.to_owned();
    }
    labels.sort_unstable();
    let escape = escape_char(dockerfile);
    let quote = |text: &str| {
        let mut quoted = String::with_capacity(text.len() + 2);
        quoted.push('"');
        for c in text.chars() {
            match c {
                '\n' | '\r' => quoted.push(' '),
                c if c == '"' || c == '$' || c == escape => {
                    quoted.push(escape);
                    quoted.push(c);
                }
                c => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    };
    let mut out = dockerfile.trim_end().to_owned();
    out.push_str("\nLABEL");
    for (key, value) in labels {
        out.push(' ');
        out.push_str(&quote(key));
        out.push('=');
        out.push_str(&quote(value));
    }
    out.push('\n');
    out
}

/// The escape character a Dockerfile's parser directives set (`\` by default). Directives
/// are the `# key=value` comments before anything else.
fn escape_char(dockerfile: &str) -> char {
    for line in dockerfile.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            return match value.trim() {
                "`" => '`',
                _ => '\\',
            };
        }
    }
    '\\'
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

    #[test]
    fn labels_are_one_instruction_quoted_with_the_escape_character() {
        let labels = [
            ("dev.windlass.org", "acme"),
            ("b", r#"say "hi" to $USER \ o/"#),
        ];
        assert_eq!(
            with_labels("FROM scratch\nCMD [\"x\"]\n\n", labels),
            "FROM scratch\nCMD [\"x\"]\nLABEL \"b\"=\"say \\\"hi\\\" to \\$USER \\\\ o/\" \"dev.windlass.org\"=\"acme\"\n"
        );
        assert_eq!(
            with_labels("# escape=`\nFROM scratch", [("k", "a\"`b")]),
            "# escape=`\nFROM scratch\nLABEL \"k\"=\"a`\"``b\"\n"
        );
        assert_eq!(with_labels("FROM scratch\n", []), "FROM scratch\n");
    }

    #[tokio::test]
    async fn the_context_is_the_tree_without_git_plus_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("www")).unwrap();
        std::fs::write(dir.path().join("www/index.html"), "hello").unwrap();
        std::os::unix::fs::symlink("www/index.html", dir.path().join("link")).unwrap();
        let read = |dir: PathBuf| async move {
            let chunks: Vec<_> = stream(dir, Some("FROM scratch\n".into())).collect().await;
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
        // No `.dockerignore` of the tree's: the engine's hides its Dockerfile.
        assert!(hides_dockerfile(dir.path()));
        assert_eq!(
            names,
            [
                "link",
                "www",
                "www/index.html",
                DOCKERFILE_NAME,
                ".dockerignore"
            ],
            "{names:?}"
        );
        // The same tree gives the same bytes: Docker's cache sees an unchanged context.
        assert_eq!(read(dir.path().to_path_buf()).await, bytes);
        // A tree with its own `.dockerignore` keeps it, and the Dockerfile stays visible.
        std::fs::write(dir.path().join(".dockerignore"), "www/\n").unwrap();
        assert!(!hides_dockerfile(dir.path()));
        let bytes = read(dir.path().to_path_buf()).await;
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entries: Vec<(String, String)> = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            entries.push((e.path().unwrap().display().to_string(), body));
        }
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "link",
                "www",
                "www/index.html",
                DOCKERFILE_NAME
            ]
        );
        assert_eq!(entries[0].1, "www/\n");
    }

    /// An archive as Docker's endpoint sends it for `/out`: everything under `out/`.
    fn docker_archive() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, link: Option<&str>, body: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(if kind == tar::EntryType::Directory {
                0o555
            } else {
                0o755
            });
            header.set_mtime(1_700_000_000);
            header.set_size(body.len() as u64);
            if let Some(link) = link {
                tar.append_link(&mut header, path, link).unwrap();
            } else {
                tar.append_data(&mut header, path, body).unwrap();
            }
        };
        add("out/", tar::EntryType::Directory, None, b"");
        add(
            "out/nix/store/abc-site/",
            tar::EntryType::Directory,
            None,
            b"",
        );
        add(
            "out/nix/store/abc-site/bin/start",
            tar::EntryType::Regular,
            None,
            b"#!/bin/sh\n",
        );
        add(
            "out/result",
            tar::EntryType::Symlink,
            Some("/nix/store/abc-site"),
            b"",
        );
        add(
            "out/again",
            tar::EntryType::Link,
            Some("out/nix/store/abc-site/bin/start"),
            b"",
        );
        add("out/.dockerignore", tar::EntryType::Regular, None, b"*\n");
        // `tar` refuses to write `..`; a hostile step's archive could hold one anyway.
        let mut header = tar::Header::new_old();
        let name = b"out/../escape";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(1);
        header.set_cksum();
        tar.append(&header, &b"x"[..]).unwrap();
        tar.into_inner().unwrap()
    }

    async fn rewrite(archive: Vec<u8>, limits: OutputLimits) -> Result<Vec<u8>, std::io::Error> {
        let chunks = archive
            .chunks(100)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>();
        let out: Vec<_> = from_archive(
            futures::stream::iter(chunks),
            "FROM scratch\n".into(),
            limits,
        )
        .collect()
        .await;
        let mut bytes = Vec::new();
        for chunk in out {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    }

    #[tokio::test]
    async fn a_builder_output_becomes_a_context_with_its_directory_stripped() {
        let limits = OutputLimits {
            max_files: 100,
            max_bytes: 1 << 20,
        };
        let bytes = rewrite(docker_archive(), limits).await.unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            assert_eq!(entry.header().mtime().unwrap(), 0, "{path}");
            seen.push((path, link));
        }
        let paths: Vec<(&str, Option<&str>)> = seen
            .iter()
            .map(|(p, l)| (p.as_str(), l.as_deref()))
            .collect();
        assert_eq!(
            paths,
            [
                ("nix/store/abc-site", None),
                ("nix/store/abc-site/bin/start", None),
                ("result", Some("/nix/store/abc-site")),
                ("again", Some("nix/store/abc-site/bin/start")),
                (DOCKERFILE_NAME, None),
                (".dockerignore", None),
            ],
            "the output's own .dockerignore and the `..` entry are left out"
        );

        let small = OutputLimits {
            max_files: 2,
            max_bytes: 1 << 20,
        };
        let error = rewrite(docker_archive(), small).await.unwrap_err();
        assert!(error.to_string().contains("output is too large"), "{error}");
    }
}
