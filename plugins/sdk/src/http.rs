//! A small blocking HTTP client over `wasi:http/outgoing-handler`, for cloud adapters.
//!
//! Only the `cloud-adapter` world imports `wasi:http`, and the host lets a plugin reach only the
//! hosts the operator granted it. Every failure is an [`AdapterError`], ready to return from a
//! [`CloudAdapter`](crate::CloudAdapter) method:
//!
//! ```no_run
//! use windlass_plugin_sdk::http;
//! use windlass_plugin_sdk::types::AdapterError;
//!
//! fn phase(endpoint: &str, id: &str) -> Result<String, AdapterError> {
//!     let response = http::get(&format!("{endpoint}/v1/deployments/{id}"))?.error_for_status()?;
//!     Ok(response.text())
//! }
//! ```
//!
//! # How failures map to [`AdapterError`]
//!
//! Failures to get a response at all (from `wasi:http`'s `error-code`):
//!
//! | `error-code`                                        | [`AdapterError`]                  |
//! |-----------------------------------------------------|-----------------------------------|
//! | `HTTP-request-denied`                               | `denied` (a fixed message)        |
//! | `internal-error(message)` (how the host refuses a request, with its reason) | `denied(message)`, verbatim |
//! | `HTTP-request-method-invalid`, `HTTP-request-URI-invalid`, `HTTP-request-URI-too-long`, header-size errors | `invalid` |
//! | anything else (DNS, connection, TLS, timeouts, protocol) | `unavailable`                 |
//!
//! A URL that does not parse (or whose scheme is not `http`/`https`) is `invalid` before any
//! request is made. Statuses are not errors by themselves: [`Response::error_for_status`] maps
//! them (see [`status_error`]).
//!
//! The client sends the whole request body, then reads the whole response body (at most
//! [`MAX_BODY_BYTES`]) into memory. Timeouts are the host's.

use crate::types::AdapterError;

/// The largest response body [`Request::send`] reads; a larger one is `unavailable`.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

