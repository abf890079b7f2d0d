//! The adapter's operations on one manager, over any [`Transport`].

use std::collections::BTreeMap;

use serde_json::{Value, json};
use windlass_plugin_sdk::http::Method;
use windlass_plugin_sdk::types::{
    AdapterError, ContainerFilter, ContainerInfo, DeployRequest, DeploymentRef, DeploymentStatus,
    JoinInfo, LogLine, NodeAvailability, NodeInfo, NodeRole,
};

use crate::docker::{Docker, Transport, at, enc, filters, str_at, version_of};
use crate::service::{self, MANAGED_LABEL};
use crate::{logs, nodes, status};

pub(crate) struct Swarm<T>(pub Docker<T>);

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn reference(service: &Value) -> DeploymentRef {
    DeploymentRef::new(
        str_at(service, &["ID"]).unwrap_or_default(),
        str_at(service, &["Spec", "Name"]).unwrap_or_default(),
    )
}

impl<T: Transport> Swarm<T> {
    pub(crate) fn d(&self) -> &Docker<T> {
        &self.0
    }

    /// The service named exactly `name` (Docker's name filter matches prefixes).
    fn find_service(&self, name: &str) -> Result<Option<Value>, AdapterError> {
        let list = self.d().get(&format!(
            "/services?filters={}",
            filters(&[("name", vec![name.into()])])
        ))?;
        Ok(as_list(list)
            .into_iter()
            .find(|s| str_at(s, &["Spec", "Name"]) == Some(name)))
    }

    fn service(&self, deployment: &DeploymentRef) -> Result<Value, AdapterError> {
        self.d().get(&format!("/services/{}", enc(&deployment.id)))
    }

    fn update(&self, service: &Value, spec: &Value, query: &str) -> Result<(), AdapterError> {
        let id = str_at(service, &["ID"]).unwrap_or_default();
        let version = version_of(service)?;
        let response = self.d().post(
            &format!("/services/{}/update?version={version}{query}", enc(id)),
            spec,
        )?;
        if let Some(warnings) = response.get("Warnings").and_then(Value::as_array)
            && !warnings.is_empty()
        {
            windlass_plugin_sdk::warn!("service update of {id}: {warnings:?}");
        }
        Ok(())
    }

    pub fn deploy(&self, request: &DeployRequest) -> Result<DeploymentRef, AdapterError> {
        let spec = service::spec(&self.d().settings, request)?;
        let name = spec["Name"].as_str().unwrap_or_default().to_string();
        match self.find_service(&name)? {
            Some(current) => {
                let current_spec = current.get("Spec").cloned().unwrap_or(Value::Null);
                if !service::same_spec(&current_spec, &spec) {
                    self.update(&current, &spec, "")?;
                }
                Ok(reference(&current))
            }
            None => {
                // No registry query: API >= 1.30 only resolves digests when the client asks
                // (the CLI's --no-resolve-image is this call without that step).
                let created = self.d().post("/services/create", &spec)?;
                let id = str_at(&created, &["ID"]).ok_or_else(|| {
                    AdapterError::Unavailable("services/create answered without an ID".into())
                })?;
                Ok(DeploymentRef::new(id, name))
            }
        }
    }

    pub(crate) fn tasks(&self, service_id: &str) -> Result<Vec<Value>, AdapterError> {
        let f = filters(&[("service", vec![service_id.into()])]);
        Ok(as_list(self.d().get(&format!("/tasks?filters={f}"))?))
    }

