//! The one error type of the stack model, and the list that validation collects.
//!
//! Every variant names the field at fault as a path into the stack as declared
//! (`services[2].depends_on[0].service`, `volumes[1]`, `params.db_password`), so an API can
//! return it as the field of a JSON error and a person can find it in the TOML.

use std::fmt;

/// Why a stack, its parameters or its rendering was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// A service's own declaration is invalid (what [`ServiceSpec::validate`](crate::ServiceSpec::validate) refuses).
    #[error("{field}: {message}")]
    Service {
        /// The field at fault, e.g. `services[1].memory`.
        field: String,
        /// The service's name as declared.
        service: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// Two services have the same name.
    #[error("{field}: duplicate service name \"{name}\" (first declared at services[{first}])")]
    DuplicateService {
        /// The later of the two, e.g. `services[3].name`.
        field: String,
        /// The shared name.
        name: String,
        /// The index of the first service with that name.
        first: usize,
    },
    /// A service depends on itself.
    #[error("{field}: service \"{service}\" cannot depend on itself")]
    SelfDependency {
        /// The dependency, e.g. `services[0].depends_on[1].service`.
        field: String,
        /// The service.
        service: String,
    },
    /// A service lists the same dependency twice.
    #[error(
        "{field}: \"{service}\" already depends on \"{dependency}\"; list each dependency once"
    )]
    DuplicateDependency {
        /// The second listing.
        field: String,
        /// The dependent service.
        service: String,
        /// The service listed twice.
        dependency: String,
    },
    /// A dependency names a service the stack does not have.
    #[error("{field}: unknown service \"{dependency}\" (services: {})", known.join(", "))]
    UnknownDependency {
        /// The dependency, e.g. `services[2].depends_on[0].service`.
        field: String,
        /// The dependent service.
        service: String,
        /// The name that matches no service.
        dependency: String,
        /// The services of the stack, sorted.
        known: Vec<String>,
    },
    /// Services wait for each other in a circle, so none of them could ever start.
    #[error("{field}: dependency cycle: {}", display_cycle(cycle))]
    Cycle {
        /// The dependency that starts the cycle at its first service.
        field: String,
        /// The services of the cycle in dependency order, starting with the smallest name; the
        /// first depends on the second, …, the last on the first.
        cycle: Vec<String>,
    },
    /// A service waits for a dependency to be healthy, but the dependency declares no
    /// readiness check, so it would never count as healthy.
    #[error(
        "{field}: \"{service}\" waits for \"{dependency}\" to be healthy, but \"{dependency}\" declares no readiness check; add one or wait for `started`"
    )]
    NoReadinessCheck {
        /// The dependency's condition, e.g. `services[1].depends_on[0].condition`.
        field: String,
        /// The dependent service.
        service: String,
        /// The dependency without a readiness check.
        dependency: String,
    },
    /// A service waits for a dependency to complete, but the dependency's restart policy is
    /// `always`, so it is restarted instead of completing.
    #[error(
        "{field}: \"{service}\" waits for \"{dependency}\" to complete, but \"{dependency}\" restarts always and so never completes; give it restart `never` or `on-failure`"
    )]
    NeverCompletes {
        /// The dependency's condition.
        field: String,
        /// The dependent service.
        service: String,
        /// The dependency that never completes.
        dependency: String,
    },
    /// Two dependencies of one service provide the same variable, and the service's own `env`
    /// does not choose between them.
    #[error(
        "{field}: \"{service}\" gets {key} from both \"{first}\" and \"{second}\"; set {key} in its own env to choose"
    )]
    ProvidesConflict {
        /// The service's dependencies, e.g. `services[2].depends_on`.
        field: String,
        /// The dependent service.
        service: String,
        /// The variable provided twice.
        key: String,
        /// The first provider, by name.
        first: String,
        /// The second provider, by name.
        second: String,
    },
    /// A stack volume name is invalid.
    #[error("{field}: {message}")]
    InvalidVolume {
        /// The volume, e.g. `volumes[0]`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The stack declares the same volume twice.
    #[error("{field}: duplicate volume \"{name}\"")]
    DuplicateVolume {
        /// The second declaration.
        field: String,
        /// The volume.
        name: String,
    },
    /// A service mounts a volume the stack does not declare.
    #[error(
        "{field}: volume \"{volume}\" is not declared in the stack's volumes ({})",
        list_or_none(declared)
    )]
    UndeclaredVolume {
        /// The mount, e.g. `services[0].volumes[0].volume`.
        field: String,
        /// The undeclared volume.
        volume: String,
        /// The volumes the stack declares, sorted.
        declared: Vec<String>,
    },
    /// A value uses `${VAR}` for a variable that is not set and gives no default.
    #[error(
        "{field}: variable {variable} is not set and has no default (use ${{{variable}:-default}} for one; set: {})",
        list_or_none(known)
    )]
    UnknownVariable {
        /// Where it is used, e.g. `services[1].env.DATABASE_URL`.
        field: String,
        /// The variable.
        variable: String,
        /// The names of the variables that are set, sorted (never their values).
        known: Vec<String>,
    },
    /// A value uses `${VAR:?message}` and the variable is unset or empty.
    #[error("{field}: variable {variable} is required: {message}")]
    RequiredVariable {
        /// Where it is used.
        field: String,
        /// The variable.
        variable: String,
        /// The message written after `:?`.
        message: String,
    },
    /// A value's `$` syntax is malformed: a lone `$`, an unterminated `${`, a bad name or an
    /// unsupported form.
    #[error("{field}: {message} at character {position}")]
    Syntax {
        /// The value at fault.
        field: String,
        /// The 1-based character position of the problem in the value.
        position: usize,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A variable name is reserved for the engine's own values (`WINDLASS_…`).
    #[error("{field}: variable names starting with WINDLASS_ are reserved for the engine")]
    ReservedVariable {
        /// The variable, e.g. `params.WINDLASS_STACK`.
        field: String,
    },
    /// A required template parameter was not given.
    #[error(
        "{field}: missing required parameter `{name}`{}",
        describe(description)
    )]
    MissingParameter {
        /// `params.<name>`.
        field: String,
        /// The parameter.
        name: String,
        /// The template's description of it.
        description: String,
    },
    /// A parameter the template does not declare was given.
    #[error(
        "{field}: unknown parameter `{name}` (accepted: {})",
        list_or_none(accepted)
    )]
    UnknownParameter {
        /// `params.<name>`.
        field: String,
        /// The parameter given.
        name: String,
        /// The parameters the template declares, in its order.
        accepted: Vec<String>,
    },
    /// A parameter was given more than once.
    #[error("{field}: parameter `{name}` is given more than once")]
    DuplicateParameter {
        /// `params.<name>`.
        field: String,
        /// The parameter.
        name: String,
    },
    /// A parameter's value does not parse as its declared type.
    #[error("{field}: parameter `{name}` must be {expected}{}", got(value.as_deref()))]
    InvalidParameter {
        /// `params.<name>`.
        field: String,
        /// The parameter.
        name: String,
        /// What the type accepts, e.g. `a whole number`.
        expected: &'static str,
        /// The value given; `None` for a secret parameter, whose value is never shown.
        value: Option<String>,
    },
    /// A rendered stack has something the engine cannot represent.
    #[error("{field}: cannot be mapped: {message}")]
    Unmappable {
        /// The field of the rendered stack, e.g. `services[0].resources.disk_bytes`.
        field: String,
        /// What cannot be represented, and what would be.
        message: String,
    },
}

