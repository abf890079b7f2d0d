//! `[[targets]]` (cloud adapter plugins under the operator's names; `local` is implicit),
//! `[inventory]` (how the inventory fetches and caches) and `[workers]` (how the heartbeat
//! watches the workers of targets that have some) and `[swarm]` (the embedded development
//! swarm).

use std::collections::HashMap;
use std::time::Duration;

use windlass::inventory::{InventoryConfig, RetryPolicy};
use windlass::plugins::PluginKind;

use super::ConfigError;
use super::check::Checker;
use super::raw::{RawInventory, RawSwarm, RawTarget, RawWorkers};
use super::types::{PluginConfig, SwarmSection, TargetConfig};

/// The most calls in flight an inventory may make.
const MAX_CONCURRENCY: u64 = 256;
/// The most attempts of a rate-limited call.
const MAX_ATTEMPTS: u64 = 20;

/// Every `[[targets]]` entry.
pub(super) fn targets(
    c: &Checker<'_>,
    raw: &[RawTarget],
    plugins: &[PluginConfig],
) -> Result<Vec<TargetConfig>, ConfigError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut targets = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let key = |field: &str| format!("targets[{i}].{field}");
        let name = c.name(&entry.name, &key("name"))?;
        if name == windlass::inventory::LOCAL_TARGET {
            return Err(c.invalid(
                &entry.name.span(),
                &key("name"),
                "\"local\" is the engine's own Docker target; it exists without an entry",
            ));
        }
        if let Some(first) = seen.get(&name) {
            return Err(ConfigError::Duplicate {
                at: c.at(&entry.name.span()),
                key: key("name"),
                message: format!("target name \"{name}\" is already used by targets[{first}]"),
            });
        }
        seen.insert(name.clone(), i);
        if let Some(kind) = &entry.kind
            && kind.get_ref() != "adapter"
        {
            return Err(c.invalid(
                &kind.span(),
                &key("kind"),
                format!(
                    "unknown target kind \"{}\" (expected \"adapter\"; the local target is implicit)",
                    kind.get_ref()
                ),
            ));
        }
        let plugin = entry.plugin.get_ref();
        let adapters: Vec<String> = plugins
            .iter()
            .filter(|p| p.kind == PluginKind::CloudAdapter)
            .map(|p| format!("\"{}\"", p.name))
            .collect();
        let available = if adapters.is_empty() {
            "this file has no cloud-adapter plugins".to_owned()
        } else {
            format!("cloud adapters here: {}", adapters.join(", "))
        };
        match plugins.iter().find(|p| &p.name == plugin) {
            None => {
                return Err(ConfigError::Reference {
                    at: c.at(&entry.plugin.span()),
                    key: key("plugin"),
                    message: format!("no plugin named \"{plugin}\" ({available})"),
                });
            }
            Some(p) if p.kind != PluginKind::CloudAdapter => {
                return Err(ConfigError::Reference {
                    at: c.at(&entry.plugin.span()),
                    key: key("plugin"),
                    message: format!(
                        "plugin \"{plugin}\" is a {}, not a cloud-adapter ({available})",
                        p.kind
                    ),
                });
            }
            Some(_) => {}
        }
        targets.push(TargetConfig {
            name,
            plugin: plugin.clone(),
            options: entry.options.clone(),
        });
    }
    Ok(targets)
}

/// `[inventory]`; what is not written keeps the engine's default.
pub(super) fn inventory(
    c: &Checker<'_>,
    raw: Option<&RawInventory>,
) -> Result<InventoryConfig, ConfigError> {
    let mut config = InventoryConfig::default();
    let Some(raw) = raw else {
        return Ok(config);
    };
    if let Some(n) = &raw.concurrency {
        let n = c.bounded(n, "inventory.concurrency", 1, MAX_CONCURRENCY, " calls")?;
        config = config.with_concurrency(usize::try_from(n).unwrap_or(1));
    }
    if let Some(ttl) = &raw.ttl {
        let ttl: Duration = if ttl.get_ref() == "0s" {
            Duration::ZERO
        } else {
            c.duration(ttl, "inventory.ttl")?
        };
        config = config.with_ttl(ttl);
    }
    if let Some(n) = &raw.max_attempts {
        let n = c.bounded(n, "inventory.max_attempts", 1, MAX_ATTEMPTS, " attempts")?;
        config = config.with_retry(RetryPolicy {
            max_attempts: u32::try_from(n).unwrap_or(1),
            ..RetryPolicy::default()
        });
    }
    Ok(config)
}

/// `[workers]`; what is not written keeps the engine's default (a poll every 30 s, unhealthy
/// after 120 s). A worker cannot be judged faster than it is polled, so `unhealthy_after` must
/// be at least `poll_interval`.
pub(super) fn workers(
    c: &Checker<'_>,
    raw: Option<&RawWorkers>,
) -> Result<windlass::workers::WorkersConfig, ConfigError> {
    let mut config = windlass::workers::WorkersConfig::default();
    let Some(raw) = raw else {
        return Ok(config);
    };
    if let Some(poll) = &raw.poll_interval {
        config.poll_interval = c.duration(poll, "workers.poll_interval")?;
    }
    if let Some(after) = &raw.unhealthy_after {
        config.unhealthy_after = c.duration(after, "workers.unhealthy_after")?;
    }
    if config.unhealthy_after < config.poll_interval {
        let at = raw
            .unhealthy_after
            .as_ref()
            .or(raw.poll_interval.as_ref())
            .map(toml::Spanned::span)
            .unwrap_or_default();
        return Err(c.invalid(
            &at,
            "workers.unhealthy_after",
            format!(
                "{:?} is shorter than workers.poll_interval ({:?}): a worker is judged at most once per poll",
                config.unhealthy_after, config.poll_interval
            ),
        ));
    }
    Ok(config)
}

/// `[swarm]`; what is not written keeps the default (not embedded, advertised on 127.0.0.1).
pub(super) fn swarm(c: &Checker<'_>, raw: Option<&RawSwarm>) -> Result<SwarmSection, ConfigError> {
    let mut section = SwarmSection::default();
    let Some(raw) = raw else {
        return Ok(section);
    };
    section.embedded = raw.embedded.unwrap_or(false);
    if let Some(addr) = &raw.advertise_addr {
        section.advertise_addr = addr.get_ref().parse().map_err(|_| {
            c.invalid(
                &addr.span(),
                "swarm.advertise_addr",
                format!(
                    "\"{}\" is not an IP address (e.g. \"127.0.0.1\", or this machine's \
                     address to let others join)",
                    addr.get_ref()
                ),
            )
        })?;
    }
    Ok(section)
}
