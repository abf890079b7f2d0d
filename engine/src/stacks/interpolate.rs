//! Environment interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$`.
//!
//! This module owns the syntax and its evaluation against a set of [`Variables`] (a stack's
//! parameters and the engine's own values). It applies to the values of a service's `env` and
//! `provides` only — not to images, commands or keys: a command is often a shell script whose
//! `$` belongs to the shell.
//!
//! # Syntax
//!
//! | form | result |
//! | --- | --- |
//! | `$$` | a literal `$` |
//! | `${NAME}` | the variable's value; an error if it is not set |
//! | `${NAME:-default}` | the value if set and non-empty, else `default` (itself interpolated, so `${A:-${B}}` works) |
//! | `${NAME:?message}` | the value if set and non-empty, else an error carrying `message` (taken literally, up to the first `}`) |
//!
//! A name is ASCII letters, digits and `_`, not starting with a digit. Every other `$` — a lone
//! `$` before anything but `$` or `{`, or at the end — is an error, not a literal: Compose reads
//! `$NAME` without braces as a variable, so passing `$NAME` through untouched would silently
//! mean something else than a Compose user expects, and `$$` says "a dollar" unambiguously.
//! An unterminated `${`, a bad name and any other modifier (`${A-x}`, `${A:=x}`) are errors
//! too. Syntax errors are found without variables, when a stack is validated.
//!
//! # An unset variable is an error
//!
//! Compose warns about an unset variable and substitutes an empty string. Here `${NAME}`
//! without a default is an error naming the variable and the field it is used in: an empty
//! `DATABASE_URL` or password makes a container that starts and then fails far from the cause
//! (or, worse, runs without a password), and a warning in a log is easily missed. Write
//! `${NAME:-}` to ask for empty explicitly.
//!
//! Values substituted are inserted as they are: a `$` inside a variable's value is never
//! interpolated again.

use std::collections::BTreeMap;

use super::StackError;

/// The variables a stack's values may refer to: its parameters and the engine's own values.
///
/// The engine's values are named `WINDLASS_…` ([`Variables::for_stack`] sets `WINDLASS_ORG`
/// and `WINDLASS_STACK`); [`Variables::insert`] refuses such names, so a parameter can never
/// impersonate them. `Debug` shows names only: values are often secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

/// The prefix of the engine's own variables.
const RESERVED_PREFIX: &str = "WINDLASS_";

impl Variables {
    /// No variables at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine's values for a stack: `WINDLASS_ORG` and `WINDLASS_STACK`.
    pub fn for_stack(org: &str, stack: &str) -> Self {
        let mut values = BTreeMap::new();
        values.insert(format!("{RESERVED_PREFIX}ORG"), org.to_owned());
        values.insert(format!("{RESERVED_PREFIX}STACK"), stack.to_owned());
        Self { values }
    }

