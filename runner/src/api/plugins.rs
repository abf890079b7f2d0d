//! `/v1/plugins`: the plugins the runner loaded, their status, and reloading one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::ApiPath;
use super::params::PluginPath;
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

/// Loaded plugins and their status.
///
/// Any token (plugins serve every org).
#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    responses((status = 200, description = "Every loaded plugin's status", body = Vec<PluginStatus>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Json<Vec<PluginStatus>> {
    Json(state.metrics.plugins().iter().map(Plugin::status).collect())
}

/// One plugin's status.
///
/// Any token.
#[utoipa::path(
    get,
    path = "/v1/plugins/{name}",
    tag = "plugins",
    params(PluginPath),
    responses((status = 200, description = "The plugin's status", body = PluginStatus)),
)]
pub(super) async fn status(
    State(state): State<ApiState>,
    _caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
) -> Result<Json<PluginStatus>, ApiError> {
    Ok(Json(find(&state, &name)?.status()))
}

/// What a reload answers: the plugin's new status, and for a stack template every stack made
/// from it, re-rendered by the new version.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Reloaded {
    #[serde(flatten)]
    status: PluginStatus,
    /// Stacks re-rendered from a reloaded stack template.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rerendered: Vec<super::templates::Rerendered>,
}

/// Reload a plugin from its source.
///
/// Needs an admin token of every org (`*`): plugins serve every org. Recompiles the plugin
/// and swaps it in (in-flight calls finish on the old one); clears a failure policy's
/// disablement. A component that does not load is a 422 and the old one keeps serving. A
/// reloaded stack template re-renders and redeploys every stack deployed from it.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/reload",
    tag = "plugins",
    params(PluginPath),
    responses(
        (status = 200, description = "The reloaded plugin's status, and the stacks re-rendered from a reloaded template", body = Reloaded),
        (status = 422, description = "`plugin-error`: the new component did not load; the old one keeps serving", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn reload(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
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
        super::templates::rerender(&state, &name).await?
    } else {
        Vec::new()
    };
    Ok(Json(Reloaded {
        status: plugin.status(),
        rerendered,
    }))
}
