//! Render parameters checked against what a stack template declares in `describe()`.
//!
//! The engine checks parameters itself before calling `render`, so every template gets the
//! same errors for the same mistakes (and a template that forgets a check is still protected):
//! an unknown parameter, one given twice, a missing required one (no default), and a value
//! that does not parse as the declared type (`integer`: an optional `-` and ASCII digits that
//! fit in 64 bits; `boolean`: `true` or `false`; `text`: anything). Defaults are applied, so
//! the template receives every parameter it declares, in its own order.
//!
//! A value equal to the parameter's own default is accepted without the type check: the
//! template declared it acceptable (`stack-web-postgres` declares `web_port` an integer whose
//! default, `""`, means "let Docker pick"). Templates still validate meaning (ranges,
//! identifiers); this is only the contract's part.
//!
//! Secret parameters are never shown: not in errors, not in `Debug`.

use windlass_host_api::types::{Parameter, ParameterType};

use super::{StackError, StackErrors, Variables};

/// One parameter's value, ready for `render`.
#[derive(Clone, PartialEq, Eq)]
pub struct ParamValue {
    /// The parameter's name.
    pub name: String,
    /// Its value: given, or the template's default.
    pub value: String,
    /// Whether the template marks it secret.
    pub secret: bool,
    /// Whether the value is the template's default (not given).
    pub defaulted: bool,
}

impl std::fmt::Debug for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: &dyn std::fmt::Debug = if self.secret { &"***" } else { &self.value };
        f.debug_struct("ParamValue")
            .field("name", &self.name)
            .field("value", value)
            .field("secret", &self.secret)
            .field("defaulted", &self.defaulted)
            .finish()
    }
}

/// Every declared parameter with its value, in the template's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderParams {
    values: Vec<ParamValue>,
}

impl RenderParams {
    /// Checks `given` against the template's `declared` parameters and applies defaults.
    /// Returns every error found.
    pub fn check<I, K, V>(declared: &[Parameter], given: I) -> Result<Self, StackErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut errors = Vec::new();
        let mut values: Vec<Option<String>> = vec![None; declared.len()];
        for (name, value) in given {
            let (name, value) = (name.as_ref(), value.as_ref());
            let field = format!("params.{name}");
            let Some(i) = declared.iter().position(|p| p.name == name) else {
                errors.push(StackError::UnknownParameter {
                    field,
                    name: name.to_owned(),
                    accepted: declared.iter().map(|p| p.name.clone()).collect(),
                });
                continue;
            };
            if values[i].is_some() {
                errors.push(StackError::DuplicateParameter {
                    field,
                    name: name.to_owned(),
                });
                continue;
            }
            let param = &declared[i];
            if param.default.as_deref() != Some(value)
                && let Some(expected) = type_error(param.type_, value)
            {
                errors.push(StackError::InvalidParameter {
                    field,
                    name: name.to_owned(),
                    expected,
                    value: (!param.secret).then(|| value.to_owned()),
                });
            }
            values[i] = Some(value.to_owned());
        }

        let mut out = Vec::with_capacity(declared.len());
        for (param, value) in declared.iter().zip(values) {
            let (value, defaulted) = match (value, &param.default) {
                (Some(value), _) => (value, false),
                (None, Some(default)) => (default.clone(), true),
                (None, None) => {
                    errors.push(StackError::MissingParameter {
                        field: format!("params.{}", param.name),
                        name: param.name.clone(),
                        description: param.description.clone(),
                    });
                    continue;
                }
            };
            out.push(ParamValue {
                name: param.name.clone(),
                value,
                secret: param.secret,
                defaulted,
            });
        }
        StackErrors::check(errors)?;
        Ok(Self { values: out })
    }

    /// The arguments for the template's `render`.
    pub fn to_render_args(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// Every parameter, in the template's order.
    pub fn iter(&self) -> impl Iterator<Item = &ParamValue> {
        self.values.iter()
    }

    /// `base` (typically [`Variables::for_stack`]) plus every parameter as a variable of the
    /// same name, so a stack can write `${db_password}`.
    pub fn to_variables(&self, mut base: Variables) -> Result<Variables, StackErrors> {
        let mut errors = Vec::new();
        for p in &self.values {
            if let Err(error) = base.insert(&format!("params.{}", p.name), &p.name, &p.value) {
                errors.push(error);
            }
        }
        StackErrors::check(errors)?;
        Ok(base)
    }
}

