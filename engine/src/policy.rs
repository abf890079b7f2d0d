//! The operator's policy for tenant services: which images an org may run, whether it may
//! publish ports on the host, and how far a service may loosen the hardening of its
//! containers ([`Hardening`]).
//!
//! A service says what it wants in [`ServiceSpec::hardening`](crate::ServiceSpec::hardening)
//! ([`HardeningSpec`]); what it leaves unset comes from the policy's defaults. A service outside
//! the policy is refused when it is applied or deployed ([`PolicyDenied`], naming the rule),
//! before anything is stored. The policy decides; it must not talk to Docker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ServiceSpec;
use crate::resources::MemoryBytes;
use crate::runtime::Hardening;

/// What a service asks of its containers' hardening; unset fields take the operator's
/// defaults. Written `[services.hardening]` in a stack file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HardeningSpec {
    /// Mount the root filesystem read-only (volumes stay writable). Default: no.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root: bool,
    /// The most processes per container (default and maximum: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<u32>,
    /// `false` lets setuid binaries gain privileges; only where the operator allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    /// The log size before rotation, like a memory size: `"10m"`, `"50Mi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_size: Option<String>,
    /// How many rotated log files are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_files: Option<u32>,
}

impl HardeningSpec {
    /// Whether nothing is asked (such a spec is left out of a service's JSON, so the revision
    /// of a service declared before hardening existed does not change).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the values alone (the policy's limits are checked at apply).
    pub(crate) fn validate(&self) -> Result<(), crate::SpecError> {
        if self.pids_limit == Some(0) {
            return Err(crate::SpecError::new(
                "hardening.pids_limit",
                "at least 1 process",
            ));
        }
        if let Some(size) = &self.log_max_size {
            size.parse::<MemoryBytes>()
                .map_err(|e| crate::SpecError::new("hardening.log_max_size", format!("{e}")))?;
        }
        if self.log_max_files == Some(0) {
            return Err(crate::SpecError::new(
                "hardening.log_max_files",
                "at least 1 file",
            ));
        }
        Ok(())
    }
}

/// What one org (or every org not named) may deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrgPolicy {
    /// Image patterns the org may run; `*` matches any run of characters (`local/*`,
    /// `*/postgres:16`). Default: `["*"]`, any local image.
    pub images: Vec<String>,
    /// Whether its services may publish ports on the host. Default: yes.
    pub host_ports: bool,
}

impl Default for OrgPolicy {
    fn default() -> Self {
        Self {
            images: vec!["*".to_owned()],
            host_ports: true,
        }
    }
}

impl OrgPolicy {
    /// An org policy allowing `images` and, if `host_ports`, host ports.
    pub fn new(images: Vec<String>, host_ports: bool) -> Self {
        Self { images, host_ports }
    }
}

/// The operator's policy: defaults and limits for hardening, and per-org rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The hardening a service gets where it asks nothing.
    pub defaults: Hardening,
    /// The most processes a service may ask for.
    pub max_pids_limit: u32,
    /// The largest log a service may ask for, in bytes.
    pub max_log_size: u64,
    /// The most log files a service may ask for.
    pub max_log_files: u32,
    /// Whether a service may turn `no_new_privileges` off.
    pub allow_new_privileges: bool,
    /// The rules of the orgs named in the config.
    pub orgs: BTreeMap<String, OrgPolicy>,
    /// The rules of every other org.
    pub other_orgs: OrgPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            defaults: Hardening::default(),
            max_pids_limit: 4096,
            max_log_size: 100 << 20,
            max_log_files: 10,
            allow_new_privileges: false,
            orgs: BTreeMap::new(),
            other_orgs: OrgPolicy::default(),
        }
    }
}

/// A service the policy does not allow: the rule (a config key, e.g.
/// `policy.orgs.globex.images`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by {rule}: {message}")]
pub struct PolicyDenied {
    /// The rule that refuses it, as the config file names it.
    pub rule: String,
    /// What the service asked and what the rule allows.
    pub message: String,
}

/// Whether `image` matches `pattern`, where `*` is any run of characters.
fn matches(pattern: &str, image: &str) -> bool {
    let mut regex = String::from("^");
    for (i, part) in pattern.split('*').enumerate() {
        if i > 0 {
            regex.push_str(".*");
        }
        regex.push_str(&regex::escape(part));
    }
    regex.push('$');
    regex::Regex::new(&regex).is_ok_and(|r| r.is_match(image))
}

impl Policy {
    /// The rules of `org`, and the config key they are written under.
    fn org(&self, org: &str) -> (&OrgPolicy, String) {
        match self.orgs.get(org) {
            Some(rules) => (rules, format!("policy.orgs.{org}")),
            None => (&self.other_orgs, "policy".to_owned()),
        }
    }

