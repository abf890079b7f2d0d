//! The contract check: which world a component implements and which version of
//! `windlass:plugin` it was built against.
//!
//! A component built with the SDK exports exactly one interface of the package, named with the
//! version it was built against, e.g. `windlass:plugin/billing@0.1.0`. That name tells the
//! kind and the version at once, before anything is linked or run.

use semver::Version;

use crate::{LoadError, PluginKind};

/// The newest version of `windlass:plugin` this host implements (the `package` line of
/// `wit/0.2.0/`). Its types are the host's public types.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Every contract version this host loads components of, oldest first. A component's version
/// must have one of these major.minor pairs (any patch).
pub const SUPPORTED_CONTRACT_VERSIONS: [&str; 2] = ["0.1.0", CONTRACT_VERSION];

const PACKAGE_PREFIX: &str = "windlass:plugin/";

/// What the contract check found in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContractInfo {
    pub kind: PluginKind,
    pub version: Version,
}

/// Finds the plugin kind and contract version among a component's export names, and checks the
/// version against the host's.
pub(crate) fn check<'a>(
    plugin: &str,
    export_names: impl IntoIterator<Item = &'a str>,
) -> Result<ContractInfo, LoadError> {
    let host_version = host_version();
    let mut found: Vec<(PluginKind, Version)> = Vec::new();
    let mut all_exports = Vec::new();
    for name in export_names {
        all_exports.push(name.to_owned());
        let Some(rest) = name.strip_prefix(PACKAGE_PREFIX) else {
            continue;
        };
        let (interface, version) = match rest.split_once('@') {
            Some((interface, version)) => (interface, Version::parse(version).ok()),
            None => (rest, None),
        };
        let Some(kind) = PluginKind::ALL
            .into_iter()
            .find(|k| k.interface() == interface)
        else {
            continue;
        };
        let version = version.ok_or_else(|| LoadError::IncompatibleContract {
            plugin: plugin.to_owned(),
            plugin_version: Version::new(0, 0, 0),
            host_version: host_version.clone(),
            reason: "the plugin's export carries no version",
        })?;
        found.push((kind, version));
    }

    let (kind, version) = match found.as_slice() {
        [] => {
            return Err(LoadError::NotAPlugin {
                plugin: plugin.to_owned(),
                exports: all_exports.join(", "),
            });
        }
        [one] => one.clone(),
        several => {
            let kinds: Vec<&str> = several.iter().map(|(k, _)| k.as_str()).collect();
            return Err(LoadError::SeveralKinds {
                plugin: plugin.to_owned(),
                kinds: kinds.join(", "),
            });
        }
    };

    if let Some(reason) = incompatibility(&version, &host_version) {
        return Err(LoadError::IncompatibleContract {
            plugin: plugin.to_owned(),
            plugin_version: version,
            host_version,
            reason,
        });
    }
    Ok(ContractInfo { kind, version })
}

/// The host's contract version, parsed.
pub(crate) fn host_version() -> Version {
    Version::parse(CONTRACT_VERSION).expect("CONTRACT_VERSION is valid semver")
}

/// Why a plugin built against `plugin` cannot run on this host, if it cannot.
///
/// The rule: the host implements each version in [`SUPPORTED_CONTRACT_VERSIONS`] side by side,
/// and a plugin must have been built against one of their major.minor pairs; patch versions
/// never matter. Pre-1.0, a minor version is a breaking one (as Cargo reads semver), which is
/// why the host keeps one set of bindings per minor version rather than one per major.
fn incompatibility(plugin: &Version, host: &Version) -> Option<&'static str> {
    let supported = SUPPORTED_CONTRACT_VERSIONS
        .iter()
        .map(|v| Version::parse(v).expect("supported versions are valid semver"));
    let mut same_major = false;
    for version in supported {
        if version.major == plugin.major && version.minor == plugin.minor {
            return None;
        }
        same_major |= version.major == plugin.major;
    }
    if !same_major {
        Some("the major versions differ")
    } else if plugin.minor > host.minor {
        Some("the plugin needs a newer minor version of the contract than this host has")
    } else {
        Some("this host no longer implements that minor version of the contract")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kind_and_version() {
        let info = check("p", ["wasi:cli/run@0.2.0", "windlass:plugin/billing@0.1.0"]).unwrap();
        assert_eq!(info.kind, PluginKind::BillingRule);
        assert_eq!(info.version, Version::new(0, 1, 0));
    }

    #[test]
    fn refuses_other_major_naming_both_versions() {
        let err = check("old", ["windlass:plugin/template@1.0.0"]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`old`"), "{message}");
        assert!(message.contains("windlass:plugin@1.0.0"), "{message}");
        assert!(
            message.contains(&format!("windlass:plugin@{CONTRACT_VERSION}")),
            "{message}"
        );
    }

    #[test]
    fn accepts_both_minors_refuses_newer_minor_accepts_newer_patch() {
        for version in ["0.1.0", "0.1.7", "0.2.0", "0.2.3"] {
            let info = check("p", [format!("windlass:plugin/adapter@{version}").as_str()])
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(info.version, Version::parse(version).unwrap());
        }
        for version in ["0.3.0", "0.0.9", "1.0.0", "1.2.0"] {
            assert!(
                matches!(
                    check("p", [format!("windlass:plugin/adapter@{version}").as_str()]),
                    Err(LoadError::IncompatibleContract { .. })
                ),
                "{version} accepted"
            );
        }
        let err = check("p", ["windlass:plugin/adapter@0.3.0"]).unwrap_err();
        assert!(err.to_string().contains("newer minor"), "{err}");
    }

    #[test]
    fn refuses_components_that_are_not_plugins() {
        let err = check("x", ["wasi:cli/run@0.2.0"]).unwrap_err();
        assert!(matches!(err, LoadError::NotAPlugin { .. }));
        assert!(err.to_string().contains("wasi:cli/run@0.2.0"));
        let err = check(
            "x",
            [
                "windlass:plugin/billing@0.1.0",
                "windlass:plugin/build@0.1.0",
            ],
        );
        assert!(matches!(err, Err(LoadError::SeveralKinds { .. })));
    }
}
