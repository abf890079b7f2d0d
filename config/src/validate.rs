//! Raw config → [`RunnerConfig`]: defaults applied, relative paths resolved against the config
//! file's directory, values parsed and range-checked, names validated, references and
//! duplicates checked, and the files the config names checked for existence.
//!
//! The first problem found is the error; every error points at the value at fault.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use windlass::plugins::PluginKind;

use super::ConfigError;
use super::check::Checker;
use super::plugins::plugin;
use super::raw::{RawConfig, RawHealth, RawRuntime, RawSecrets, RawStack};
use super::types::{
    ApiConfig, EngineConfig, EventsConfig, HealthConfig, PluginConfig, RunnerConfig, RuntimeConfig,
    RuntimeKind, SecretsKeySource, SecretsSection, StackConfig, StoreConfig, TargetConfig,
};
use windlass::events::RetentionPolicy;
use windlass::health::{DEFAULT_PROBE_IMAGE, ProbeMode, Thresholds};

/// The default `api.listen`, as the error messages write it.
const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
/// The default `engine.data_dir`.
const DEFAULT_DATA_DIR: &str = ".windlass";
/// The default `engine.orphan_grace` (the engine's own default).
const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(30);
/// The default `health.snapshot_interval`.
const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);
/// The default `health.retention`.
const DEFAULT_SNAPSHOT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// Validates `raw`, read from `file` whose text is `text`.
pub(crate) fn validate(
    raw: RawConfig,
    text: &str,
    file: &Path,
) -> Result<RunnerConfig, ConfigError> {
    let base = file.parent().unwrap_or(Path::new(""));
    let c = Checker { text, file, base };

    let id = c.name(&raw.engine.id, "engine.id")?;
    let data_dir = match &raw.engine.data_dir {
        Some(dir) if dir.get_ref().trim().is_empty() => {
            return Err(c.invalid(&dir.span(), "engine.data_dir", "must not be empty"));
        }
        Some(dir) => c.resolve(dir.get_ref()),
        None => c.resolve(DEFAULT_DATA_DIR),
    };
    let orphan_grace = match &raw.engine.orphan_grace {
        Some(grace) => c.duration(grace, "engine.orphan_grace")?,
        None => DEFAULT_ORPHAN_GRACE,
    };
    let probes = match &raw.engine.probes {
        Some(mode) => ProbeMode::parse(mode.get_ref()).ok_or_else(|| {
            c.invalid(
                &mode.span(),
                "engine.probes",
                format!(
                    "unknown probe mode \"{}\": write \"auto\", \"direct\" or \"in-network\"",
                    mode.get_ref()
                ),
            )
        })?,
        None => ProbeMode::Auto,
    };
    let probe_image = match &raw.engine.probe_image {
        Some(image) if image.get_ref().trim().is_empty() => {
            return Err(c.invalid(&image.span(), "engine.probe_image", "must not be empty"));
        }
        Some(image) => image.get_ref().clone(),
        None => DEFAULT_PROBE_IMAGE.to_owned(),
    };
    let store = match raw.store.and_then(|s| s.url) {
        Some(url) => StoreConfig {
            url: store_url(&c, &url)?,
        },
        None => StoreConfig {
            url: format!("sqlite://{}", data_dir.join("windlass.db").display()),
        },
    };
    let runtime = runtime(&c, raw.runtime)?;
    let api = ApiConfig {
        listen: match raw.api.and_then(|a| a.listen) {
            Some(listen) => listen.get_ref().parse::<SocketAddr>().map_err(|_| {
                c.invalid(
                    &listen.span(),
                    "api.listen",
                    format!(
                        "bad listen address \"{}\": write an IP address and a port, e.g. \
                         \"{DEFAULT_LISTEN}\" or \"[::1]:7878\"",
                        listen.get_ref()
                    ),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 7878)),
        },
    };
    let health = health(&c, raw.health)?;
    let mut retention = RetentionPolicy::unbounded();
    if let Some(events) = raw.events {
        if let Some(age) = &events.retention {
            retention = retention.with_max_age(c.duration(age, "events.retention")?);
        }
        if let Some(count) = &events.max_events {
            retention = retention.with_max_events(c.positive(count, "events.max_events")?);
        }
    }

    let secrets = secrets(&c, raw.secrets, &data_dir)?;

    let mut plugins = Vec::with_capacity(raw.plugins.len());
    let mut plugin_names: HashMap<String, (usize, Range<usize>)> = HashMap::new();
    for (i, entry) in raw.plugins.iter().enumerate() {
        // Duplicates first: a second entry with the same name is wrong whatever else it says.
        let name = c.name(&entry.name, &format!("plugins[{i}].name"))?;
        if let Some((first, first_span)) = plugin_names.get(&name) {
            return Err(ConfigError::Duplicate {
                at: c.at(&entry.name.span()),
                key: format!("plugins[{i}].name"),
                message: format!(
                    "plugin name \"{name}\" is already used by plugins[{first}] (line {})",
                    c.at(first_span).line
                ),
            });
        }
        plugin_names.insert(name, (i, entry.name.span()));
        plugins.push(plugin(&c, i, entry)?);
    }

    let billing = super::billing::billing(&c, raw.billing, &plugins)?;
    let quotas = super::billing::quotas(&c, raw.quotas)?;

    let targets = super::targets::targets(&c, &raw.targets, &plugins)?;
    let mut stacks = Vec::with_capacity(raw.stacks.len());
    let mut stack_names: HashMap<(String, String), (usize, Range<usize>)> = HashMap::new();
    for (i, entry) in raw.stacks.iter().enumerate() {
        let stack = stack(&c, i, entry, &plugins, &targets)?;
        let id = (stack.org.clone(), stack.name.clone());
        if let Some((first, first_span)) = stack_names.get(&id) {
            return Err(ConfigError::Duplicate {
                at: c.at(&entry.name.span()),
                key: format!("stacks[{i}].name"),
                message: format!(
                    "org \"{}\" already has a stack \"{}\": stacks[{first}] (line {})",
                    stack.org,
                    stack.name,
                    c.at(first_span).line
                ),
            });
        }
        stack_names.insert(id, (i, entry.name.span()));
        stacks.push(stack);
    }

    let policy = super::policy::policy(&c, raw.policy)?;
    let inventory = super::targets::inventory(&c, raw.inventory.as_ref())?;
    let workers = super::targets::workers(&c, raw.workers.as_ref())?;
    let builds = super::builds::builds(&c, raw.builds.as_ref(), &plugins, &data_dir)?;
    let swarm = super::targets::swarm(&c, raw.swarm.as_ref())?;

    Ok(RunnerConfig {
        file: file.to_path_buf(),
        engine: EngineConfig {
            id,
            data_dir,
            orphan_grace,
            probes,
            probe_image,
        },
        store,
        runtime,
        api,
        health,
        events: EventsConfig { retention },
        secrets,
        billing,
        quotas,
        plugins,
        stacks,
        policy,
        targets,
        inventory,
        workers,
        builds,
        swarm,
    })
}

/// `store.url`: SQLite or PostgreSQL; a relative SQLite path starts at the config file's
/// directory.
fn store_url(c: &Checker<'_>, url: &Spanned<String>) -> Result<String, ConfigError> {
    let text = url.get_ref();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(text.clone());
    }
    if text == "sqlite::memory:" {
        return Ok(text.clone());
    }
    if let Some(rest) = text.strip_prefix("sqlite://") {
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(c.invalid(
                &url.span(),
                "store.url",
                "a sqlite:// URL needs a file path, e.g. \"sqlite://.windlass/windlass.db\"",
            ));
        }
        let resolved = c.resolve(path);
        let mut out = format!("sqlite://{}", resolved.display());
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        return Ok(out);
    }
    Err(c.invalid(
        &url.span(),
        "store.url",
        format!(
            "unsupported store URL \"{}\": use sqlite://PATH (e.g. \"sqlite://.windlass/windlass.db\") \
             or postgres://USER:PASSWORD@HOST/DATABASE",
            windlass::redact_store_url(text)
        ),
    ))
}