    /// Refuses a service of `org` the policy does not allow.
    pub fn check(&self, org: &str, spec: &ServiceSpec) -> Result<(), PolicyDenied> {
        let (rules, key) = self.org(org);
        if !rules.images.iter().any(|p| matches(p, &spec.image)) {
            return Err(PolicyDenied {
                rule: format!("{key}.images"),
                message: format!(
                    "service {} may not run image {:?}; org {org} may run {:?}",
                    spec.name, spec.image, rules.images
                ),
            });
        }
        if !rules.host_ports && !spec.ports.is_empty() {
            return Err(PolicyDenied {
                rule: format!("{key}.host_ports"),
                message: format!(
                    "service {} publishes ports on the host; org {org} may not",
                    spec.name
                ),
            });
        }
        let asked = &spec.hardening;
        if let Some(pids) = asked.pids_limit
            && pids > self.max_pids_limit
        {
            return Err(PolicyDenied {
                rule: "policy.max_pids_limit".to_owned(),
                message: format!(
                    "service {} asks for {pids} processes; at most {}",
                    spec.name, self.max_pids_limit
                ),
            });
        }
        if asked.no_new_privileges == Some(false) && !self.allow_new_privileges {
            return Err(PolicyDenied {
                rule: "policy.allow_new_privileges".to_owned(),
                message: format!(
                    "service {} turns no_new_privileges off; the operator does not allow it",
                    spec.name
                ),
            });
        }
        if let Some(size) = asked
            .log_max_size
            .as_deref()
            .and_then(|s| s.parse::<MemoryBytes>().ok())
            && size.bytes() > self.max_log_size
        {
            return Err(PolicyDenied {
                rule: "policy.max_log_size".to_owned(),
                message: format!(
                    "service {} asks for a log of {} bytes; at most {}",
                    spec.name,
                    size.bytes(),
                    self.max_log_size
                ),
            });
        }
        if let Some(files) = asked.log_max_files
            && files > self.max_log_files
        {
            return Err(PolicyDenied {
                rule: "policy.max_log_files".to_owned(),
                message: format!(
                    "service {} asks for {files} log files; at most {}",
                    spec.name, self.max_log_files
                ),
            });
        }
        Ok(())
    }

    /// The hardening of a service's containers: what it asks, else the defaults.
    pub fn hardening(&self, asked: &HardeningSpec) -> Hardening {
        let defaults = &self.defaults;
        Hardening {
            no_new_privileges: asked
                .no_new_privileges
                .unwrap_or(defaults.no_new_privileges),
            pids_limit: asked.pids_limit.map(i64::from).or(defaults.pids_limit),
            read_only_root: asked.read_only_root || defaults.read_only_root,
            log_max_size: asked
                .log_max_size
                .as_deref()
                .and_then(|s| s.parse::<MemoryBytes>().ok())
                .map(MemoryBytes::bytes)
                .or(defaults.log_max_size),
            log_max_files: asked.log_max_files.or(defaults.log_max_files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::PortSpec;

    #[test]
    fn images_match_patterns_with_stars() {
        assert!(matches("*", "anything:1"));
        assert!(matches("local/*", "local/web:1"));
        assert!(!matches("local/*", "evil/local/web:1"));
        assert!(matches("*/postgres:16", "local/postgres:16"));
        assert!(!matches("local/web:1", "local/web:10"));
        assert!(matches("a.b/*", "a.b/c") && !matches("a.b/*", "axb/c"));
    }

    #[test]
    fn services_outside_the_policy_are_refused_naming_the_rule() {
        let mut policy = Policy::default();
        policy.orgs.insert(
            "globex".into(),
            OrgPolicy::new(vec!["local/*".into()], false),
        );
        let ok = ServiceSpec::new("web", "local/web:1");
        assert_eq!(policy.check("globex", &ok), Ok(()));
        let denied = policy
            .check("globex", &ServiceSpec::new("web", "other/web:1"))
            .unwrap_err();
        assert_eq!(denied.rule, "policy.orgs.globex.images");
        let denied = policy
            .check("globex", &ok.clone().with_port(PortSpec::tcp(80)))
            .unwrap_err();
        assert_eq!(denied.rule, "policy.orgs.globex.host_ports");
        // Other orgs: the defaults allow both.
        assert_eq!(
            policy.check(
                "acme",
                &ServiceSpec::new("web", "other/web:1").with_port(PortSpec::tcp(80))
            ),
            Ok(())
        );
        let mut loose = ok.clone();
        loose.hardening.no_new_privileges = Some(false);
        assert_eq!(
            policy.check("globex", &loose).unwrap_err().rule,
            "policy.allow_new_privileges"
        );
        let mut many = ok.clone();
        many.hardening.pids_limit = Some(100_000);
        assert_eq!(
            policy.check("globex", &many).unwrap_err().rule,
            "policy.max_pids_limit"
        );
        let mut big = ok;
        big.hardening.log_max_size = Some("1g".into());
        assert_eq!(
            policy.check("globex", &big).unwrap_err().rule,
            "policy.max_log_size"
        );
    }

    #[test]
    fn unset_hardening_takes_the_defaults() {
        let policy = Policy::default();
        assert_eq!(
            policy.hardening(&HardeningSpec::default()),
            Hardening::default()
        );
        let asked = HardeningSpec {
            read_only_root: true,
            pids_limit: Some(64),
            log_max_size: Some("1m".into()),
            ..HardeningSpec::default()
        };
        let hardening = policy.hardening(&asked);
        assert!(hardening.read_only_root && hardening.no_new_privileges);
        assert_eq!(hardening.pids_limit, Some(64));
        assert_eq!(hardening.log_max_size, Some(1 << 20));
    }
}
