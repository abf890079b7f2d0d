//! Stack templates on paths users reach: rendering a template (the preview route, and deploying
//! a stack from `{template, params}`), and re-rendering every stack made from a template when
//! the template is reloaded.
//!
//! A template is an untrusted plugin: a trap, a timeout or a limit hit answers *that request*
//! with a JSON error naming the plugin and the limit (`plugin-timeout`, `plugin-memory-limit`…,
//! 502), the runner keeps serving, and the plugin's failure policy disables it after its
//! consecutive failures (503 `plugin-disabled` afterwards, `plugin-disabled` in the event log,
//! `disabled` on `/v1/plugins`). A template refusing its parameters is an answer, not a
//! failure: 422 `template-refused` with the parameter as `params.<name>`.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::ApiPath;
use super::params::PluginPath;
use super::{ApiError, ApiState, Caller, Role, extract};
use windlass::plugins::{CallError, Plugin, PluginKind, StackTemplate};
use windlass::secrets::placeholder_secret;
use windlass::stacks::StackSpec;

/// The stacks deployed from a template, so that reloading the template re-renders them.
///
/// Kept in the engine's store (`stack_templates`, both backends), so a restarted runner still
/// re-renders the stacks deployed from a template through the API, not only its file's.
#[derive(Debug, Clone)]
pub struct TemplatedStacks {
    engine: windlass::Engine,
}

impl TemplatedStacks {
    pub(super) fn new(engine: windlass::Engine) -> Self {
        Self { engine }
    }

    /// Records that `org/stack` was rendered by `template` with `params`.
    pub async fn remember(
        &self,
        org: &str,
        stack: &str,
        template: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(), windlass::EngineError> {
        self.engine
            .set_stack_template(org, stack, template, params)
            .await
    }

    /// Forgets `org/stack` (deployed from a spec; a removal forgets it in the engine).
    pub(super) async fn forget(&self, org: &str, stack: &str) -> Result<(), windlass::EngineError> {
        self.engine.forget_stack_template(org, stack).await
    }

    async fn of(&self, template: &str) -> Result<Vec<windlass::TemplatedStack>, ApiError> {
        Ok(self.engine.stacks_of_template(template).await?)
    }
}

/// The loaded stack template called `name`.
fn template(state: &ApiState, name: &str) -> Result<Plugin, ApiError> {
    let plugin = state
        .metrics()
        .plugins()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| ApiError {
            field: Some("template".into()),
            ..ApiError::not_found(format!("stack template {name}"))
        })?;
    if plugin.kind() != PluginKind::StackTemplate {
        return Err(ApiError::validation(
            "template",
            format!(
                "plugin `{name}` is a {}, not a stack template",
                plugin.kind()
            ),
        ));
    }
    Ok(plugin)
}

/// The answer to a template call that failed in the sandbox.
fn call_error(error: CallError) -> ApiError {
    let status = match &error {
        CallError::Disabled { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError {
        status,
        code: error.code(),
        message: error.to_string(),
        field: Some("template".into()),
    }
}

/// Renders `name` with `params` into the engine's form of a stack.
pub(super) async fn render(
    state: &ApiState,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Result<StackSpec, ApiError> {
    let plugin = template(state, name)?;
    let Some(template) = plugin.stack_template() else {
        return Err(ApiError::internal(format!(
            "plugin `{name}` is no longer a stack template"
        )));
    };
    if let Some((field, message)) = unmarked_secret_param(&template, params).await? {
        return Err(ApiError::validation(field, message));
    }
    let pairs: Vec<(String, String)> = params.clone().into_iter().collect();
    let rendered = template
        .render(&pairs)
        .await
        .map_err(call_error)?
        .map_err(|refused| ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "template-refused",
            message: format!(
                "template `{name}` refused the parameters: {} ({})",
                refused.message, refused.code
            ),
            field: Some(match refused.field {
                Some(field) => format!("params.{field}"),
                None => "params".into(),
            }),
        })?;
    StackSpec::from_rendered(&rendered).map_err(|errors| {
        // A field the engine cannot honour: named by its path in the rendered stack.
        let mut all = errors.errors().iter();
        let first = all.next();
        let mut message = format!(
            "template `{name}` rendered what the engine cannot honour: {}",
            first.map(|e| e.to_string()).unwrap_or_default()
        );
        for other in all {
            message.push('\n');
            message.push_str(&other.to_string());
        }
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "template-unsupported",
            message,
            field: first.map(|e| format!("rendered.{}", e.field())),
        }
    })
}

/// A parameter bound to a secret whose template does not mark it `secret`, as the field and
/// message of the refusal. Only a template that is given a bound parameter is asked to
/// describe itself.
pub(crate) async fn unmarked_secret_param(
    template: &StackTemplate,
    params: &BTreeMap<String, String>,
) -> Result<Option<(String, String)>, ApiError> {
    let bound: Vec<&String> = params
        .iter()
        .filter(|(_, v)| placeholder_secret(v).is_some())
        .map(|(k, _)| k)
        .collect();
    if bound.is_empty() {
        return Ok(None);
    }
    let info = template.describe().await.map_err(call_error)?;
    for name in bound {
        let marked = info.parameters.iter().any(|p| &p.name == name && p.secret);
        if !marked {
            return Ok(Some((
                format!("params.{name}"),
                format!(
                    "template `{}` does not mark parameter `{name}` secret: only secret \
                     parameters can be bound to a secret",
                    info.name
                ),
            )));
        }
    }
    Ok(None)
}

/// A parameter's value as the API takes it: a string, or `{"secret": "NAME"}` — a secret of
/// the stack's org, which the template receives as a placeholder and the containers as a
/// variable (see docs/secrets.md).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum ParamInput {
    /// The value itself.
    Text(String),
    /// A secret of the stack's org.
    Secret(SecretParam),
}

