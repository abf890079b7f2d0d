//! The loopback protocol (see the crate docs), over any [`Transport`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use windlass_plugin_sdk::http::{Method, Response};
use windlass_plugin_sdk::types::{
    AdapterError, ContainerFilter, ContainerInfo, DeploymentPhase, DeploymentRef, DeploymentStatus,
    ServiceSpec,
};

pub(crate) use windlass_plugin_sdk::http::{Transport, WasiHttp};

#[derive(Serialize)]
struct DeployBody<'a> {
    name: &'a str,
    image: &'a str,
    replicas: u32,
    env: BTreeMap<&'a str, &'a str>,
    labels: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct RefBody {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    desired: u32,
    running: u32,
    phase: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ContainerBody {
    id: String,
    name: String,
    image: String,
    state: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    created_ms: u64,
}

#[derive(Serialize)]
struct ScaleBody {
    replicas: u32,
}

/// A client of one platform.
#[derive(Debug)]
pub(crate) struct Client<T> {
    endpoint: String,
    transport: T,
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a 2xx body as `T`; a body that does not parse means the platform misbehaved.
fn json<T: for<'de> Deserialize<'de>>(response: &Response, what: &str) -> Result<T, AdapterError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        AdapterError::Unavailable(format!(
            "the platform's answer to {what} is not the expected JSON: {e}"
        ))
    })
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serialising maps of strings and numbers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl<T: Transport> Client<T> {
    /// A client of the platform at `endpoint` (the plugin config value).
    pub(crate) fn new(endpoint: Option<String>, transport: T) -> Result<Self, AdapterError> {
        let Some(endpoint) = endpoint else {
            return Err(AdapterError::Invalid(
                "plugin config `endpoint` is not set (e.g. `http://127.0.0.1:8123`)".into(),
            ));
        };
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(AdapterError::Invalid(format!(
                "plugin config `endpoint` must be an http:// or https:// URL, not `{endpoint}`"
            )));
        }
        Ok(Self {
            endpoint,
            transport,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// Deploys `service`, with `extra_labels` (the engine's) over the service's own labels.
    pub(crate) fn deploy(
        &self,
        service: &ServiceSpec,
        extra_labels: &[(String, String)],
    ) -> Result<DeploymentRef, AdapterError> {
        let body = DeployBody {
            name: &service.name,
            image: &service.image,
            replicas: service.replicas,
            env: service
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            labels: service
                .labels
                .iter()
                .chain(extra_labels)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let url = self.url(&format!("/v1/deployments/{}", segment(&service.name)));
        let response = self
            .transport
            .send(Method::Put, &url, Some(to_json(&body)))?
            .error_for_status()?;
        let r: RefBody = json(&response, "deploy")?;
        Ok(DeploymentRef::new(r.id, r.name))
    }

    pub(crate) fn status(
        &self,
        deployment: &DeploymentRef,
    ) -> Result<DeploymentStatus, AdapterError> {
        let url = self.url(&format!("/v1/deployments/{}", segment(&deployment.id)));
        let response = self
            .transport
            .send(Method::Get, &url, None)?
            .error_for_status()?;
        let s: StatusBody = json(&response, "status")?;
        let phase = match s.phase.as_str() {
            "pending" => DeploymentPhase::Pending,
            "running" => DeploymentPhase::Running,
            "degraded" => DeploymentPhase::Degraded,
            "failed" => DeploymentPhase::Failed,
            other => {
                return Err(AdapterError::Unavailable(format!(
                    "the platform reported an unknown phase `{other}` (expected pending, running, degraded or failed)"
                )));
            }
        };
        Ok(DeploymentStatus::new(
            DeploymentRef::new(
                s.id.unwrap_or_else(|| deployment.id.clone()),
                s.name.unwrap_or_else(|| deployment.name.clone()),
            ),
            phase,
            s.desired,
            s.running,
            s.message,
        ))
    }

    pub(crate) fn scale(
        &self,
        deployment: &DeploymentRef,
        replicas: u32,
    ) -> Result<(), AdapterError> {
        let url = self.url(&format!(
            "/v1/deployments/{}/scale",
            segment(&deployment.id)
        ));
        self.transport
            .send(Method::Post, &url, Some(to_json(&ScaleBody { replicas })))?
            .error_for_status()?;
        Ok(())
    }

    pub(crate) fn remove(&self, deployment: &DeploymentRef) -> Result<(), AdapterError> {
        let url = self.url(&format!("/v1/deployments/{}", segment(&deployment.id)));
        let response = self.transport.send(Method::Delete, &url, None)?;
        if response.status == 404 {
            return Ok(()); // Already gone: removal is idempotent.
        }
        response.error_for_status()?;
        Ok(())
    }

    pub(crate) fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerInfo>, AdapterError> {
        let response = self
            .transport
            .send(Method::Get, &self.url("/v1/containers"), None)?
            .error_for_status()?;
        let containers: Vec<ContainerBody> = json(&response, "list-containers")?;
        Ok(containers
            .into_iter()
            .filter(|c| {
                filter
                    .name_prefix
                    .as_deref()
                    .is_none_or(|p| c.name.starts_with(p))
                    && filter
                        .labels
                        .iter()
                        .all(|(k, v)| c.labels.get(k).is_some_and(|have| have == v))
            })
            .map(|c| {
                ContainerInfo::new(
                    c.id,
                    c.name,
                    c.image,
                    c.state,
                    c.labels.into_iter().collect(),
                    c.created_ms,
                )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records requests and answers from a queue.
    #[derive(Default)]
    struct Fake {
        sent: RefCell<Vec<(Method, String, Option<serde_json::Value>)>>,
        answers: RefCell<Vec<Result<Response, AdapterError>>>,
    }

    impl Fake {
        fn answering(answers: Vec<Result<Response, AdapterError>>) -> Self {
            Self {
                sent: RefCell::default(),
                answers: RefCell::new(answers.into_iter().rev().collect()),
            }
        }
    }

    impl Transport for &Fake {
        fn send(
            &self,
            method: Method,
            url: &str,
            body: Option<Vec<u8>>,
        ) -> Result<Response, AdapterError> {
            let body = body.map(|b| serde_json::from_slice(&b).unwrap());
            self.sent.borrow_mut().push((method, url.to_owned(), body));
            self.answers
                .borrow_mut()
                .pop()
                .expect("an answer is queued")
        }
    }

    fn ok(status: u16, body: &str) -> Result<Response, AdapterError> {
        Ok(Response {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }

    fn client(fake: &Fake) -> Client<&Fake> {
        Client::new(Some("http://127.0.0.1:8123/".into()), fake).unwrap()
    }

    fn dep() -> DeploymentRef {
        DeploymentRef::new("d/1", "web")
    }

    #[test]
    fn deploy_sends_the_service() {
        let fake = Fake::answering(vec![ok(201, r#"{"id":"d-1","name":"web","extra":true}"#)]);
        let mut service = ServiceSpec::new("web", "nginx:alpine");
        service.replicas = 3;
        service.env = vec![
            ("B".into(), "2".into()),
            ("A".into(), "1".into()),
            ("B".into(), "3".into()),
        ];
        service.labels = vec![("team".into(), "shop".into())];
        let r = client(&fake).deploy(&service, &[]).unwrap();
        assert_eq!(r, DeploymentRef::new("d-1", "web"));
        let sent = fake.sent.borrow();
        assert_eq!(sent[0].0, Method::Put);
        assert_eq!(sent[0].1, "http://127.0.0.1:8123/v1/deployments/web");
        assert_eq!(
            sent[0].2,
            Some(serde_json::json!({
                "name": "web", "image": "nginx:alpine", "replicas": 3,
                "env": {"A": "1", "B": "3"}, "labels": {"team": "shop"}
            }))
        );
    }

    #[test]
    fn status_parses_every_phase() {
        for (phase, want) in [
            ("pending", DeploymentPhase::Pending),
            ("running", DeploymentPhase::Running),
            ("degraded", DeploymentPhase::Degraded),
            ("failed", DeploymentPhase::Failed),
        ] {
            let body = format!(
                r#"{{"id":"d/1","name":"web","desired":3,"running":2,"phase":"{phase}","message":"m"}}"#
            );
            let fake = Fake::answering(vec![ok(200, &body)]);
            let s = client(&fake).status(&dep()).unwrap();
            assert_eq!(s.phase, want);
            assert_eq!((s.desired_replicas, s.running_replicas), (3, 2));
            assert_eq!(s.message.as_deref(), Some("m"));
            assert_eq!(s.deployment, dep());
            assert_eq!(
                fake.sent.borrow()[0].1,
                "http://127.0.0.1:8123/v1/deployments/d%2F1"
            );
        }
        let fake = Fake::answering(vec![ok(
            200,
            r#"{"desired":1,"running":1,"phase":"running"}"#,
        )]);
        let s = client(&fake).status(&dep()).unwrap();
        assert_eq!((s.deployment, s.message), (dep(), None));
        let fake = Fake::answering(vec![ok(200, r#"{"desired":1,"running":1,"phase":"odd"}"#)]);
        assert!(matches!(
            client(&fake).status(&dep()),
            Err(AdapterError::Unavailable(m)) if m.contains("odd")
        ));
        let fake = Fake::answering(vec![ok(200, "not json")]);
        assert!(matches!(
            client(&fake).status(&dep()),
            Err(AdapterError::Unavailable(_))
        ));
    }

    #[test]
    fn scale_posts_replicas() {
        let fake = Fake::answering(vec![ok(200, "")]);
        client(&fake).scale(&dep(), 5).unwrap();
        let sent = fake.sent.borrow();
        assert_eq!(sent[0].0, Method::Post);
        assert_eq!(
            sent[0].1,
            "http://127.0.0.1:8123/v1/deployments/d%2F1/scale"
        );
        assert_eq!(sent[0].2, Some(serde_json::json!({"replicas": 5})));
    }

    #[test]
    fn remove_is_idempotent() {
        let fake = Fake::answering(vec![ok(200, ""), ok(404, "gone"), ok(500, "boom")]);
        let c = client(&fake);
        assert_eq!(c.remove(&dep()), Ok(()));
        assert_eq!(c.remove(&dep()), Ok(()));
        assert!(matches!(
            c.remove(&dep()),
            Err(AdapterError::Unavailable(_))
        ));
        assert_eq!(fake.sent.borrow()[0].0, Method::Delete);
    }

    #[test]
    fn list_filters() {
        let body = r#"[
            {"id":"1","name":"shop-web-1","image":"w","state":"running","labels":{"app":"shop","tier":"web"},"created_ms":5},
            {"id":"2","name":"shop-api-1","image":"a","state":"exited","labels":{"app":"shop"}},
            {"id":"3","name":"blog-web-1","image":"w","state":"running","labels":{"app":"blog","tier":"web"},"created_ms":7}
        ]"#;
        let list = |labels: &[(&str, &str)], prefix: Option<&str>| {
            let fake = Fake::answering(vec![ok(200, body)]);
            let filter = ContainerFilter {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                name_prefix: prefix.map(str::to_owned),
            };
            let ids: Vec<String> = client(&fake)
                .list_containers(&filter)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids
        };
        assert_eq!(list(&[], None), ["1", "2", "3"]);
        assert_eq!(list(&[("app", "shop")], None), ["1", "2"]);
        assert_eq!(list(&[("tier", "web")], None), ["1", "3"]);
        assert_eq!(list(&[("app", "shop"), ("tier", "web")], None), ["1"]);
        assert_eq!(list(&[], Some("blog-")), ["3"]);
        assert_eq!(list(&[("app", "blog")], Some("shop")), Vec::<String>::new());

        let fake = Fake::answering(vec![ok(200, body)]);
        let all = client(&fake)
            .list_containers(&ContainerFilter {
                labels: Vec::new(),
                name_prefix: None,
            })
            .unwrap();
        assert_eq!(
            all[0].labels,
            vec![("app".into(), "shop".into()), ("tier".into(), "web".into())]
        );
        assert_eq!((all[0].created_ms, all[1].created_ms), (5, 0));
        assert_eq!(all[1].state, "exited");
    }

    #[test]
    fn statuses_map_to_errors() {
        let rate_limited = Ok(Response {
            status: 429,
            headers: vec![("retry-after".into(), b"2".to_vec())],
            body: Vec::new(),
        });
        let fake = Fake::answering(vec![
            ok(404, "no such deployment"),
            rate_limited,
            ok(503, ""),
            ok(422, "bad image"),
            Err(AdapterError::Denied(
                "host 127.0.0.1:8123 is not granted".into(),
            )),
        ]);
        let c = client(&fake);
        assert!(matches!(c.status(&dep()), Err(AdapterError::NotFound(_))));
        assert_eq!(c.status(&dep()), Err(AdapterError::RateLimited(2_000)));
        assert!(matches!(
            c.status(&dep()),
            Err(AdapterError::Unavailable(_))
        ));
        assert!(matches!(
            c.deploy(&ServiceSpec::new("x", "y"), &[]),
            Err(AdapterError::Invalid(m)) if m.contains("bad image")
        ));
        assert_eq!(
            c.scale(&dep(), 1),
            Err(AdapterError::Denied(
                "host 127.0.0.1:8123 is not granted".into()
            ))
        );
    }

    #[test]
    fn endpoint_config() {
        let fake = Fake::default();
        assert!(matches!(
            Client::new(None, &fake),
            Err(AdapterError::Invalid(m)) if m.contains("endpoint")
        ));
        assert!(matches!(
            Client::new(Some("127.0.0.1:8123".into()), &fake),
            Err(AdapterError::Invalid(_))
        ));
        assert_eq!(
            Client::new(Some(" https://x.example/api/ ".into()), &fake)
                .unwrap()
                .url("/v1/containers"),
            "https://x.example/api/v1/containers"
        );
    }
}