/// The default `secrets.retention`.
const DEFAULT_SECRETS_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// `[secrets]`: a key file (default `<data_dir>/secrets.key`) or an environment variable, not
/// both.
fn secrets(
    c: &Checker<'_>,
    raw: Option<RawSecrets>,
    data_dir: &Path,
) -> Result<SecretsSection, ConfigError> {
    let default_file = || SecretsKeySource::File(data_dir.join("secrets.key"));
    let Some(raw) = raw else {
        return Ok(SecretsSection {
            key: default_file(),
            runtime_dir: None,
            retention: DEFAULT_SECRETS_RETENTION,
        });
    };
    let key = match (&raw.key_file, &raw.key_env) {
        (Some(_), Some(env)) => {
            return Err(c.invalid(
                &env.span(),
                "secrets.key_env",
                "give the key either as key_file or as key_env, not both",
            ));
        }
        (Some(file), None) if file.get_ref().trim().is_empty() => {
            return Err(c.invalid(&file.span(), "secrets.key_file", "must not be empty"));
        }
        (Some(file), None) => SecretsKeySource::File(c.resolve(file.get_ref())),
        (None, Some(env)) => {
            let var = env.get_ref();
            if var.is_empty()
                || !var
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                return Err(c.invalid(
                    &env.span(),
                    "secrets.key_env",
                    format!("\"{var}\" is not an environment variable name (letters, digits, `_`)"),
                ));
            }
            SecretsKeySource::Env(var.clone())
        }
        (None, None) => default_file(),
    };
    let runtime_dir = match &raw.runtime_dir {
        Some(dir) if !Path::new(dir.get_ref()).is_absolute() => {
            return Err(c.invalid(
                &dir.span(),
                "secrets.runtime_dir",
                "must be an absolute path on a tmpfs, e.g. \"/run/windlass/secrets\"",
            ));
        }
        Some(dir) => Some(dir.get_ref().into()),
        None => None,
    };
    let retention = match &raw.retention {
        Some(value) => c.duration(value, "secrets.retention")?,
        None => DEFAULT_SECRETS_RETENTION,
    };
    Ok(SecretsSection {
        key,
        runtime_dir,
        retention,
    })
}

