//! `/v1/plugins`: the plugins the runner loaded, their status, and reloading one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, ApiState, Caller, EVERY_ORG, Role};
use windlass::plugins::{Plugin, PluginStatus};

fn find(state: &ApiState, name: &str) -> Result<Plugin, ApiError> {
    state
        .metrics
        .plugins()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name}")))
}

/// Every loaded plugin's status (any token: plugins serve every org).
pub(super) async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Json<Vec<PluginStatus>> {
    Json(state.metrics.plugins().iter().map(Plugin::status).collect())
}

pub(super) async fn status(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    Ok(Json(find(&state, &name)?.status()))
}

/// What a reload answers: the plugin's new status, and for a stack template every stack made
/// from it, re-rendered by the new version.
#[derive(Debug, serde::Serialize)]
pub(super) struct Reloaded {
    #[serde(flatten)]
    status: PluginStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rerendered: Vec<super::templates::Rerendered>,
}

/// Recompiles the plugin from its source and swaps it in (in-flight calls finish on the old
/// one); clears a failure policy's disablement. Needs an admin token of every org: plugins
/// serve every org. A component that does not load is a 422 and the old one keeps serving. A
/// reloaded stack template re-renders and redeploys every stack deployed from it.
pub(super) async fn reload(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Reloaded>, ApiError> {
    caller.require(Role::Admin)?;
    caller.require_org(EVERY_ORG)?;
    let plugin = find(&state, &name)?;
    plugin.reload().await.map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "plugin-error",
        message: e.to_string(),
        field: None,
    })?;
    let rerendered = if plugin.kind() == windlass::plugins::PluginKind::StackTemplate {
        super::templates::rerender(&state, &name).await
    } else {
        Vec::new()
    };
    Ok(Json(Reloaded {
        status: plugin.status(),
        rerendered,
    }))
}
