//! The HTTP client of the CLI (reqwest over rustls): one API server, `http://` or `https://`,
//! a bearer token, JSON in and out, and streamed bodies for logs and events. An error answer
//! becomes [`CliError::Api`] with the API's code and field.
//!
//! `https://` is verified against the system's trusted roots, or only against the CAs of
//! `--ca-cert FILE` when it is given (as curl's `--cacert` does): a runner behind a
//! TLS-terminating proxy with a private CA needs no change to the machine's trust store.
//! The TLS provider is rustls' `ring`, the one the engine's database driver already uses.

use std::path::Path;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value;

use super::CliError;

/// How long a request that is not a stream may take, and a stream's response head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What stays as it is in a path segment or a query value: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A client of one API server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    /// The server's URL without a trailing `/` (a path prefix, as behind a proxy, is kept).
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of `url` (`http://HOST:PORT` or `https://HOST[:PORT]`, optionally with a path
    /// prefix) sending `token`; `https` trusts only the certificates in `ca_cert` when given,
    /// else the system's roots.
    pub(crate) fn new(
        url: &str,
        token: Option<String>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, CliError> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed =
            Url::parse(&base).map_err(|e| CliError::Usage(format!("--url {url:?}: {e}")))?;
        let expected = "expected http://HOST:PORT or https://HOST[:PORT]";
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(CliError::Usage(format!("--url {url:?}: {expected}")));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(CliError::Usage(format!(
                "--url {url:?}: {expected}, without a query or fragment"
            )));
        }
        // One process-wide provider; installing it again (a second client) changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("windlass/", env!("CARGO_PKG_VERSION")));
        if let Some(file) = ca_cert {
            builder = builder.tls_certs_only(read_ca_certs(file)?);
        }
        let http = builder.build().map_err(|e| {
            CliError::Usage(format!("cannot set up the HTTP client: {}", chain(&e)))
        })?;
        Ok(Self { base, token, http })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a request: the response when it is a success, else the API's error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Response, CliError> {
        let response = request
            .send()
            .await
            .map_err(|e| CliError::Connect(format!("{what}: {}", chain(&e))))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, response.bytes())
            .await
            .map_err(|_| CliError::Connect(format!("{what}: the error body did not arrive")))?
            .map_err(|e| CliError::Connect(format!("{what}: {}", chain(&e))))?;
        Err(api_error(status, &body))
    }

    /// A JSON request: the answer's JSON, or the API's error.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let what = format!("{method} {path}");
        let mut request = self.request(method, path).timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).map_err(anyhow::Error::from)?);
        }
        let response = self.send(request, &what).await?;
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                CliError::Connect(format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))
            } else {
                CliError::Connect(format!("{what}: {}", chain(&e)))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Other(anyhow::anyhow!("{what}: the answer is not JSON: {e}")))
    }

    /// `GET path` as JSON.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    /// Opens a streamed `GET` (logs, events): the response, whose body is read as it comes
    /// (no time limit on the body; the head must come within the request timeout).
    pub(crate) async fn stream(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Response, CliError> {
        let what = format!("GET {path}");
        let mut request = self.request(Method::GET, path);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        tokio::time::timeout(REQUEST_TIMEOUT, self.send(request, &what))
            .await
            .map_err(|_| {
                CliError::Connect(format!("{what}: no answer within {REQUEST_TIMEOUT:?}"))
            })?
    }
}

/// The PEM certificates of `--ca-cert FILE`; an unreadable file or one without a certificate
/// is a usage error.
fn read_ca_certs(file: &Path) -> Result<Vec<reqwest::Certificate>, CliError> {
    let usage = |why: String| CliError::Usage(format!("--ca-cert {}: {why}", file.display()));
    let pem = std::fs::read(file).map_err(|e| usage(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| usage(format!("not PEM certificates: {}", chain(&e))))?;
    if certs.is_empty() {
        return Err(usage(
            "no certificate in it (expected -----BEGIN CERTIFICATE----- blocks)".to_owned(),
        ));
    }
    Ok(certs)
}

/// The API's JSON error body as a [`CliError::Api`]; anything else keeps the status and text.
fn api_error(status: StatusCode, body: &[u8]) -> CliError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    match error.and_then(|e| Some((e["code"].as_str()?, e["message"].as_str()?))) {
        Some((code, message)) => CliError::Api {
            status: status.as_u16(),
            code: code.to_owned(),
            field: error.and_then(|e| e["field"].as_str()).map(str::to_owned),
            message: message.to_owned(),
        },
        None => CliError::Api {
            status: status.as_u16(),
            code: format!("http-{}", status.as_u16()),
            field: None,
            message: String::from_utf8_lossy(body).trim().to_owned(),
        },
    }
}

/// An error with its causes, `: `-separated (reqwest's top-level message alone says little:
/// the cause says "invalid peer certificate: UnknownIssuer" or "Connection refused").
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `s` percent-encoded for a path segment or a query value (unreserved characters stay).
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// A query string (`?a=1&b=2`) of the pairs whose value is set; empty when none is.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_codes_and_fields() {
        let body = br#"{"error":{"code":"validation","message":"at most 1000 replicas","field":"replicas"}}"#;
        let error = api_error(StatusCode::BAD_REQUEST, body);
        assert_eq!(
            error.to_string(),
            "error [validation] replicas: at most 1000 replicas"
        );
        let plain = api_error(StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(plain.to_string(), "error [http-502] upstream down");
    }

    #[test]
    fn queries_skip_unset_values_and_encode_the_rest() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[
                ("name", Some("^wl_.*web".into())),
                ("org", None),
                ("tail", Some("5".into()))
            ]),
            "?name=%5Ewl_.%2Aweb&tail=5"
        );
        assert_eq!(encode("a b/ü?#&="), "a%20b%2F%C3%BC%3F%23%26%3D");
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        assert!(Client::new("http://127.0.0.1:7878/", None, None).is_ok());
        assert!(Client::new("https://windlass.example.invalid", None, None).is_ok());
        assert!(Client::new("https://proxy.example.invalid/windlass/", None, None).is_ok());
        for bad in ["ftp://host", "127.0.0.1:7878", "http://", "http://h/?a=1"] {
            let error = Client::new(bad, None, None).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("error: --url {bad:?}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn a_ca_cert_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Client::new("https://h", None, Some(&empty))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no certificate in it"), "{error}");
        let missing = dir.path().join("missing.pem");
        let error = Client::new("https://h", None, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("error: --ca-cert "), "{error}");
    }
}