/// `[runtime]`.
fn runtime(c: &Checker<'_>, raw: Option<RawRuntime>) -> Result<RuntimeConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(RuntimeConfig {
            kind: RuntimeKind::Docker,
            endpoint: None,
        });
    };
    if let Some(kind) = &raw.kind
        && kind.get_ref() != "docker"
    {
        return Err(c.invalid(
            &kind.span(),
            "runtime.type",
            format!(
                "unknown runtime \"{}\": the only runtime so far is \"docker\"",
                kind.get_ref()
            ),
        ));
    }
    let endpoint = match &raw.endpoint {
        Some(endpoint) => {
            let text = endpoint.get_ref();
            let ok = ["unix://", "tcp://", "http://"].iter().any(|scheme| {
                text.strip_prefix(scheme)
                    .is_some_and(|rest| !rest.is_empty())
            });
            if !ok {
                return Err(c.invalid(
                    &endpoint.span(),
                    "runtime.endpoint",
                    format!(
                        "bad Docker endpoint \"{text}\": use unix:///path/to/docker.sock, \
                         tcp://HOST:PORT or http://HOST:PORT"
                    ),
                ));
            }
            Some(text.clone())
        }
        None => None,
    };
    Ok(RuntimeConfig {
        kind: RuntimeKind::Docker,
        endpoint,
    })
}

/// `[health]`.
fn health(c: &Checker<'_>, raw: Option<RawHealth>) -> Result<HealthConfig, ConfigError> {
    let defaults = Thresholds::default();
    let Some(raw) = raw else {
        return Ok(HealthConfig {
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            snapshot_retention: DEFAULT_SNAPSHOT_RETENTION,
            thresholds: defaults,
        });
    };
    let snapshot_interval = match &raw.snapshot_interval {
        Some(value) => c.duration(value, "health.snapshot_interval")?,
        None => DEFAULT_SNAPSHOT_INTERVAL,
    };
    let snapshot_retention = match &raw.retention {
        Some(value) => c.duration(value, "health.retention")?,
        None => DEFAULT_SNAPSHOT_RETENTION,
    };
    let percent = |value: &Option<Spanned<f64>>, key: &str, default: f64| match value {
        Some(value) => {
            let p = *value.get_ref();
            if p.is_finite() && p > 0.0 && p <= 100.0 {
                Ok(p)
            } else {
                Err(c.invalid(
                    &value.span(),
                    key,
                    format!("{p} is out of range: use a percentage above 0 and at most 100"),
                ))
            }
        }
        None => Ok(default),
    };
    let warning = percent(
        &raw.warning_percent,
        "health.warning_percent",
        defaults.warning_percent,
    )?;
    let critical = percent(
        &raw.critical_percent,
        "health.critical_percent",
        defaults.critical_percent,
    )?;
    // The defaults are in order, so an out-of-order pair always has a written value to point at.
    let culprit = match (&raw.warning_percent, &raw.critical_percent) {
        (Some(value), _) => Some((value, "health.warning_percent")),
        (None, Some(value)) => Some((value, "health.critical_percent")),
        (None, None) => None,
    };
    if let Some((value, key)) = culprit
        && warning >= critical
    {
        return Err(c.invalid(
            &value.span(),
            key,
            format!("warning_percent ({warning}) must be below critical_percent ({critical})"),
        ));
    }
    Ok(HealthConfig {
        snapshot_interval,
        snapshot_retention,
        thresholds: Thresholds {
            warning_percent: warning,
            critical_percent: critical,
        },
    })
}

