//! `[billing]` and `[quotas]`: which billing-rule plugin prices which org, the billing
//! period, grace and its policy, and each org's limits (defaults, then `[quotas.orgs.NAME]`
//! key by key).

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use windlass::billing::{GracePolicy, QuotaFailurePolicy, Quotas};
use windlass::plugins::PluginKind;

use super::ConfigError;
use super::check::Checker;
use super::raw::{RawBilling, RawQuotaLimits, RawQuotas};
use super::types::{BillingSection, PluginConfig, QuotasSection};

/// The default billing period.
const DEFAULT_CYCLE: Duration = Duration::from_secs(3600);
/// The default metering interval.
const DEFAULT_METERING: Duration = Duration::from_secs(60);
/// The default grace period.
const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// `[billing]`.
pub(super) fn billing(
    c: &Checker<'_>,
    raw: Option<RawBilling>,
    plugins: &[PluginConfig],
) -> Result<BillingSection, ConfigError> {
    let Some(raw) = raw else {
        return Ok(BillingSection {
            rule: None,
            orgs: BTreeMap::new(),
            cycle: DEFAULT_CYCLE,
            metering_interval: DEFAULT_METERING,
            grace: DEFAULT_GRACE,
            on_grace_end: GracePolicy::Stop,
            on_plugin_failure: QuotaFailurePolicy::Deny,
            currency: "EUR".to_owned(),
            opening_balance_minor: 0,
        });
    };
    let rule_ref = |value: &Spanned<String>, key: &str| -> Result<String, ConfigError> {
        let name = value.get_ref();
        let rules: Vec<String> = plugins
            .iter()
            .filter(|p| p.kind == PluginKind::BillingRule)
            .map(|p| format!("\"{}\"", p.name))
            .collect();
        let available = if rules.is_empty() {
            "this file has no billing-rule plugins".to_owned()
        } else {
            format!("billing rules here: {}", rules.join(", "))
        };
        match plugins.iter().find(|p| &p.name == name) {
            Some(p) if p.kind == PluginKind::BillingRule => Ok(name.clone()),
            Some(p) => Err(ConfigError::Reference {
                at: c.at(&value.span()),
                key: key.to_owned(),
                message: format!(
                    "plugin \"{name}\" is a {}, not a billing-rule ({available})",
                    p.kind
                ),
            }),
            None => Err(ConfigError::Reference {
                at: c.at(&value.span()),
                key: key.to_owned(),
                message: format!("no plugin named \"{name}\" ({available})"),
            }),
        }
    };
    let rule = raw
        .rule
        .as_ref()
        .map(|r| rule_ref(r, "billing.rule"))
        .transpose()?;
    let mut orgs = BTreeMap::new();
    for (org, value) in &raw.orgs {
        let key = format!("billing.orgs.{org}");
        windlass::validate_name(&key, org)
            .map_err(|e| c.invalid(&value.span(), &key, e.message))?;
        orgs.insert(org.clone(), rule_ref(value, &key)?);
    }
    let duration = |value: &Option<Spanned<String>>, key: &str, default| match value {
        Some(v) => c.duration(v, key),
        None => Ok(default),
    };
    let on_grace_end = match &raw.on_grace_end {
        None => GracePolicy::Stop,
        Some(v) => match v.get_ref().as_str() {
            "stop" => GracePolicy::Stop,
            "none" => GracePolicy::None,
            other => {
                return Err(c.invalid(
                    &v.span(),
                    "billing.on_grace_end",
                    format!("unknown policy \"{other}\": use \"stop\" or \"none\""),
                ));
            }
        },
    };
    let on_plugin_failure = match &raw.on_plugin_failure {
        None => QuotaFailurePolicy::Deny,
        Some(v) => match v.get_ref().as_str() {
            "deny" => QuotaFailurePolicy::Deny,
            "allow" => QuotaFailurePolicy::Allow,
            other => {
                return Err(c.invalid(
                    &v.span(),
                    "billing.on_plugin_failure",
                    format!("unknown policy \"{other}\": use \"deny\" or \"allow\""),
                ));
            }
        },
    };
    let currency = match &raw.currency {
        None => "EUR".to_owned(),
        Some(v) => {
            let code = v.get_ref();
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(c.invalid(
                    &v.span(),
                    "billing.currency",
                    format!("\"{code}\" is not an ISO 4217 code: write three capital letters, e.g. \"EUR\""),
                ));
            }
            code.clone()
        }
    };
    Ok(BillingSection {
        rule,
        orgs,
        cycle: duration(&raw.cycle, "billing.cycle", DEFAULT_CYCLE)?,
        metering_interval: duration(
            &raw.metering_interval,
            "billing.metering_interval",
            DEFAULT_METERING,
        )?,
        grace: duration(&raw.grace, "billing.grace", DEFAULT_GRACE)?,
        on_grace_end,
        on_plugin_failure,
        currency,
        opening_balance_minor: raw.opening_balance_minor.map_or(0, |v| *v.get_ref()),
    })
}

/// `[quotas]`.
pub(super) fn quotas(
    c: &Checker<'_>,
    raw: Option<RawQuotas>,
) -> Result<QuotasSection, ConfigError> {
    let Some(raw) = raw else {
        return Ok(QuotasSection::default());
    };
    let default = limits(c, &raw.defaults(), "quotas", &Quotas::default())?;
    let mut orgs = BTreeMap::new();
    for (org, value) in &raw.orgs {
        let key = format!("quotas.orgs.{org}");
        windlass::validate_name(&key, org)
            .map_err(|e| c.invalid(&value.span(), &key, e.message))?;
        orgs.insert(org.clone(), limits(c, value.get_ref(), &key, &default)?);
    }
    Ok(QuotasSection { default, orgs })
}

/// One set of limits over `base` (what it does not say, `base` says).
fn limits(
    c: &Checker<'_>,
    raw: &RawQuotaLimits,
    prefix: &str,
    base: &Quotas,
) -> Result<Quotas, ConfigError> {
    let mut quotas = base.clone();
    if let Some(v) = &raw.cpu {
        let key = format!("{prefix}.cpu");
        let cpu: windlass::resources::CpuMillis = v.get_ref().parse().map_err(|e| {
            c.invalid(
                &v.span(),
                &key,
                format!("{e} (write cores, e.g. \"4\" or \"500m\")"),
            )
        })?;
        quotas.cpu_millis = Some(u64::from(cpu.millis()));
    }
    for (value, field, slot) in [
        (&raw.memory, "memory", &mut quotas.memory_bytes),
        (&raw.disk, "disk", &mut quotas.disk_bytes),
    ] {
        if let Some(v) = value {
            let key = format!("{prefix}.{field}");
            let bytes: windlass::resources::MemoryBytes = v.get_ref().parse().map_err(|e| {
                c.invalid(&v.span(), &key, format!("{e} (write bytes, e.g. \"8Gi\")"))
            })?;
            *slot = Some(bytes.bytes());
        }
    }
    if let Some(v) = &raw.containers {
        quotas.containers = Some(*v.get_ref());
    }
    if let Some(v) = &raw.services {
        quotas.services = Some(*v.get_ref());
    }
    if let Some(v) = &raw.monthly_spend_minor {
        quotas.monthly_spend_minor = Some(*v.get_ref());
    }
    Ok(quotas)
}