/// What the type accepts, when `value` is not of it.
fn type_error(ty: ParameterType, value: &str) -> Option<&'static str> {
    let ok = match ty {
        ParameterType::Text => true,
        ParameterType::Integer => {
            let digits = value.strip_prefix('-').unwrap_or(value);
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && value.parse::<i64>().is_ok()
        }
        ParameterType::Boolean => matches!(value, "true" | "false"),
    };
    (!ok).then_some(match ty {
        ParameterType::Text => "text",
        ParameterType::Integer => "a whole number (digits with an optional leading `-`)",
        ParameterType::Boolean => "`true` or `false`",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, ty: ParameterType, default: Option<&str>, secret: bool) -> Parameter {
        Parameter {
            name: name.into(),
            description: format!("the {name}"),
            type_: ty,
            default: default.map(Into::into),
            secret,
        }
    }

    fn declared() -> Vec<Parameter> {
        vec![
            param("web_replicas", ParameterType::Integer, Some("1"), false),
            param("db_password", ParameterType::Text, None, true),
            param("web_port", ParameterType::Integer, Some(""), false),
            param("debug", ParameterType::Boolean, Some("false"), false),
            param("pin", ParameterType::Integer, Some("0"), true),
        ]
    }

    fn messages(given: &[(&str, &str)]) -> Vec<String> {
        match RenderParams::check(&declared(), given.iter().copied()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.errors().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_are_applied_in_the_templates_order() {
        let params =
            RenderParams::check(&declared(), [("debug", "true"), ("db_password", "s3cret")])
                .unwrap();
        assert_eq!(
            params.to_render_args(),
            [
                ("web_replicas".to_owned(), "1".to_owned()),
                ("db_password".to_owned(), "s3cret".to_owned()),
                ("web_port".to_owned(), String::new()),
                ("debug".to_owned(), "true".to_owned()),
                ("pin".to_owned(), "0".to_owned()),
            ]
        );
        let defaulted: Vec<&str> = params
            .iter()
            .filter(|p| p.defaulted)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(defaulted, ["web_replicas", "web_port", "pin"]);
        assert_eq!(params.get("debug"), Some("true"));
        assert_eq!(params.get("nope"), None);
    }

    #[test]
    fn mistakes_are_all_reported_and_named() {
        assert_eq!(
            messages(&[
                ("web_replicas", "two"),
                ("colour", "blue"),
                ("debug", "yes"),
                ("debug", "true"),
                ("pin", "12a4"),
            ]),
            [
                "params.web_replicas: parameter `web_replicas` must be a whole number (digits \
                 with an optional leading `-`), got \"two\"",
                "params.colour: unknown parameter `colour` (accepted: web_replicas, db_password, \
                 web_port, debug, pin)",
                "params.debug: parameter `debug` must be `true` or `false`, got \"yes\"",
                "params.debug: parameter `debug` is given more than once",
                "params.pin: parameter `pin` must be a whole number (digits with an optional \
                 leading `-`) (the value is secret and not shown)",
                "params.db_password: missing required parameter `db_password` (the db_password)",
            ]
        );
    }

    #[test]
    fn integers_are_strict() {
        for good in ["0", "-5", "20", "9223372036854775807"] {
            assert!(
                messages(&[("db_password", "x"), ("web_replicas", good)]).is_empty(),
                "{good}"
            );
        }
        for bad in [
            "",
            " 1",
            "+1",
            "1.0",
            "1e3",
            "-",
            "9223372036854775808",
            "٣",
        ] {
            assert_eq!(
                messages(&[("db_password", "x"), ("web_replicas", bad)]).len(),
                1,
                "{bad:?}"
            );
        }
        assert!(
            messages(&[("db_password", "x"), ("web_port", "")]).is_empty(),
            "the template's own default is accepted as given"
        );
    }

    #[test]
    fn secrets_stay_hidden_and_parameters_become_variables() {
        let params = RenderParams::check(&declared(), [("db_password", "s3cret")]).unwrap();
        let debug = format!("{params:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains("***"),
            "{debug}"
        );
        let vars = params
            .to_variables(Variables::for_stack("acme", "shop"))
            .unwrap();
        assert_eq!(vars.get("db_password"), Some("s3cret"));
        assert_eq!(vars.get("WINDLASS_STACK"), Some("shop"));

        let reserved = RenderParams::check(
            &[param("WINDLASS_ORG", ParameterType::Text, Some("x"), false)],
            std::iter::empty::<(&str, &str)>(),
        )
        .unwrap();
        let errors = reserved
            .to_variables(Variables::for_stack("acme", "shop"))
            .unwrap_err();
        assert_eq!(errors.errors()[0].field(), "params.WINDLASS_ORG");
    }
}