    pub fn status(&self, deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError> {
        let service = self.service(&deployment)?;
        let id = str_at(&service, &["ID"])
            .unwrap_or(&deployment.id)
            .to_string();
        // Only the current run of each slot: Swarm keeps a few dead tasks per slot as history.
        let mut tasks = self.tasks(&id)?;
        tasks.retain(|t| {
            str_at(t, &["DesiredState"]) == Some("running")
                || str_at(t, &["Status", "State"]) == Some("running")
        });
        Ok(status::deployment_status(deployment, &service, &tasks))
    }

    pub fn scale(&self, deployment: &DeploymentRef, replicas: u32) -> Result<(), AdapterError> {
        let service = self.service(deployment)?;
        let mut spec = service.get("Spec").cloned().unwrap_or(Value::Null);
        if at(&spec, &["Mode", "Replicated"]).is_none() {
            return Err(AdapterError::Invalid(format!(
                "service {} is not replicated",
                deployment.name
            )));
        }
        spec["Mode"]["Replicated"]["Replicas"] = json!(replicas);
        self.update(&service, &spec, "")
    }

    pub fn remove(&self, deployment: &DeploymentRef) -> Result<(), AdapterError> {
        self.d()
            .delete_idempotent(&format!("/services/{}", enc(&deployment.id)))
    }

    pub fn rollback(&self, deployment: &DeploymentRef) -> Result<(), AdapterError> {
        let service = self.service(deployment)?;
        if service.get("PreviousSpec").is_none() {
            return Err(AdapterError::Invalid(format!(
                "service {} has no previous version",
                deployment.name
            )));
        }
        let spec = service.get("Spec").cloned().unwrap_or(Value::Null);
        self.update(&service, &spec, "&rollback=previous")
    }

    pub(crate) fn services_labelled(
        &self,
        labels: &[(String, String)],
    ) -> Result<Vec<Value>, AdapterError> {
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        wanted.push(format!("{MANAGED_LABEL}=swarm"));
        let list = self.d().get(&format!(
            "/services?filters={}",
            filters(&[("label", wanted)])
        ))?;
        Ok(as_list(list))
    }

    pub fn list_deployments(
        &self,
        labels: &[(String, String)],
    ) -> Result<Vec<DeploymentRef>, AdapterError> {
        Ok(self
            .services_labelled(labels)?
            .iter()
            .map(reference)
            .collect())
    }

    pub fn logs(
        &self,
        deployment: &DeploymentRef,
        tail: u32,
    ) -> Result<Vec<LogLine>, AdapterError> {
        let path = format!(
            "/services/{}/logs?stdout=1&stderr=1&timestamps=1&details=1&tail={tail}",
            enc(&deployment.id)
        );
        let response = self.d().raw(Method::Get, &path, None)?;
        let mut lines = logs::parse(&response.body, &deployment.name);
        let keep = usize::try_from(tail).unwrap_or(usize::MAX);
        if lines.len() > keep {
            lines.drain(..lines.len() - keep);
        }
        Ok(lines)
    }

    pub fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerInfo>, AdapterError> {
        let mut out = Vec::new();
        for service in self.services_labelled(&filter.labels)? {
            let id = str_at(&service, &["ID"]).unwrap_or_default().to_string();
            for task in self.tasks(&id)? {
                if str_at(&task, &["DesiredState"]) != Some("running") {
                    continue;
                }
                let c = status::container_info(&service, &task);
                if filter
                    .name_prefix
                    .as_deref()
                    .is_none_or(|p| c.name.starts_with(p))
                {
                    out.push(c);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn ensure_network(&self, org: &str) -> Result<String, AdapterError> {
        let settings = &self.d().settings;
        let name = settings.network_name(org);
        match self.d().get(&format!("/networks/{}", enc(&name))) {
            Ok(net) => {
                if str_at(&net, &["Driver"]) != Some("overlay")
                    || str_at(&net, &["Scope"]) != Some("swarm")
                {
                    return Err(AdapterError::Invalid(format!(
                        "network {name} exists but is not a swarm overlay network"
                    )));
                }
                return Ok(name);
            }
            Err(AdapterError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let mut options = serde_json::Map::new();
        if settings.encrypt_networks {
            options.insert("encrypted".into(), json!(""));
        }
        let body = json!({
            "Name": name,
            "Driver": "overlay",
            "CheckDuplicate": true,
            "Attachable": true,
            "Options": options,
            "Labels": { "dev.windlass.org": org, MANAGED_LABEL: "swarm" },
        });
        match self.d().post("/networks/create", &body) {
            Ok(_) => Ok(name),
            // Created by a concurrent call meanwhile: the same network.
            Err(AdapterError::Invalid(_))
                if self.d().get(&format!("/networks/{}", enc(&name))).is_ok() =>
            {
                Ok(name)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the org's network; a missing one is success. Swarm frees a network a moment
    /// after its last task, and a delete that races that (or another delete) answers
    /// `500 network <id> not found` (the name resolved to an id already gone): that is success;
    /// another failed delete stands only when a lookup still finds the network.
    pub fn remove_network(&self, org: &str) -> Result<(), AdapterError> {
        let path = format!("/networks/{}", enc(&self.d().settings.network_name(org)));
        match self.d().delete_idempotent(&path) {
            Ok(()) => Ok(()),
            // The name still resolved, to an id that was gone by the delete.
            Err(AdapterError::Unavailable(message)) if message.contains("not found") => Ok(()),
            Err(e) => match self.d().get(&path) {
                Err(AdapterError::NotFound(_)) => Ok(()),
                _ => Err(e),
            },
        }
    }

    pub fn nodes(&self) -> Result<Vec<NodeInfo>, AdapterError> {
        let list = as_list(self.d().get("/nodes")?);
        let f = filters(&[("desired-state", vec!["running".into()])]);
        let mut running: BTreeMap<String, u32> = BTreeMap::new();
        for t in as_list(self.d().get(&format!("/tasks?filters={f}"))?) {
            if str_at(&t, &["Status", "State"]) == Some("running")
                && let Some(node) = str_at(&t, &["NodeID"])
            {
                *running.entry(node.to_string()).or_default() += 1;
            }
        }
        let mut out: Vec<NodeInfo> = list
            .iter()
            .map(|n| {
                nodes::node_info(
                    n,
                    running
                        .get(str_at(n, &["ID"]).unwrap_or_default())
                        .copied()
                        .unwrap_or(0),
                )
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub fn set_availability(
        &self,
        node_id: &str,
        availability: NodeAvailability,
    ) -> Result<(), AdapterError> {
        let node = self.d().get(&format!("/nodes/{}", enc(node_id)))?;
        let version = version_of(&node)?;
        let mut spec = node.get("Spec").cloned().unwrap_or(json!({}));
        spec["Availability"] = json!(nodes::availability_name(availability));
        self.d()
            .post(
                &format!("/nodes/{}/update?version={version}", enc(node_id)),
                &spec,
            )
            .map(|_| ())
    }

    pub fn remove_node(&self, node_id: &str, force: bool) -> Result<(), AdapterError> {
        self.d()
            .raw(
                Method::Delete,
                &format!("/nodes/{}?force={force}", enc(node_id)),
                None,
            )
            .map(|_| ())
    }

    pub fn join_instructions(&self, role: NodeRole) -> Result<JoinInfo, AdapterError> {
        let swarm = self.d().get("/swarm")?;
        let key = match role {
            NodeRole::Manager => "Manager",
            NodeRole::Worker => "Worker",
        };
        let token = str_at(&swarm, &["JoinTokens", key])
            .ok_or_else(|| AdapterError::Unavailable("GET /swarm returned no join token".into()))?
            .to_string();
        let info = self.d().get("/info")?;
        let manager_address = at(&info, &["Swarm", "RemoteManagers"])
            .and_then(Value::as_array)
            .and_then(|m| {
                let node = str_at(&info, &["Swarm", "NodeID"]);
                m.iter()
                    .find(|r| str_at(r, &["NodeID"]) == node)
                    .or_else(|| m.first())
            })
            .and_then(|r| str_at(r, &["Addr"]))
            .map(str::to_string)
            .or_else(|| str_at(&info, &["Swarm", "NodeAddr"]).map(|a| format!("{a}:2377")))
            .ok_or_else(|| {
                AdapterError::Unavailable("the manager did not report its address".into())
            })?;
        Ok(JoinInfo {
            command: format!("docker swarm join --token {token} {manager_address}"),
            token,
            manager_address,
        })
    }

    pub fn rotate_join_token(&self, role: NodeRole) -> Result<(), AdapterError> {
        let swarm = self.d().get("/swarm")?;
        let version = version_of(&swarm)?;
        let spec = swarm.get("Spec").cloned().unwrap_or(json!({}));
        let flag = match role {
            NodeRole::Manager => "rotateManagerToken",
            NodeRole::Worker => "rotateWorkerToken",
        };
        self.d()
            .raw(
                Method::Post,
                &format!("/swarm/update?version={version}&{flag}=true"),
                Some(&spec),
            )
            .map(|_| ())
    }
}
