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
