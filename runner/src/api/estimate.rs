//! `POST /v1/orgs/{org}/stacks/{stack}/estimate`: what a stack would cost, before anything is
//! deployed, from the org's billing rule (see `Engine::estimate` and docs/billing.md).

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::{self, ApiPath};
use super::params::StackPath;
use super::stacks::{DeployBody, in_body, spec_of};
use super::{ApiError, ApiState, Caller, Role};
use windlass::billing::Estimate;

/// Estimate a stack's cost.
///
/// Takes the body of a stack deploy (a `spec`, or a `template` and its `params`) and answers
/// the hourly, daily and monthly cost (integer minor units; a month is 730 hours) per service
/// and resource, priced by the org's billing rule exactly as a billing cycle prices one period
/// of the stack. Nothing is deployed or stored. Needs the `deploy` role and the token's org
/// (or `*`): an estimate runs the org's billing rule (and a template, if given), and a rule's
/// failures count towards its failure policy, so a read token must not be able to disable it.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/stacks/{stack}/estimate",
    tag = "billing",
    params(StackPath),
    request_body = DeployBody,
    responses(
        (status = 200, description = "The estimate", body = Estimate),
        (status = 409, description = "`conflict`: no billing rule prices the org", body = super::error::ErrorBody),
        (status = 502, description = "`billing-rule-failed`: the rule trapped, timed out or returned an invoice a cycle would refuse", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn estimate(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(StackPath { org, stack }): ApiPath<StackPath>,
    body: Body,
) -> Result<Json<Estimate>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: DeployBody = extract::read_json(body).await?;
    let (spec, params) = spec_of(&state, &body).await?;
    let estimate = state
        .engine
        .estimate(&org, &stack, &spec, &params)
        .await
        .map_err(in_body)?;
    Ok(Json(estimate))
}