    /// Sets a variable (a stack parameter, typically). Names starting with `WINDLASS_` are
    /// reserved for the engine and refused; `field` says where the name came from in that
    /// error (e.g. `params.WINDLASS_ORG`).
    pub fn insert(
        &mut self,
        field: &str,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), StackError> {
        let name = name.into();
        if name.starts_with(RESERVED_PREFIX) {
            return Err(StackError::ReservedVariable {
                field: field.to_owned(),
            });
        }
        self.values.insert(name, value.into());
        Ok(())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The names of the variables that are set, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variables")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Escapes `text` so that interpolation yields it unchanged: every `$` becomes `$$`.
pub fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// Interpolates `value` (found at `field`, which every error names) with `vars`.
pub fn interpolate(field: &str, value: &str, vars: &Variables) -> Result<String, StackError> {
    let parts = parse(field, value)?;
    let mut out = String::with_capacity(value.len());
    eval(field, &parts, vars, &mut out)?;
    Ok(out)
}

/// Checks the syntax of `value` without evaluating it (no variables needed).
pub(crate) fn check_syntax(field: &str, value: &str) -> Result<(), StackError> {
    parse(field, value).map(drop)
}

/// A parsed value.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    /// Text taken as it is (a `$$` contributes a `$` part).
    Text(&'a str),
    /// `${NAME…}`.
    Var {
        name: &'a str,
        modifier: Modifier<'a>,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum Modifier<'a> {
    /// `${NAME}`.
    None,
    /// `${NAME:-default}`.
    Default(Vec<Part<'a>>),
    /// `${NAME:?message}`.
    Required(&'a str),
}

fn parse<'a>(field: &str, value: &'a str) -> Result<Vec<Part<'a>>, StackError> {
    let mut parser = Parser {
        field,
        value,
        bytes: value.as_bytes(),
        at: 0,
    };
    parser.parts(None)
}

/// A recursive-descent parser over the bytes of a value. Every token it looks for is ASCII,
/// so each index it slices at is a character boundary.
struct Parser<'f, 'a> {
    field: &'f str,
    value: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'_, 'a> {
    /// Parts up to the end, or — inside a default opened at byte `open` — up to and including
    /// the `}` that closes it.
    fn parts(&mut self, open: Option<usize>) -> Result<Vec<Part<'a>>, StackError> {
        let mut parts = Vec::new();
        let mut text_from = self.at;
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                if let Some(open) = open {
                    return Err(self.error(open, "unterminated `${`: no closing `}`"));
                }
                push_text(&mut parts, &self.value[text_from..self.at]);
                return Ok(parts);
            };
            match byte {
                b'}' if open.is_some() => {
                    push_text(&mut parts, &self.value[text_from..self.at]);
                    self.at += 1;
                    return Ok(parts);
                }
                b'$' => {
                    push_text(&mut parts, &self.value[text_from..self.at]);
                    match self.bytes.get(self.at + 1) {
                        Some(b'$') => {
                            parts.push(Part::Text("$"));
                            self.at += 2;
                        }
                        Some(b'{') => parts.push(self.variable()?),
                        _ => {
                            return Err(self.error(
                                self.at,
                                "a lone `$`: write `$$` for a literal dollar or `${NAME}` for a variable",
                            ));
                        }
                    }
                    text_from = self.at;
                }
                _ => self.at += 1,
            }
        }
    }

    /// `${NAME…}` starting at the `$`.
    fn variable(&mut self) -> Result<Part<'a>, StackError> {
        let open = self.at;
        self.at += 2;
        let name_from = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.at += 1;
        }
        let name = &self.value[name_from..self.at];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error(
                open,
                "`${` must be followed by a variable name: ASCII letters, digits and `_`, not starting with a digit",
            ));
        }
        let modifier = match (self.bytes.get(self.at), self.bytes.get(self.at + 1)) {
            (Some(b'}'), _) => {
                self.at += 1;
                Modifier::None
            }
            (Some(b':'), Some(b'-')) => {
                self.at += 2;
                Modifier::Default(self.parts(Some(open))?)
            }
            (Some(b':'), Some(b'?')) => {
                self.at += 2;
                let from = self.at;
                let Some(len) = self.value[from..].find('}') else {
                    return Err(self.error(open, "unterminated `${`: no closing `}`"));
                };
                self.at = from + len + 1;
                Modifier::Required(&self.value[from..from + len])
            }
            (None, _) => return Err(self.error(open, "unterminated `${`: no closing `}`")),
            _ => {
                return Err(self.error(
                    self.at,
                    &format!(
                        "unsupported form after `${{{name}`: use ${{{name}}}, ${{{name}:-default}} or ${{{name}:?message}}"
                    ),
                ));
            }
        };
        Ok(Part::Var { name, modifier })
    }

    fn error(&self, byte: usize, message: &str) -> StackError {
        StackError::Syntax {
            field: self.field.to_owned(),
            position: self.value[..byte].chars().count() + 1,
            message: message.to_owned(),
        }
    }
}

fn push_text<'a>(parts: &mut Vec<Part<'a>>, text: &'a str) {
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
}

