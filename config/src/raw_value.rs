//! A value of a plugin's `config` or a stack's `params`: a string, or a reference to a secret
//! (`{ secret = "NAME" }`, with `org = "ORG"` where the owner is not implied).
//!
//! Hand-written rather than an untagged enum: serde's untagged enums buffer the value and lose
//! the spans that errors point at.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// A value as written.
#[derive(Debug)]
pub(crate) enum RawValue {
    /// A literal string.
    Text(String),
    /// A reference to a secret in the store.
    Secret(RawSecretRef),
}

/// `{ secret = "NAME", org = "ORG" }`.
#[derive(Debug)]
pub(crate) struct RawSecretRef {
    pub secret: Spanned<String>,
    pub org: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The same words as a plain string field, so the runner's hint about quoting applies.
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Text(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut secret = None;
        let mut org = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "secret" if secret.is_none() => secret = Some(map.next_value()?),
                "org" if org.is_none() => org = Some(map.next_value()?),
                "secret" | "org" => return Err(de::Error::duplicate_field("secret")),
                other => return Err(de::Error::unknown_field(other, &["secret", "org"])),
            }
        }
        let secret = secret.ok_or_else(|| {
            de::Error::custom(
                "a table here is a secret reference and needs `secret = \"NAME\"` (a string value \
                 is written in quotes)",
            )
        })?;
        Ok(RawValue::Secret(RawSecretRef { secret, org }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        config: BTreeMap<String, Spanned<RawValue>>,
    }

    #[test]
    fn strings_and_secret_references() {
        let doc: Doc = toml::from_str(
            "config = { url = \"https://x\", token = { secret = \"cpln-token\", org = \"ops\" } }",
        )
        .unwrap();
        assert!(matches!(doc.config["url"].get_ref(), RawValue::Text(t) if t == "https://x"));
        let RawValue::Secret(r) = doc.config["token"].get_ref() else {
            panic!("not a reference")
        };
        assert_eq!(r.secret.get_ref(), "cpln-token");
        assert_eq!(r.org.as_ref().unwrap().get_ref(), "ops");
        assert!(r.secret.span().start > 0);
        for (bad, why) in [
            ("config = { a = 2 }", "expected a string"),
            ("config = { a = { name = \"x\" } }", "unknown field `name`"),
            (
                "config = { a = { org = \"x\" } }",
                "needs `secret = \"NAME\"`",
            ),
        ] {
            let error = toml::from_str::<Doc>(bad).err().unwrap().to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