/// A response: status, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, names in lower case as the host reports them, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The response itself when its status is below 400, else the [`AdapterError`] the status
    /// means (see [`status_error`]).
    pub fn error_for_status(self) -> Result<Self, AdapterError> {
        match status_error(self.status, self.header("retry-after"), &self.body) {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

/// The [`AdapterError`] an HTTP status means, or none for statuses below 400.
///
/// | status     | error                                                                   |
/// |------------|-------------------------------------------------------------------------|
/// | 404        | `not-found`                                                              |
/// | 429        | `rate-limited`: `retry_after` in whole seconds × 1000, else 1000 ms      |
/// | 401, 403   | `denied` (the platform refused the credentials or the operation)          |
/// | other 4xx  | `invalid`                                                                |
/// | 5xx        | `unavailable`                                                            |
///
/// Messages carry the status and the start of the body (at most 300 characters).
pub fn status_error(status: u16, retry_after: Option<&str>, body: &[u8]) -> Option<AdapterError> {
    if status < 400 {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let excerpt: String = text.chars().take(300).collect();
    let message = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    Some(match status {
        404 => AdapterError::NotFound(message),
        429 => {
            let ms = retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(1_000, |s| s.saturating_mul(1_000));
            AdapterError::RateLimited(u32::try_from(ms).unwrap_or(u32::MAX))
        }
        401 | 403 => AdapterError::Denied(message),
        400..=499 => AdapterError::Invalid(message),
        _ => AdapterError::Unavailable(message),
    })
}

/// A request being built. Send it with [`Request::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    /// A `method` request to `url` (`http://` or `https://`), without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds header `name: value`.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response. Statuses are not errors here; see
    /// [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, AdapterError> {
        let url = Url::parse(&self.url)?;
        wasi_client::send(self.method, &url, &self.headers, &self.body)
    }
}

/// How an adapter sends its requests: [`WasiHttp`] in the plugin, a fake of the adapter's own in
/// its native unit tests (so the protocol code is tested without a host). Statuses are not errors
/// here; map them with [`Response::error_for_status`] or [`status_error`].
pub trait Transport {
    /// Sends `method url` with an optional JSON `body`.
    fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, AdapterError>;
}

/// The host's `wasi:http` (the host checks the grant on every request), speaking JSON: every
/// request says `accept: application/json`, and a body is sent as `application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, AdapterError> {
        let mut request = Request::new(method, url).header("accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        request.send()
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, AdapterError> {
    Request::new(Method::Get, url).send()
}

/// `DELETE url`.
pub fn delete(url: &str) -> Result<Response, AdapterError> {
    Request::new(Method::Delete, url).send()
}

/// `PUT url` with `body`, sent as `content-type: application/json`.
pub fn put(url: &str, body: &[u8]) -> Result<Response, AdapterError> {
    json_request(Method::Put, url, body).send()
}

/// `POST url` with `body`, sent as `content-type: application/json`.
pub fn post(url: &str, body: &[u8]) -> Result<Response, AdapterError> {
    json_request(Method::Post, url, body).send()
}

fn json_request(method: Method, url: &str, body: &[u8]) -> Request {
    Request::new(method, url)
        .header("content-type", "application/json")
        .body(body)
}

/// A parsed `http`/`https` URL, split as `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    https: bool,
    authority: String,
    path_with_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Self, AdapterError> {
        let invalid = |why: &str| AdapterError::Invalid(format!("invalid URL `{url}`: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected `http://` or `https://`"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(invalid("the scheme must be `http` or `https`")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        if authority.contains('@') {
            return Err(invalid("credentials in URLs are not supported"));
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("the host contains whitespace"));
        }
        let path_with_query = match path.strip_prefix('?') {
            Some(_) => format!("/{path}"),
            None if path.is_empty() => "/".to_owned(),
            None => path.to_owned(),
        };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            path_with_query,
        })
    }
}

/// The `wasi:http` calls. They compile on every target (off wasm32 the imports are stubs that
/// panic) so the pure logic above stays testable natively.
mod wasi_client {
    use super::{MAX_BODY_BYTES, Method, Response, Url};
    use crate::bindings::cloud_adapter::wasi::http::outgoing_handler;
    use crate::bindings::cloud_adapter::wasi::http::types::{
        self as wasi, ErrorCode, IncomingBody, OutgoingBody, http_error_code,
    };
    use crate::bindings::cloud_adapter::wasi::io::streams::StreamError;
    use crate::types::AdapterError;

    /// `blocking-write-and-flush` accepts at most 4096 bytes per call.
    const WRITE_CHUNK: usize = 4096;
    const READ_CHUNK: u64 = 64 * 1024;

    pub(super) fn send(
        method: Method,
        url: &Url,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> Result<Response, AdapterError> {
        let fields = wasi::Fields::new();
        for (name, value) in headers {
            fields.append(name, value).map_err(|e| {
                AdapterError::Invalid(format!("invalid request header `{name}`: {e:?}"))
            })?;
        }
        let request = wasi::OutgoingRequest::new(fields);
        let method = match method {
            Method::Get => wasi::Method::Get,
            Method::Head => wasi::Method::Head,
            Method::Post => wasi::Method::Post,
            Method::Put => wasi::Method::Put,
            Method::Patch => wasi::Method::Patch,
            Method::Delete => wasi::Method::Delete,
        };
        let scheme = if url.https {
            wasi::Scheme::Https
        } else {
            wasi::Scheme::Http
        };
        let refused = |what: &str| AdapterError::Invalid(format!("the host refused the {what}"));
        request
            .set_method(&method)
            .map_err(|()| refused("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("scheme"))?;
        request
            .set_authority(Some(&url.authority))
            .map_err(|()| refused("authority"))?;
        request
            .set_path_with_query(Some(&url.path_with_query))
            .map_err(|()| refused("path"))?;
        let outgoing_body = request
            .body()
            .map_err(|()| AdapterError::Unavailable("the request body was already taken".into()))?;

        // Hand the request over first, then stream the body: the host may apply backpressure.
        let future = outgoing_handler::handle(request, None).map_err(error_code)?;
        {
            let stream = outgoing_body.write().map_err(|()| {
                AdapterError::Unavailable("the request body stream was already taken".into())
            })?;
            for chunk in body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(stream_error)?;
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(error_code)?;

        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(error_code(code)),
                Some(Err(())) => {
                    return Err(AdapterError::Unavailable(
                        "the HTTP response was already taken".into(),
                    ));
                }
                None => future.subscribe().block(),
            }
        };

        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| {
            AdapterError::Unavailable("the response body was already taken".into())
        })?;
        let mut data = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| {
                AdapterError::Unavailable("the response body stream was already taken".into())
            })?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) => {
                        data.extend_from_slice(&chunk);
                        if data.len() > MAX_BODY_BYTES {
                            return Err(AdapterError::Unavailable(format!(
                                "the response body is larger than {MAX_BODY_BYTES} bytes"
                            )));
                        }
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(stream_error(e)),
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body: data,
        })
    }

    fn stream_error(e: StreamError) -> AdapterError {
        match e {
            StreamError::Closed => AdapterError::Unavailable("the HTTP stream closed early".into()),
            StreamError::LastOperationFailed(io) => match http_error_code(&io) {
                Some(code) => error_code(code),
                None => AdapterError::Unavailable(format!(
                    "HTTP stream failed: {}",
                    io.to_debug_string()
                )),
            },
        }
    }

    /// Maps a `wasi:http` error code (see the table in the module docs).
    pub(super) fn error_code(code: ErrorCode) -> AdapterError {
        match code {
            ErrorCode::HttpRequestDenied => {
                AdapterError::Denied("the host denied the HTTP request".into())
            }
            ErrorCode::InternalError(Some(message)) => AdapterError::Denied(message),
            ErrorCode::InternalError(None) => {
                AdapterError::Denied("the host refused the HTTP request".into())
            }
            ErrorCode::HttpRequestMethodInvalid
            | ErrorCode::HttpRequestUriInvalid
            | ErrorCode::HttpRequestUriTooLong
            | ErrorCode::HttpRequestHeaderSectionSize(_)
            | ErrorCode::HttpRequestHeaderSize(_) => {
                AdapterError::Invalid(format!("invalid HTTP request: {code:?}"))
            }
            other => AdapterError::Unavailable(format!("HTTP request failed: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wasi_client::error_code;
    use super::*;
    use crate::bindings::cloud_adapter::wasi::http::types::ErrorCode;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:8123").unwrap();
        assert!(!u.https);
        assert_eq!(u.authority, "127.0.0.1:8123");
        assert_eq!(u.path_with_query, "/");
        let u = Url::parse("HTTPS://api.example.com/v1/x?y=1#frag").unwrap();
        assert!(u.https);
        assert_eq!(u.authority, "api.example.com");
        assert_eq!(u.path_with_query, "/v1/x?y=1");
        let u = Url::parse("http://h?q=1").unwrap();
        assert_eq!(u.path_with_query, "/?q=1");
        for bad in [
            "ftp://h/",
            "127.0.0.1:9",
            "http:///x",
            "http://u:p@h/",
            "http://a b/",
        ] {
            assert!(
                matches!(Url::parse(bad), Err(AdapterError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn maps_statuses() {
        assert_eq!(status_error(200, None, b""), None);
        assert_eq!(status_error(399, None, b""), None);
        assert!(matches!(
            status_error(404, None, b"no such deployment"),
            Some(AdapterError::NotFound(m)) if m == "HTTP 404: no such deployment"
        ));
        assert_eq!(
            status_error(429, Some("7"), b""),
            Some(AdapterError::RateLimited(7_000))
        );
        assert_eq!(
            status_error(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b""),
            Some(AdapterError::RateLimited(1_000))
        );
        assert_eq!(
            status_error(429, Some("99999999"), b""),
            Some(AdapterError::RateLimited(u32::MAX))
        );
        assert!(matches!(
            status_error(400, None, b""),
            Some(AdapterError::Invalid(m)) if m == "HTTP 400"
        ));
        assert!(matches!(
            status_error(403, None, b""),
            Some(AdapterError::Denied(_))
        ));
        assert!(matches!(
            status_error(503, None, b""),
            Some(AdapterError::Unavailable(_))
        ));
    }

    #[test]
    fn response_helpers() {
        let r = Response {
            status: 429,
            headers: vec![("Retry-After".into(), b"3".to_vec())],
            body: b"slow down".to_vec(),
        };
        assert_eq!(r.header("retry-after"), Some("3"));
        assert!(!r.is_success());
        assert_eq!(r.text(), "slow down");
        assert_eq!(r.error_for_status(), Err(AdapterError::RateLimited(3_000)));
    }

    #[test]
    fn maps_error_codes() {
        assert_eq!(
            error_code(ErrorCode::InternalError(Some(
                "host 10.0.0.1 not granted".into()
            ))),
            AdapterError::Denied("host 10.0.0.1 not granted".into())
        );
        assert!(matches!(
            error_code(ErrorCode::HttpRequestDenied),
            AdapterError::Denied(_)
        ));
        assert!(matches!(
            error_code(ErrorCode::ConnectionRefused),
            AdapterError::Unavailable(_)
        ));
        assert!(matches!(
            error_code(ErrorCode::HttpRequestUriInvalid),
            AdapterError::Invalid(_)
        ));
    }
}