fn eval(
    field: &str,
    parts: &[Part<'_>],
    vars: &Variables,
    out: &mut String,
) -> Result<(), StackError> {
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Var { name, modifier } => {
                let set = vars.get(name);
                match (modifier, set) {
                    (Modifier::None, Some(value)) => out.push_str(value),
                    (Modifier::None, None) => {
                        return Err(StackError::UnknownVariable {
                            field: field.to_owned(),
                            variable: (*name).to_owned(),
                            known: vars.names().map(str::to_owned).collect(),
                        });
                    }
                    (Modifier::Default(_) | Modifier::Required(_), Some(value))
                        if !value.is_empty() =>
                    {
                        out.push_str(value)
                    }
                    (Modifier::Default(default), _) => eval(field, default, vars, out)?,
                    (Modifier::Required(message), _) => {
                        return Err(StackError::RequiredVariable {
                            field: field.to_owned(),
                            variable: (*name).to_owned(),
                            message: if message.is_empty() {
                                "it must be set and non-empty".to_owned()
                            } else {
                                (*message).to_owned()
                            },
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars() -> Variables {
        let mut vars = Variables::for_stack("acme", "shop");
        for (name, value) in [
            ("db_password", "s3cret"),
            ("EMPTY", ""),
            ("DOLLARS", "a$b${c}"),
            ("_under", "u"),
        ] {
            vars.insert("test", name, value).unwrap();
        }
        vars
    }

    fn ok(value: &str) -> String {
        interpolate("env.X", value, &vars()).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    fn err(value: &str) -> StackError {
        interpolate("env.X", value, &vars()).expect_err(value)
    }

    #[test]
    fn variables_are_substituted() {
        assert_eq!(
            ok("postgres://app:${db_password}@db/app"),
            "postgres://app:s3cret@db/app"
        );
        assert_eq!(ok("${WINDLASS_ORG}/${WINDLASS_STACK}"), "acme/shop");
        assert_eq!(ok("${_under}${_under}"), "uu");
        assert_eq!(
            ok("[${EMPTY}]"),
            "[]",
            "a set empty variable is empty, not an error"
        );
        assert_eq!(
            ok("plain text, {braces} and } alone"),
            "plain text, {braces} and } alone"
        );
        assert_eq!(ok(""), "");
        assert_eq!(ok("ünïcødé ${_under} ✓"), "ünïcødé u ✓");
    }

    #[test]
    fn substituted_values_are_not_interpolated_again() {
        assert_eq!(ok("${DOLLARS}"), "a$b${c}");
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("pa$$word"), "pa$word");
        assert_eq!(ok("$${db_password}"), "${db_password}");
        assert_eq!(ok("$$$${_under}"), "$${_under}");
        assert_eq!(ok("$$${_under}"), "$u");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(ok("${MISSING:-fallback}"), "fallback");
        assert_eq!(ok("${EMPTY:-fallback}"), "fallback");
        assert_eq!(ok("${db_password:-fallback}"), "s3cret");
        assert_eq!(ok("${MISSING:-}"), "", "an explicit empty default");
        assert_eq!(
            ok("${MISSING:-${_under}-x}"),
            "u-x",
            "defaults are interpolated"
        );
        assert_eq!(ok("${MISSING:-${ALSO_MISSING:-deep}}"), "deep");
        assert_eq!(ok("${MISSING:-cost $$5}"), "cost $5");
        assert_eq!(ok("${MISSING:-a:b-c?d}"), "a:b-c?d");
    }

    #[test]
    fn an_unused_default_is_not_evaluated() {
        assert_eq!(ok("${db_password:-${MISSING}}"), "s3cret");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        assert_eq!(ok("${db_password:?set a password}"), "s3cret");
        let error = err("${MISSING:?set a password}");
        assert_eq!(
            error,
            StackError::RequiredVariable {
                field: "env.X".into(),
                variable: "MISSING".into(),
                message: "set a password".into()
            }
        );
        assert_eq!(
            error.to_string(),
            "env.X: variable MISSING is required: set a password"
        );
        assert!(matches!(
            err("${EMPTY:?}"),
            StackError::RequiredVariable { .. }
        ));
    }

    #[test]
    fn an_unknown_variable_names_itself_the_field_and_what_is_set() {
        let error = err("x${DB_HOST}y");
        assert_eq!(
            error.to_string(),
            "env.X: variable DB_HOST is not set and has no default (use ${DB_HOST:-default} for \
             one; set: DOLLARS, EMPTY, WINDLASS_ORG, WINDLASS_STACK, _under, db_password)"
        );
        assert!(
            !error.to_string().contains("s3cret"),
            "values are never listed"
        );
    }

    #[test]
    fn malformed_dollars_are_errors_with_their_position() {
        let cases = [
            ("$", 1, "lone `$`"),
            ("cost $5", 6, "lone `$`"),
            ("$HOME", 1, "lone `$`"),
            ("ab${", 3, "variable name"),
            ("${}", 1, "variable name"),
            ("${1A}", 1, "variable name"),
            ("${A", 1, "unterminated"),
            ("x${A:-b", 2, "unterminated"),
            ("${A:-${B}", 1, "unterminated"),
            ("${A:?msg", 1, "unterminated"),
            ("${A-b}", 4, "unsupported form"),
            ("${A:=b}", 4, "unsupported form"),
            ("${A.B}", 4, "unsupported form"),
            ("ü$", 2, "lone `$`"),
            ("${A:-$x}", 6, "lone `$`"),
        ];
        for (value, position, message) in cases {
            match err(value) {
                StackError::Syntax {
                    field,
                    position: at,
                    message: text,
                } => {
                    assert_eq!(field, "env.X", "{value:?}");
                    assert_eq!(at, position, "{value:?}: {text}");
                    assert!(text.contains(message), "{value:?}: {text}");
                }
                other => panic!("{value:?}: {other}"),
            }
            assert!(check_syntax("env.X", value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn syntax_is_checked_without_variables() {
        assert_eq!(check_syntax("f", "${UNSET} and ${X:-y} and $$"), Ok(()));
        assert!(check_syntax("f", "oops $").is_err());
    }

    #[test]
    fn engine_names_are_reserved() {
        let mut vars = Variables::for_stack("acme", "shop");
        assert_eq!(
            vars.insert("params.WINDLASS_ORG", "WINDLASS_ORG", "evil"),
            Err(StackError::ReservedVariable {
                field: "params.WINDLASS_ORG".into()
            })
        );
        assert_eq!(vars.get("WINDLASS_ORG"), Some("acme"));
        assert!(!format!("{vars:?}").contains("acme"), "{vars:?}");
    }

    proptest! {
        #[test]
        fn interpolation_never_panics(value in any::<String>()) {
            let _ = interpolate("f", &value, &vars());
        }

        #[test]
        fn near_miss_syntax_never_panics(value in "[$\\{\\}:?\\-A_1é ]{0,24}") {
            if let Ok(out) = interpolate("f", &value, &vars()) {
                // Whatever succeeds had its syntax accepted too.
                prop_assert!(check_syntax("f", &value).is_ok());
                // No variable of `vars()` can be spelt with these characters, so the output is
                // made of pieces of the input only.
                prop_assert!(out.len() <= value.len());
            }
        }

        #[test]
        fn escaped_text_round_trips(text in any::<String>()) {
            prop_assert_eq!(interpolate("f", &escape(&text), &Variables::new()), Ok(text));
        }

        #[test]
        fn text_without_dollars_is_unchanged(text in "[^$]*") {
            prop_assert_eq!(interpolate("f", &text, &Variables::new()), Ok(text.clone()));
        }

        #[test]
        fn values_are_inserted_verbatim(value in any::<String>()) {
            let mut vars = Variables::new();
            vars.insert("f", "V", value.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(interpolate("f", "${V}", &vars), Ok(value));
        }
    }
}
