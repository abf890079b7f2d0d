//! Shared test helpers: where the plugin components are, a host per test, and a loopback HTTP
//! server speaking the `adapter-loopback` protocol.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use windlass_host_api::{Plugin, PluginHost, PluginSpec};

/// The directory holding the built plugin components.
///
/// `WINDLASS_PLUGINS_DIR` overrides the default `plugins/target/wasm32-wasip2/release`.
pub fn plugins_dir() -> PathBuf {
    match std::env::var_os("WINDLASS_PLUGINS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/target/wasm32-wasip2/release"),
    }
}

/// The path of a built plugin, failing loudly when it has not been built.
pub fn component(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "plugin component {} is missing: build the plugins first with `cargo build --release` in \
         plugins/ (or set WINDLASS_PLUGINS_DIR to where they were built)",
        path.display()
    );
    path
}

/// A host without a compile cache, allocating on demand (tests run many hosts in parallel).
pub fn host() -> PluginHost {
    PluginHost::builder()
        .with_pooling(windlass_host_api::Pooling::Off)
        .build()
        .expect("building the plugin host")
}

/// Loads a built plugin with default limits.
pub async fn load(host: &PluginHost, name: &str) -> Plugin {
    load_spec(host, PluginSpec::from_file(name, component(name))).await
}

/// Loads a plugin from a spec, panicking with the load error's message.
pub async fn load_spec(host: &PluginHost, spec: PluginSpec) -> Plugin {
    let name = spec.name.clone();
    match host.load(spec).await {
        Ok(plugin) => plugin,
        Err(error) => panic!("loading {name}: {error}"),
    }
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A deployment as the loopback platform keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    pub image: String,
    pub desired: u32,
    pub labels: BTreeMap<String, String>,
}

/// An in-memory platform on 127.0.0.1 speaking the `adapter-loopback` protocol
/// (see plugins/adapter-loopback). It also counts requests, so tests can prove a denied
/// request never left the sandbox.
#[derive(Debug, Clone, Default)]
pub struct LoopbackPlatform {
    pub deployments: Arc<Mutex<BTreeMap<String, Deployment>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl LoopbackPlatform {
    /// Starts the server on an ephemeral loopback port; it lives as long as the runtime.
    pub async fn start() -> Result<(Self, SocketAddr)> {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;

        let platform = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding loopback")?;
        let addr = listener.local_addr()?;
        let state = platform.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let method = req.method().clone();
                            let path = req.uri().path().to_owned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let (status, json) = state.handle(method.as_str(), &path, &body);
                            let response = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(json)))
                                .expect("response");
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((platform, addr))
    }

    fn handle(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.requests
            .lock()
            .unwrap()
            .push(format!("{method} {path}"));
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut deployments = self.deployments.lock().unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        match (method, segments.as_slice()) {
            ("PUT", ["v1", "deployments", name]) => {
                let id = format!("dep-{name}");
                let labels = body["labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                deployments.insert(
                    id.clone(),
                    Deployment {
                        id: id.clone(),
                        name: name.to_string(),
                        image: body["image"].as_str().unwrap_or_default().to_owned(),
                        desired: body["replicas"].as_u64().unwrap_or(1) as u32,
                        labels,
                    },
                );
                (
                    201,
                    serde_json::json!({ "id": id, "name": name }).to_string(),
                )
            }
            ("GET", ["v1", "deployments", id]) => match deployments.get(*id) {
                Some(d) => (
                    200,
                    serde_json::json!({
                        "id": d.id, "name": d.name, "desired": d.desired, "running": d.desired,
                        "phase": "running", "message": null
                    })
                    .to_string(),
                ),
                None => (404, r#"{"error":"no such deployment"}"#.into()),
            },
            ("POST", ["v1", "deployments", id, "scale"]) => match deployments.get_mut(*id) {
                Some(d) => {
                    d.desired = body["replicas"].as_u64().unwrap_or(0) as u32;
                    (200, "{}".into())
                }
                None => (404, r#"{"error":"no such deployment"}"#.into()),
            },
            ("DELETE", ["v1", "deployments", id]) => match deployments.remove(*id) {
                Some(_) => (200, "{}".into()),
                None => (404, r#"{"error":"no such deployment"}"#.into()),
            },
            ("GET", ["v1", "containers"]) => {
                let containers: Vec<_> = deployments
                    .values()
                    .flat_map(|d| {
                        (0..d.desired).map(move |i| {
                            serde_json::json!({
                                "id": format!("{}-{i}", d.id), "name": format!("{}-{i}", d.name),
                                "image": d.image, "state": "running", "labels": d.labels, "created_ms": 0
                            })
                        })
                    })
                    .collect();
                (200, serde_json::Value::Array(containers).to_string())
            }
            _ => (400, r#"{"error":"unknown route"}"#.into()),
        }
    }
}
