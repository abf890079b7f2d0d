//! The HTTP client of the CLI: one API server, a bearer token, JSON in and out, and streamed
//! bodies for logs and events. An error answer becomes [`CliError::Api`] with the API's code
//! and field.

use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::CliError;

/// How long a request that is not a stream may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one API server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client of `url` (`http://HOST:PORT`, no path) sending `token`.
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = url.trim_end_matches('/').to_owned();
        let uri: hyper::Uri = base
            .parse()
            .map_err(|e| CliError::Usage(format!("--url {url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(CliError::Usage(format!(
                "--url {url:?}: expected http://HOST:PORT (the API speaks plain HTTP; put TLS in front of it)"
            )));
        }
        Ok(Self {
            base,
            token,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Request<Full<Bytes>>, CliError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let body = match body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Full::new(Bytes::from(
                    serde_json::to_vec(body).context("encoding the request body")?,
                ))
            }
            None => Full::new(Bytes::new()),
        };
        Ok(builder
            .body(body)
            .with_context(|| format!("building the request for {path}"))?)
    }

    /// Sends a request and returns the response head and body, or the API's error.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, CliError> {
        let what = format!("{} {}", request.method(), request.uri());
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| CliError::Connect(format!("{what}: {}", source_chain(&e))))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| CliError::Connect(format!("{what}: the error body did not arrive")))?
            .map_err(|e| CliError::Connect(format!("{what}: {e}")))?
            .to_bytes();
        Err(api_error(status, &bytes))
    }

    /// A JSON request: the answer's JSON, or the API's error.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let request = self.request(method, path, body, &[])?;
        let work = async {
            let response = self.send(request).await?;
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CliError::Connect(format!("{path}: {e}")))?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Other(anyhow::anyhow!("{path}: the answer is not JSON: {e}"))
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| {
                CliError::Connect(format!("{path}: no answer within {REQUEST_TIMEOUT:?}"))
            })?
    }

    /// `GET path` as JSON.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    /// Opens a streamed `GET` (logs, events): the body, to read frame by frame.
    pub(crate) async fn stream(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Incoming, CliError> {
        let request = self.request(Method::GET, path, None, headers)?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.send(request))
            .await
            .map_err(|_| {
                CliError::Connect(format!("{path}: no answer within {REQUEST_TIMEOUT:?}"))
            })??;
        Ok(response.into_body())
    }
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

/// An error with its causes, `: `-separated (hyper's top-level message alone says little).
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `s` percent-encoded for a query value (unreserved characters stay).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
        assert!(Client::new("https://example.invalid", None).is_err());
        assert!(Client::new("http://127.0.0.1:7878/", None).is_ok());
    }
}
