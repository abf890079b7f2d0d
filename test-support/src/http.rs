//! A small HTTP client for API tests, over hyper: JSON in, status and JSON out.

#![allow(dead_code)]

use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A client of one API server.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An answer with its headers and raw body, from [`Api::send`].
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub bytes: Bytes,
}

impl RawAnswer {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The `content-type` header, or "".
    pub fn content_type(&self) -> &str {
        self.headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// An answer: status and body (JSON when it parses, else the text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Api {
    pub fn new(address: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{address}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes())?)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Full::new(Bytes::from(serde_json::to_vec(body)?))
            }
            None => Full::new(Bytes::new()),
        };
        Ok(builder.body(body)?)
    }

    /// Sends a request and reads the whole answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let request = self.request(method, path, token, body)?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .with_context(|| format!("{method} {path}: no answer within 30 s"))??;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Answer { status, body })
    }

    /// Sends any method (even one HTTP does not define), target, headers and body bytes as
    /// given, and reads the whole answer (but not the body of an event stream, which does not
    /// end).
    pub async fn send(
        &self,
        method: &[u8],
        target: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<RawAnswer> {
        let mut request = Request::builder()
            .method(Method::from_bytes(method)?)
            .uri(format!("{}{target}", self.base))
            .body(Full::new(body.into()))?;
        for (key, value) in headers {
            request.headers_mut().append(
                hyper::header::HeaderName::from_bytes(key.as_bytes())?,
                hyper::header::HeaderValue::from_bytes(value.as_bytes())?,
            );
        }
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .with_context(|| format!("{target}: no answer within 30 s"))??;
        let status = response.status();
        let headers = response.headers().clone();
        let streamed = headers
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let bytes = if streamed {
            Bytes::new()
        } else {
            response.into_body().collect().await?.to_bytes()
        };
        Ok(RawAnswer {
            status,
            headers,
            bytes,
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        self.call("get", path, Some(token), None).await
    }

    /// Opens a streaming GET and reads its body until `enough` says so (or 20 s pass).
    pub async fn stream_until(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        enough: impl Fn(&str) -> bool,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut request = self.request("get", path, Some(token), None)?;
        for (key, value) in headers {
            request.headers_mut().insert(
                hyper::header::HeaderName::from_bytes(key.as_bytes())?,
                value.parse()?,
            );
        }
        let response = self.client.request(request).await?;
        let status = response.status();
        let mut body = response.into_body();
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !enough(&text) {
            let frame = tokio::time::timeout_at(deadline, body.frame())
                .await
                .with_context(|| format!("stream {path}: only {text:?} within 20 s"))?;
            match frame {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        text.push_str(&String::from_utf8_lossy(&data));
                    }
                }
                None => break,
            }
        }
        Ok((status, text))
    }
}