impl StackError {
    /// The field at fault, as a path into the stack, its parameters or its rendering.
    pub fn field(&self) -> &str {
        match self {
            Self::Service { field, .. }
            | Self::DuplicateService { field, .. }
            | Self::SelfDependency { field, .. }
            | Self::DuplicateDependency { field, .. }
            | Self::UnknownDependency { field, .. }
            | Self::Cycle { field, .. }
            | Self::NoReadinessCheck { field, .. }
            | Self::NeverCompletes { field, .. }
            | Self::ProvidesConflict { field, .. }
            | Self::InvalidVolume { field, .. }
            | Self::DuplicateVolume { field, .. }
            | Self::UndeclaredVolume { field, .. }
            | Self::UnknownVariable { field, .. }
            | Self::RequiredVariable { field, .. }
            | Self::Syntax { field, .. }
            | Self::ReservedVariable { field }
            | Self::MissingParameter { field, .. }
            | Self::UnknownParameter { field, .. }
            | Self::DuplicateParameter { field, .. }
            | Self::InvalidParameter { field, .. }
            | Self::Unmappable { field, .. } => field,
        }
    }
}

impl StackError {
    /// What is wrong, without the field: `Display` writes `field: message`, and a caller that
    /// shows the field on its own (the API's `{"field", "message"}`, a file position) would
    /// otherwise print the path twice.
    pub fn message(&self) -> String {
        let text = self.to_string();
        match text
            .strip_prefix(self.field())
            .and_then(|t| t.strip_prefix(": "))
        {
            Some(message) => message.to_owned(),
            None => text,
        }
    }
}

