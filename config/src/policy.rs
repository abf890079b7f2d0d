//! `[policy]`: the operator's limits on tenant services, validated into a
//! [`windlass::policy::Policy`]. Every error names the file, line and key.

use std::ops::Range;

use toml::Spanned;
use windlass::policy::{OrgPolicy, Policy};
use windlass::resources::MemoryBytes;

use super::ConfigError;
use super::check::Checker;
use super::raw::RawPolicy;

/// The most processes a limit may name.
const MAX_PIDS: u64 = 1 << 22;

/// `[policy]`, or the defaults when the file has none.
pub(crate) fn policy(c: &Checker<'_>, raw: Option<RawPolicy>) -> Result<Policy, ConfigError> {
    let mut policy = Policy::default();
    let Some(raw) = raw else {
        return Ok(policy);
    };
    let pids = |value: &Spanned<u64>, key: &str| c.bounded(value, key, 1, MAX_PIDS, " processes");
    if let Some(value) = &raw.max_pids_limit {
        policy.max_pids_limit =
            u32::try_from(pids(value, "policy.max_pids_limit")?).unwrap_or(u32::MAX);
    }
    if let Some(value) = &raw.pids_limit {
        let n = pids(value, "policy.pids_limit")?;
        below(
            c,
            value.span(),
            "policy.pids_limit",
            n,
            u64::from(policy.max_pids_limit),
            "max_pids_limit",
        )?;
        policy.defaults.pids_limit = i64::try_from(n).ok();
    } else if let Some(default) = policy.defaults.pids_limit {
        // A lowered maximum lowers the default with it.
        policy.defaults.pids_limit = Some(default.min(i64::from(policy.max_pids_limit)));
    }
    let size = |value: &Spanned<String>, key: &str| -> Result<u64, ConfigError> {
        value
            .get_ref()
            .parse::<MemoryBytes>()
            .map(MemoryBytes::bytes)
            .map_err(|e| c.invalid(&value.span(), key, format!("{e}")))
    };
    if let Some(value) = &raw.max_log_size {
        policy.max_log_size = size(value, "policy.max_log_size")?;
    }
    if let Some(value) = &raw.log_max_size {
        let n = size(value, "policy.log_max_size")?;
        below(
            c,
            value.span(),
            "policy.log_max_size",
            n,
            policy.max_log_size,
            "max_log_size",
        )?;
        policy.defaults.log_max_size = Some(n);
    } else if let Some(default) = policy.defaults.log_max_size {
        policy.defaults.log_max_size = Some(default.min(policy.max_log_size));
    }
    let files = |value: &Spanned<u64>, key: &str| c.bounded(value, key, 1, 1000, " files");
    if let Some(value) = &raw.max_log_files {
        policy.max_log_files = u32::try_from(files(value, "policy.max_log_files")?).unwrap_or(1000);
    }
    if let Some(value) = &raw.log_max_files {
        let n = files(value, "policy.log_max_files")?;
        below(
            c,
            value.span(),
            "policy.log_max_files",
            n,
            u64::from(policy.max_log_files),
            "max_log_files",
        )?;
        policy.defaults.log_max_files = u32::try_from(n).ok();
    } else if let Some(default) = policy.defaults.log_max_files {
        policy.defaults.log_max_files = Some(default.min(policy.max_log_files));
    }
    if let Some(value) = raw.no_new_privileges {
        policy.defaults.no_new_privileges = value;
    }
    if let Some(value) = raw.allow_new_privileges {
        policy.allow_new_privileges = value;
    }
    if let Some(value) = raw.read_only_root {
        policy.defaults.read_only_root = value;
    }
    if let Some(images) = &raw.images {
        policy.other_orgs.images = patterns(c, images, "policy.images")?;
    }
    if let Some(value) = raw.host_ports {
        policy.other_orgs.host_ports = value;
    }
    for (org, rules) in &raw.orgs {
        let key = format!("policy.orgs.{}", org.get_ref());
        c.name(org, &key)?;
        let images = match &rules.images {
            Some(images) => patterns(c, images, &format!("{key}.images"))?,
            None => policy.other_orgs.images.clone(),
        };
        let host_ports = rules.host_ports.unwrap_or(policy.other_orgs.host_ports);
        policy
            .orgs
            .insert(org.get_ref().clone(), OrgPolicy::new(images, host_ports));
    }
    Ok(policy)
}

/// A default must not exceed its limit.
fn below(
    c: &Checker<'_>,
    span: Range<usize>,
    key: &str,
    value: u64,
    limit: u64,
    limit_key: &str,
) -> Result<(), ConfigError> {
    if value > limit {
        return Err(c.invalid(
            &span,
            key,
            format!("{value} is above policy.{limit_key} ({limit})"),
        ));
    }
    Ok(())
}

/// Image patterns: not empty, no spaces.
fn patterns(
    c: &Checker<'_>,
    images: &[Spanned<String>],
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let text = image.get_ref();
            if text.is_empty() || text.chars().any(char::is_whitespace) {
                Err(c.invalid(
                    &image.span(),
                    &format!("{key}[{i}]"),
                    "an image pattern is a reference with `*` wildcards, without spaces, e.g. \"local/*\"",
                ))
            } else {
                Ok(text.clone())
            }
        })
        .collect()
}
