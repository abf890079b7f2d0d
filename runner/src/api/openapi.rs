//! The OpenAPI 3.1 document of the API, served at `/openapi.json` (no token needed).
//!
//! Written by hand next to the routes it describes; `tests/api.rs` checks that every route the
//! router serves is in it and the other way round.

use axum::Json;
use serde_json::{Value, json};

/// The routes, as (method, path, summary, role needed, query parameters).
pub(crate) const ROUTES: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "get",
        "/v1/containers",
        "List containers the token may see",
        "read",
        &[
            "org", "stack", "service", "status", "health", "image", "name",
        ],
    ),
    (
        "get",
        "/v1/containers/{name}",
        "Inspect a container",
        "read",
        &[],
    ),
    (
        "post",
        "/v1/containers/{name}/start",
        "Start a stopped container",
        "deploy",
        &[],
    ),
    (
        "post",
        "/v1/containers/{name}/stop",
        "Stop a container and keep it stopped",
        "deploy",
        &[],
    ),
    (
        "post",
        "/v1/containers/{name}/restart",
        "Restart a container",
        "deploy",
        &[],
    ),
    (
        "get",
        "/v1/containers/{name}/health",
        "Current health: resources and checks",
        "read",
        &[],
    ),
    (
        "get",
        "/v1/containers/{name}/logs",
        "A container's output as text lines (or NDJSON), streamed while following",
        "read",
        &["tail", "since", "follow", "format"],
    ),
    (
        "get",
        "/v1/containers/{name}/health/history",
        "Recorded health snapshots",
        "read",
        &["from_ms", "to_ms"],
    ),
    (
        "get",
        "/v1/orgs/{org}/stacks/{stack}/services",
        "Declared services of a stack",
        "read",
        &[],
    ),
    (
        "put",
        "/v1/orgs/{org}/stacks/{stack}/services/{service}",
        "Declare or update a service",
        "deploy",
        &[],
    ),
    (
        "delete",
        "/v1/orgs/{org}/stacks/{stack}/services/{service}",
        "Remove a service",
        "deploy",
        &[],
    ),
    (
        "get",
        "/v1/stacks",
        "Stacks the token may see, with each service's status",
        "read",
        &[],
    ),
    (
        "get",
        "/v1/orgs/{org}/stacks/{stack}",
        "A stack's status: replicas wanted, running and ready per service",
        "read",
        &[],
    ),
    (
        "put",
        "/v1/orgs/{org}/stacks/{stack}",
        "Deploy a whole stack: {\"spec\": StackSpec, \"params\": {..}}, or render it from a template: {\"template\": name, \"params\": {..}}",
        "deploy",
        &[],
    ),
    (
        "delete",
        "/v1/orgs/{org}/stacks/{stack}",
        "Remove every service of a stack",
        "deploy",
        &[],
    ),
    (
        "post",
        "/v1/orgs/{org}/stacks/{stack}/services/{service}/scale",
        "Scale a service: {\"replicas\": N}; the revision stays",
        "deploy",
        &[],
    ),
    (
        "get",
        "/v1/orgs/{org}/stacks/{stack}/services/{service}/revisions",
        "A service's kept revisions and its current or last rolling update",
        "read",
        &[],
    ),
    (
        "post",
        "/v1/orgs/{org}/stacks/{stack}/services/{service}/rollback",
        "Roll back to a kept revision: {\"revision\": N} (default: the one before)",
        "deploy",
        &[],
    ),
    (
        "get",
        "/v1/orgs/{org}/billing/invoices",
        "Invoices of an org with their lines",
        "read",
        &["from_ms", "to_ms"],
    ),
    (
        "get",
        "/v1/orgs/{org}/billing/usage",
        "Metered usage (default: since the last charged period), with totals per service",
        "read",
        &["from_ms", "to_ms"],
    ),
    (
        "get",
        "/v1/orgs/{org}/billing/balance",
        "An org's balance and its movements",
        "read",
        &[],
    ),
    (
        "post",
        "/v1/orgs/{org}/billing/top-up",
        "Add credit to an org (operator admin token)",
        "admin",
        &[],
    ),
    (
        "get",
        "/v1/orgs/{org}/quotas",
        "An org's limits and what it holds now",
        "read",
        &[],
    ),
    (
        "get",
        "/v1/plugins",
        "Loaded plugins and their status",
        "read",
        &[],
    ),
    (
        "get",
        "/v1/plugins/{name}",
        "One plugin's status",
        "read",
        &[],
    ),
    (
        "post",
        "/v1/plugins/{name}/reload",
        "Reload a plugin from its source (admin of every org); a stack template re-renders its stacks",
        "admin",
        &[],
    ),
    (
        "post",
        "/v1/templates/{name}/render",
        "Preview what a stack template renders: {\"params\": {..}} -> {\"template\", \"spec\"}",
        "deploy",
        &[],
    ),
    (
        "get",
        "/v1/tokens",
        "Tokens the caller manages (never their secrets): every token for an admin of every org, else its org's",
        "admin",
        &[],
    ),
    (
        "post",
        "/v1/tokens",
        "Create a token: {\"name\", \"org\", \"role\", \"expires_in_seconds\"}; the answer holds its secret, shown once",
        "admin",
        &[],
    ),
    (
        "get",
        "/v1/tokens/current",
        "The caller's own token (never its secret)",
        "read",
        &[],
    ),
    (
        "delete",
        "/v1/tokens/{id}",
        "Revoke a token (of the caller's org, or any for an admin of every org)",
        "admin",
        &[],
    ),
    (
        "get",
        "/v1/events",
        "A page of event history",
        "read",
        &["from", "limit", "org", "stack", "kind"],
    ),
    (
        "get",
        "/v1/events/stream",
        "Live events (SSE), resumable with Last-Event-ID",
        "read",
        &["from", "org", "stack", "kind"],
    ),
    (
        "get",
        "/metrics",
        "Prometheus metrics (an admin token of every org)",
        "admin",
        &[],
    ),
];

pub(super) async fn document() -> Json<Value> {
    Json(build())
}

fn build() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, role, query) in ROUTES {
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(
            query
                .iter()
                .map(|name| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}})),
        );
        let mut responses = json!({
            "200": {"description": "OK"},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
        });
        if *method != "get" {
            responses["409"] = json!({"$ref": "#/components/responses/Error"});
        }
        let operation = json!({
            "summary": summary,
            "description": format!("Needs the `{role}` role."),
            "parameters": parameters,
            "responses": responses,
        });
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Windlass API", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {
                "description": "An error with a stable code",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": [
                            "unauthorized", "token-expired", "token-revoked", "forbidden", "policy-denied", "not-found", "validation", "conflict",
                            "plugin-error", "quota-exceeded", "runtime-unavailable", "internal"
                        ]},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"]}
                    }
                }}
            }}
        }
    })
}