fn display_cycle(cycle: &[String]) -> String {
    let mut names: Vec<&str> = cycle.iter().map(String::as_str).collect();
    if let Some(first) = cycle.first() {
        names.push(first);
    }
    names.join(" -> ")
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn describe(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

fn got(value: Option<&str>) -> String {
    match value {
        Some(v) => format!(", got {v:?}"),
        None => " (the value is secret and not shown)".to_owned(),
    }
}

/// Every error found in one pass over a stack (never empty), in a stable order.
///
/// Validation reports everything it finds rather than the first problem, so one round trip
/// fixes a whole stack. `Display` writes one error per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackErrors(Vec<StackError>);

impl StackErrors {
    /// `Ok(())` for no errors, else all of them.
    pub(crate) fn check(errors: Vec<StackError>) -> Result<(), StackErrors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StackErrors(errors))
        }
    }

    /// The errors, in the order they were found.
    pub fn errors(&self) -> &[StackError] {
        &self.0
    }

    /// The errors, owned.
    pub fn into_vec(self) -> Vec<StackError> {
        self.0
    }

    /// How many errors there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a `StackErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<StackError> for StackErrors {
    fn from(error: StackError) -> Self {
        StackErrors(vec![error])
    }
}

impl fmt::Display for StackErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StackErrors {}

impl<'a> IntoIterator for &'a StackErrors {
    type Item = &'a StackError;
    type IntoIter = std::slice::Iter<'a, StackError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_reads_as_a_path_back_to_its_start() {
        let error = StackError::Cycle {
            field: "services[0].depends_on[0].service".into(),
            cycle: vec!["api".into(), "worker".into()],
        };
        assert_eq!(
            error.to_string(),
            "services[0].depends_on[0].service: dependency cycle: api -> worker -> api"
        );
        assert_eq!(error.field(), "services[0].depends_on[0].service");
        assert_eq!(error.message(), "dependency cycle: api -> worker -> api");
    }

    #[test]
    fn a_secret_parameter_value_is_never_shown() {
        let error = StackError::InvalidParameter {
            field: "params.pin".into(),
            name: "pin".into(),
            expected: "a whole number",
            value: None,
        };
        let text = error.to_string();
        assert!(text.contains("secret and not shown"), "{text}");
        let shown = StackError::InvalidParameter {
            field: "params.pin".into(),
            name: "pin".into(),
            expected: "a whole number",
            value: Some("x1".into()),
        };
        assert!(shown.to_string().ends_with(", got \"x1\""), "{shown}");
    }

    #[test]
    fn the_list_displays_one_error_per_line() {
        let errors = StackErrors(vec![
            StackError::DuplicateVolume {
                field: "volumes[1]".into(),
                name: "data".into(),
            },
            StackError::ReservedVariable {
                field: "params.WINDLASS_ORG".into(),
            },
        ]);
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors.to_string(),
            "volumes[1]: duplicate volume \"data\"\n\
             params.WINDLASS_ORG: variable names starting with WINDLASS_ are reserved for the engine"
        );
        let fields: Vec<&str> = errors.into_iter().map(StackError::field).collect();
        assert_eq!(fields, ["volumes[1]", "params.WINDLASS_ORG"]);
    }
}
