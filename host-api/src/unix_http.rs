//! HTTP/1.1 over a Unix socket the plugin was granted (`grants.unix_sockets`).
//!
//! wasmtime's own client only dials TCP, so a request whose authority names a granted socket
//! is sent here instead: connect to the socket, speak HTTP/1.1 with hyper, hand the response
//! back to the guest as wasmtime's client would. The socket path comes from the operator's
//! grant, never from the guest; the guest only picks the name.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// What [`send`] resolves to: the response and the connection's own future (which reports an
/// error met while the body is still being read).
pub(crate) type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// wasmtime's defaults when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends `request` over the Unix socket at `socket`.
pub(crate) async fn send(
    socket: PathBuf,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let stream = tokio::time::timeout(connect_timeout, tokio::net::UnixStream::connect(&socket))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(|e| {
            Error::InternalError(Some(format!(
                "windlass: cannot connect to the granted Unix socket {}: {e}",
                socket.display()
            )))
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    // The connection is driven by a task of its own; its result is what the guest learns
    // about the body's transfer.
    let connection = tokio::spawn(connection);
    // Origin form on the wire: the scheme and authority only name the socket.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let io = async move {
        match connection.await {
            Ok(result) => result.map_err(Error::from),
            Err(join) => Err(Error::InternalError(Some(format!(
                "windlass: the Unix socket connection task failed: {join}"
            )))),
        }
    };
    Ok((response, Box::new(io)))
}