/// `{"secret": "NAME"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretParam {
    /// The secret's name in the stack's org.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    secret: String,
}

/// The parameters as strings, a bound one as its secret's placeholder.
pub(super) fn param_strings(
    params: BTreeMap<String, ParamInput>,
) -> Result<BTreeMap<String, String>, ApiError> {
    params
        .into_iter()
        .map(|(name, value)| match value {
            ParamInput::Text(text) => Ok((name, text)),
            ParamInput::Secret(SecretParam { secret }) => {
                windlass::secrets::validate_secret_name(&format!("params.{name}.secret"), &secret)
                    .map_err(|e| ApiError::validation(e.field, e.message))?;
                Ok((name, windlass::secrets::param_placeholder(&secret)))
            }
        })
        .collect()
}

/// The body of `POST /v1/templates/{name}/render`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RenderBody {
    /// The template's parameters: strings, or `{"secret": "NAME"}` for a secret parameter.
    #[serde(default)]
    params: BTreeMap<String, ParamInput>,
}

/// What the preview route answers: the stack the template renders, as a deploy would take it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Rendered {
    /// The template.
    template: String,
    /// The stack it renders.
    spec: StackSpec,
}

/// Renders a template without deploying anything. Needs a deploy token (of any org: templates
/// serve every org): a render runs an untrusted plugin, and its failures count towards the
/// template's failure policy, so a read token must not be able to disable a template.
#[utoipa::path(
    post,
    path = "/v1/templates/{name}/render",
    tag = "plugins",
    params(PluginPath),
    request_body(content = Option<RenderBody>, description = "Optional: no body renders without parameters"),
    responses(
        (status = 200, description = "The stack the template renders", body = Rendered),
        (status = 422, description = "`template-refused` (the parameter is `params.NAME`) or `template-unsupported`", body = super::error::ErrorBody),
        (status = 502, description = "`plugin-trap`, `plugin-timeout`, `plugin-memory-limit`…: the template failed in its sandbox", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn preview(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(PluginPath { name }): ApiPath<PluginPath>,
    body: Body,
) -> Result<Json<Rendered>, ApiError> {
    caller.require(Role::Deploy)?;
    let body = extract::read(body).await?;
    let body: RenderBody = if extract::no_body(&body) {
        RenderBody::default()
    } else {
        extract::parse(&body)?
    };
    let params = param_strings(body.params)?;
    let spec = render(&state, &name, &params).await?;
    Ok(Json(Rendered {
        template: name,
        spec,
    }))
}

/// One stack re-rendered after its template was reloaded.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Rerendered {
    /// The org.
    org: String,
    /// The stack.
    stack: String,
    /// The error's stable code and message when the new version could not render or deploy
    /// it; the stack keeps running what it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::error::ErrorDetail>)]
    error: Option<serde_json::Value>,
}

/// Re-renders and redeploys every stack made from `template` (after a reload). A stack that
/// fails keeps its running revision; each outcome is also an event (`stack-rerendered`,
/// `stack-rerender-failed`).
pub(super) async fn rerender(
    state: &ApiState,
    template: &str,
) -> Result<Vec<Rerendered>, ApiError> {
    let mut outcomes = Vec::new();
    for (org, stack, params) in state.templated.of(template).await? {
        let result = match render(state, template, &params).await {
            Ok(spec) => state
                .engine
                .deploy_stack(&org, &stack, &spec, &params)
                .await
                .map(|_| ())
                .map_err(ApiError::from),
            Err(error) => Err(error),
        };
        let error = result
            .err()
            .map(|e| serde_json::json!({ "code": e.code, "message": e.message, "field": e.field }));
        let kind = if error.is_some() {
            "stack-rerender-failed"
        } else {
            "stack-rerendered"
        };
        let event = windlass::events::NewEvent::new(kind)
            .with_org(&org)
            .with_stack(&stack)
            .with_payload(serde_json::json!({ "template": template, "error": error }));
        if let Err(e) = state.engine.event_log().append(event).await {
            tracing::warn!(error = %e, "cannot record {kind}");
        }
        outcomes.push(Rerendered { org, stack, error });
    }
    Ok(outcomes)
}