/// One `[[stacks]]` entry.
fn stack(
    c: &Checker<'_>,
    i: usize,
    raw: &RawStack,
    plugins: &[PluginConfig],
    targets: &[TargetConfig],
) -> Result<StackConfig, ConfigError> {
    let key = |field: &str| format!("stacks[{i}].{field}");
    let name = c.name(&raw.name, &key("name"))?;
    let org = c.name(&raw.org, &key("org"))?;
    let target = match &raw.target {
        None => None,
        Some(t) if t.get_ref() == "local" => None,
        Some(t) if targets.iter().any(|d| &d.name == t.get_ref()) => Some(t.get_ref().clone()),
        Some(t) => {
            let mut known = vec!["\"local\"".to_owned()];
            known.extend(targets.iter().map(|d| format!("\"{}\"", d.name)));
            return Err(ConfigError::Reference {
                at: c.at(&t.span()),
                key: key("target"),
                message: format!(
                    "no target named \"{}\" (targets here: {})",
                    t.get_ref(),
                    known.join(", ")
                ),
            });
        }
    };
    let template = raw.template.get_ref();
    let templates: Vec<String> = plugins
        .iter()
        .filter(|p| p.kind == PluginKind::StackTemplate)
        .map(|p| format!("\"{}\"", p.name))
        .collect();
    let available = if templates.is_empty() {
        "this file has no stack-template plugins".to_owned()
    } else {
        format!("stack templates here: {}", templates.join(", "))
    };
    match plugins.iter().find(|p| &p.name == template) {
        None => Err(ConfigError::Reference {
            at: c.at(&raw.template.span()),
            key: key("template"),
            message: format!("no plugin named \"{template}\" ({available})"),
        }),
        Some(plugin) if plugin.kind != PluginKind::StackTemplate => Err(ConfigError::Reference {
            at: c.at(&raw.template.span()),
            key: key("template"),
            message: format!(
                "plugin \"{template}\" is a {}, not a stack-template ({available})",
                plugin.kind
            ),
        }),
        Some(_) => Ok(StackConfig {
            params: stack_params(c, i, &org, &raw.params)?,
            org,
            name,
            template: template.clone(),
            target,
        }),
    }
}

/// A stack's `params`: strings, or `{ secret = "NAME" }` — a secret of the stack's own org,
/// which the template receives as a placeholder (see `windlass::secrets::param_placeholder`).
fn stack_params(
    c: &Checker<'_>,
    i: usize,
    org: &str,
    raw: &BTreeMap<String, Spanned<crate::raw::RawValue>>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut params = BTreeMap::new();
    for (name, value) in raw {
        let key = format!("stacks[{i}].params.{name}");
        let text = match value.get_ref() {
            crate::raw::RawValue::Text(text) => text.clone(),
            crate::raw::RawValue::Secret(reference) => {
                let secret = reference.secret.get_ref();
                windlass::secrets::validate_secret_name(&key, secret).map_err(|e| {
                    c.invalid(
                        &reference.secret.span(),
                        &format!("{key}.secret"),
                        e.message,
                    )
                })?;
                if let Some(other) = &reference.org
                    && other.get_ref() != org
                {
                    return Err(c.invalid(
                        &other.span(),
                        &format!("{key}.org"),
                        format!(
                            "a stack's parameter takes a secret of the stack's own org ({org}); \
                             leave `org` out"
                        ),
                    ));
                }
                windlass::secrets::param_placeholder(secret)
            }
        };
        params.insert(name.clone(), text);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_start_at_the_config_directory() {
        let c = Checker::for_tests();
        let url = |text: &str| store_url(&c, &Checker::value(text));
        assert_eq!(
            url("sqlite://data/w.db").unwrap(),
            "sqlite://conf/data/w.db"
        );
        assert_eq!(
            url("sqlite://./w.db?mode=rwc").unwrap(),
            "sqlite://conf/w.db?mode=rwc"
        );
        assert_eq!(
            url("sqlite:///var/lib/w.db").unwrap(),
            "sqlite:///var/lib/w.db"
        );
        assert_eq!(url("sqlite::memory:").unwrap(), "sqlite::memory:");
        let postgres = "postgres://u:p@db:5432/windlass?sslmode=disable";
        assert_eq!(url(postgres).unwrap(), postgres);
        assert!(
            url("sqlite://")
                .unwrap_err()
                .to_string()
                .contains("needs a file path")
        );
        let refused = url("mysql://u:secret@db/w").unwrap_err().to_string();
        assert!(refused.contains("mysql://u:***@db/w"), "{refused}");
        assert!(!refused.contains("secret"), "{refused}");
    }
}
