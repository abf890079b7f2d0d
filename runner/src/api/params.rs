//! Path parameters, one type per shape of path: handlers extract them, and their `IntoParams`
//! derive describes them in the document.

use serde::Deserialize;
use utoipa::IntoParams;

/// `/v1/containers/{name}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ContainerPath {
    /// The container's name (`wl_<engine>_<org>_<stack>_<service>_<slot>`) or id.
    pub name: String,
}

/// `/v1/orgs/{org}/stacks/{stack}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct StackPath {
    /// The org that owns the stack.
    pub org: String,
    /// The stack's name.
    pub stack: String,
}

/// `/v1/orgs/{org}/stacks/{stack}/services/{service}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ServicePath {
    /// The org that owns the stack.
    pub org: String,
    /// The stack's name.
    pub stack: String,
    /// The service's name.
    pub service: String,
}

/// `/v1/plugins/{name}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct PluginPath {
    /// The plugin's name, as in `windlass.toml`.
    pub name: String,
}

/// `/v1/orgs/{org}/secrets/{name}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct SecretPath {
    /// The org that owns the secret.
    #[param(pattern = "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
    pub org: String,
    /// The secret's name.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
}
