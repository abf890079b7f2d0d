//! What several benchmarks share.

#![allow(dead_code)]

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use futures::StreamExt as _;

/// Force-removes every container whose label `key` is `value`, 16 at a time.
pub async fn remove_labelled(docker: &Docker, key: &str, value: &str) -> anyhow::Result<()> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await?;
    futures::stream::iter(containers.into_iter().filter_map(|c| c.id))
        .for_each_concurrent(16, |id| async move {
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = docker.remove_container(&id, Some(options)).await;
        })
        .await;
    Ok(())
}
