//! A private git server over smart HTTP on loopback: `git http-backend` (the CGI program git
//! ships) behind HTTP Basic authentication, for the tests of builds from private
//! repositories. Requests without the right user and token get 401 with a
//! `WWW-Authenticate` challenge, as a forge answers; the counters say how many were refused
//! and accepted.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::io::AsyncWriteExt as _;

/// Where `git http-backend` is on Debian (package `git`).
const BACKEND: &str = "/usr/lib/git-core/git-http-backend";

#[derive(Debug)]
struct Shared {
    base: PathBuf,
    /// The whole `Authorization` value accepted.
    expected: String,
    refused: AtomicU64,
    accepted: AtomicU64,
    /// Milliseconds to wait before answering each request (a slow server).
    delay_ms: AtomicU64,
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct GitHttpServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GitHttpServer {
    /// Serves every repository under `base` to a client that authenticates as `user` with
    /// `token`.
    pub async fn start(base: &Path, user: &str, token: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(BACKEND).exists(),
            "{BACKEND} is missing: apt-get install git (it ships git-http-backend)"
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        let shared = Arc::new(Shared {
            base: base.to_owned(),
            expected: format!("Basic {encoded}"),
            refused: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            delay_ms: AtomicU64::new(0),
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Self { port, shared, task })
    }

    /// The `http://` URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// Waits `delay` before answering each request from now on (a fetch then takes at least
    /// two of them: the reference listing and the pack).
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Requests answered 401 so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Requests authenticated and passed to git so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let authorised = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == shared.expected.as_bytes());
    if !authorised {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        let mut answer = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
        answer.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"windlass-test\""),
        );
        return answer;
    }
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    match cgi(&shared.base, &method, &uri, &headers, body).await {
        Ok(answer) => answer,
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response(),
    }
}

/// Runs `git http-backend` for one request (the CGI environment of RFC 3875 that it reads)
/// and turns its output (CGI headers, a blank line, the body) into the answer.
async fn cgi(
    base: &Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> anyhow::Result<Response> {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = tokio::process::Command::new(BACKEND)
        .env_clear()
        .env("GIT_PROJECT_ROOT", base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "test")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
        .env(
            "GIT_PROTOCOL",
            header(header::HeaderName::from_static("git-protocol")),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("running git http-backend")?;
    let mut stdin = child.stdin.take().context("http-backend's stdin")?;
    let writer = tokio::spawn(async move {
        stdin.write_all(&body).await.ok();
    });
    let output = child.wait_with_output().await?;
    writer.await.ok();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, 2))
        })
        .context("git http-backend answered without CGI headers")?;
    let (head, rest) = output.stdout.split_at(split.0);
    let mut answer = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("200").parse()?;
            answer = answer.status(StatusCode::from_u16(code)?);
        } else {
            answer = answer.header(name.trim(), value);
        }
    }
    Ok(answer.body(Body::from(rest[split.1..].to_vec()))?)
}
