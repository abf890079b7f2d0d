//! Template parameters bound to secrets.
//!
//! A stack template only ever sees strings, and whatever it renders is stored as the stack's
//! spec. So a parameter bound to a secret is given to the template as a *placeholder* —
//! `__windlass_secret_<hex of the name>__`, letters, digits and `_` only, which survives the
//! escaping and percent-encoding a template may apply — never as the value. When a service is
//! applied, every environment value holding a placeholder becomes an environment reference to
//! that secret ([`SecretRef::env`] with [`SecretRef::env_template`] when the value holds more
//! than the secret, such as a `DATABASE_URL`); the value is put in only when the container is
//! created. The stored stack and service specs hold placeholders, never values. A placeholder
//! anywhere else (a command, a label, an image) is refused: only variables are injected.

use std::collections::BTreeMap;

use super::{SecretRef, validate_secret_name};
use crate::spec::SpecError;

const PREFIX: &str = "__windlass_secret_";
const SUFFIX: &str = "__";

/// The placeholder a template receives for a parameter bound to the secret `name` (of the
/// stack's org).
pub fn param_placeholder(name: &str) -> String {
    format!("{PREFIX}{}{SUFFIX}", hex::encode(name))
}

/// The secret named by the placeholder that `value` is, exactly.
pub fn placeholder_secret(value: &str) -> Option<String> {
    let found = placeholders(value);
    match found.as_slice() {
        [(range, name)] if range.start == 0 && range.end == value.len() => Some(name.clone()),
        _ => None,
    }
}

/// Every well-formed placeholder in `text`, with where it is.
fn placeholders(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(PREFIX) {
        let start = from + at;
        let digits_at = start + PREFIX.len();
        let digits = text[digits_at..]
            .bytes()
            .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .count();
        let end = digits_at + digits;
        if text[end..].starts_with(SUFFIX)
            && let Ok(bytes) = hex::decode(&text[digits_at..end])
            && let Ok(name) = String::from_utf8(bytes)
            && validate_secret_name("", &name).is_ok()
        {
            found.push((start..end + SUFFIX.len(), name));
            from = end + SUFFIX.len();
        } else {
            from = digits_at;
        }
    }
    found
}

/// Turns every environment value of a service that holds a placeholder into an environment
/// reference to its secret, and refuses a placeholder anywhere else in the service.
pub(crate) fn bind_placeholders(spec: &mut crate::ServiceSpec) -> Result<(), SpecError> {
    let mut moved = BTreeMap::new();
    for (var, value) in &spec.env {
        let found = placeholders(value);
        let Some((range, name)) = found.first() else {
            continue;
        };
        if found.iter().any(|(_, other)| other != name) {
            return Err(SpecError::new(
                format!("env.{var}"),
                "a variable can take one secret parameter; this one holds two",
            ));
        }
        let whole = found.len() == 1 && range.start == 0 && range.end == value.len();
        let mut reference = SecretRef::env(name, var);
        if !whole {
            reference.env_template = Some(value.clone());
        }
        moved.insert(var.clone(), reference);
    }
    for (var, reference) in moved {
        spec.env.remove(&var);
        spec.secrets.push(reference);
    }
    let mut rest = spec.clone();
    rest.secrets.clear();
    // What a service provides reaches its dependents' env (bound there), not its container.
    rest.provides.clear();
    let text = serde_json::to_string(&rest).unwrap_or_default();
    if let Some((_, name)) = placeholders(&text).first() {
        return Err(SpecError::new(
            "secrets",
            format!(
                "secret `{name}` is bound to a template parameter that the template put outside \
                 an environment variable (a command, label, image or health check); only \
                 variables can take a secret parameter"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_round_trip_and_survive_escaping() {
        let p = param_placeholder("db-password");
        assert!(
            p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{p}"
        );
        assert_eq!(placeholder_secret(&p).as_deref(), Some("db-password"));
        assert_eq!(placeholder_secret(&format!("x{p}")), None);
        let url = format!("postgres://app:{p}@db:5432/app");
        assert_eq!(placeholders(&url)[0].1, "db-password");
        assert!(placeholders("__windlass_secret_zz__ __windlass_secret_61").is_empty());
    }

    #[test]
    fn env_values_become_references_and_other_uses_are_refused() {
        let p = param_placeholder("db-password");
        let mut spec = crate::ServiceSpec::new("api", "img")
            .with_env("PASSWORD", &p)
            .with_env("DATABASE_URL", format!("postgres://app:{p}@db/app"))
            .with_env("PLAIN", "x");
        bind_placeholders(&mut spec).unwrap();
        assert_eq!(spec.env.keys().collect::<Vec<_>>(), ["PLAIN"]);
        let vars: Vec<_> = spec
            .secrets
            .iter()
            .map(|r| (r.env.as_deref().unwrap(), r.env_template.is_some()))
            .collect();
        assert_eq!(vars, [("DATABASE_URL", true), ("PASSWORD", false)]);
        // Again: nothing left to move (applying a bound spec twice changes nothing).
        let before = spec.clone();
        bind_placeholders(&mut spec).unwrap();
        assert_eq!(spec, before);

        let mut bad = crate::ServiceSpec::new("api", "img").with_command(["echo", p.as_str()]);
        let error = bind_placeholders(&mut bad).unwrap_err();
        assert!(error.message.contains("db-password"), "{error}");
    }
}
