//! `[[plugins]]` entries: kind, source file, limits, grants, and config values (strings, or
//! references to secrets the plugin is granted).

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use windlass::plugins::{Grants, Limits, PluginKind};
use windlass::secrets::{PluginSecret, validate_secret_name};
use windlass::validate_name;

use super::ConfigError;
use super::check::Checker;
use super::raw::{RawGrants, RawLimits, RawPlugin, RawValue};
use super::raw_value::RawSecretRef;
use super::types::PluginConfig;

/// The largest `limits.memory_mib`.
const MAX_MEMORY_MIB: u64 = 4096;
/// The largest `limits.timeout_ms` (ten minutes).
const MAX_TIMEOUT_MS: u64 = 600_000;
/// The largest `limits.log_bytes` (64 MiB per channel and call).
const MAX_LOG_BYTES: u64 = 64 << 20;
/// The largest `limits.log_lines`.
const MAX_LOG_LINES: u64 = 1_000_000;

/// One `[[plugins]]` entry.
pub(super) fn plugin(
    c: &Checker<'_>,
    i: usize,
    raw: &RawPlugin,
) -> Result<PluginConfig, ConfigError> {
    let key = |field: &str| format!("plugins[{i}].{field}");
    let name = c.name(&raw.name, &key("name"))?;
    let kind = PluginKind::parse(raw.kind.get_ref()).ok_or_else(|| {
        let expected: Vec<String> = PluginKind::ALL
            .iter()
            .map(|k| format!("\"{}\"", k.as_str()))
            .collect();
        c.invalid(
            &raw.kind.span(),
            &key("kind"),
            format!(
                "unknown plugin kind \"{}\" (expected one of {})",
                raw.kind.get_ref(),
                expected.join(", ")
            ),
        )
    })?;
    if raw.source.get_ref().trim().is_empty() {
        return Err(c.invalid(
            &raw.source.span(),
            &key("source"),
            "must name a .wasm component file",
        ));
    }
    let source = c.resolve(raw.source.get_ref());
    if !source.is_file() {
        return Err(c.missing(&raw.source, &key("source"), source, "plugin component file"));
    }
    let limits = match &raw.limits {
        Some(limits) => self::limits(c, i, limits)?,
        None => Limits::default(),
    };
    let grants = match &raw.grants {
        Some(grants) => self::grants(c, i, kind, grants)?,
        None => Grants::default(),
    };
    let granted = match &raw.grants {
        Some(grants) => granted_secrets(c, i, &grants.secrets)?,
        None => Vec::new(),
    };
    let mut config = BTreeMap::new();
    let mut secrets = Vec::new();
    for (k, value) in &raw.config {
        match value.get_ref() {
            RawValue::Text(text) => {
                config.insert(k.clone(), text.clone());
            }
            RawValue::Secret(reference) => {
                let key = format!("plugins[{i}].config.{k}");
                let secret = secret_ref(c, &key, reference)?;
                let full = format!("{}/{}", secret.0, secret.1);
                if !granted.contains(&full) {
                    return Err(c.invalid(
                        &value.span(),
                        &key,
                        format!(
                            "secret {full} is not granted to plugin `{name}`: add \"{full}\" to \
                             plugins[{i}].grants.secrets to let it read the value"
                        ),
                    ));
                }
                secrets.push(PluginSecret::new(k.clone(), secret.0, secret.1));
            }
        }
    }
    Ok(PluginConfig {
        name,
        kind,
        source,
        limits,
        grants,
        config,
        secrets,
    })
}

/// `grants.secrets`: `"ORG/NAME"` entries.
fn granted_secrets(
    c: &Checker<'_>,
    i: usize,
    raw: &[Spanned<String>],
) -> Result<Vec<String>, ConfigError> {
    let mut granted = Vec::new();
    for (j, entry) in raw.iter().enumerate() {
        let key = format!("plugins[{i}].grants.secrets[{j}]");
        let text = entry.get_ref();
        let Some((org, name)) = text.split_once('/') else {
            return Err(c.invalid(
                &entry.span(),
                &key,
                format!("\"{text}\" must name a secret as \"ORG/NAME\", e.g. \"ops/cpln-token\""),
            ));
        };
        validate_name(&key, org).map_err(|e| c.invalid(&entry.span(), &key, e.message))?;
        validate_secret_name(&key, name).map_err(|e| c.invalid(&entry.span(), &key, e.message))?;
        granted.push(text.clone());
    }
    Ok(granted)
}

/// A plugin config value `{ secret = "NAME", org = "ORG" }`: the org is required (a plugin
/// serves every org, so no org is implied).
fn secret_ref(
    c: &Checker<'_>,
    key: &str,
    raw: &RawSecretRef,
) -> Result<(String, String), ConfigError> {
    let name = raw.secret.get_ref();
    validate_secret_name(&format!("{key}.secret"), name)
        .map_err(|e| c.invalid(&raw.secret.span(), &format!("{key}.secret"), e.message))?;
    let Some(org) = &raw.org else {
        return Err(c.invalid(
            &raw.secret.span(),
            key,
            format!(
                "a plugin's secret reference names the org that owns the secret, e.g. \
                 {{ secret = \"{name}\", org = \"ops\" }}"
            ),
        ));
    };
    let org_key = format!("{key}.org");
    let org = c.name(org, &org_key)?;
    Ok((org, name.clone()))
}

/// A plugin's `limits`; what is not written keeps the host's default.
fn limits(c: &Checker<'_>, i: usize, raw: &RawLimits) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    if let Some(mib) = &raw.memory_mib {
        let key = format!("plugins[{i}].limits.memory_mib");
        limits.memory_bytes = c.bounded(mib, &key, 1, MAX_MEMORY_MIB, " MiB")? << 20;
    }
    if let Some(ms) = &raw.timeout_ms {
        let key = format!("plugins[{i}].limits.timeout_ms");
        limits.timeout = Duration::from_millis(c.bounded(ms, &key, 1, MAX_TIMEOUT_MS, " ms")?);
    }
    if let Some(fuel) = &raw.fuel {
        let key = format!("plugins[{i}].limits.fuel");
        limits.fuel = Some(c.positive(fuel, &key)?);
    }
    if let Some(bytes) = &raw.log_bytes {
        let key = format!("plugins[{i}].limits.log_bytes");
        limits.log_bytes = c.bounded(bytes, &key, 1, MAX_LOG_BYTES, " bytes")?;
    }
    if let Some(lines) = &raw.log_lines {
        let key = format!("plugins[{i}].limits.log_lines");
        limits.log_lines = c.bounded(lines, &key, 1, MAX_LOG_LINES, " lines")?;
    }
    Ok(limits)
}

/// A plugin's `grants`.
fn grants(
    c: &Checker<'_>,
    i: usize,
    kind: PluginKind,
    raw: &RawGrants,
) -> Result<Grants, ConfigError> {
    let mut grants = Grants::default();
    for (j, host) in raw.outbound_hosts.iter().enumerate() {
        let key = format!("plugins[{i}].grants.outbound_hosts[{j}]");
        if kind != PluginKind::CloudAdapter {
            return Err(c.invalid(
                &host.span(),
                &key,
                format!(
                    "only cloud-adapter plugins make HTTP requests; a {kind} plugin cannot use \
                     outbound hosts"
                ),
            ));
        }
        grants.outbound_hosts.push(outbound_host(c, host, &key)?);
    }
    for (name, path) in &raw.unix_sockets {
        let key = format!("plugins[{i}].grants.unix_sockets.{name}");
        grants
            .unix_sockets
            .push(unix_socket(c, kind, name, path, &key)?);
    }
    for (j, dir) in raw.read_only_dirs.iter().enumerate() {
        let key = |field: &str| format!("plugins[{i}].grants.read_only_dirs[{j}].{field}");
        if dir.host.get_ref().trim().is_empty() {
            return Err(c.invalid(&dir.host.span(), &key("host"), "must name a directory"));
        }
        let host = c.resolve(dir.host.get_ref());
        if !host.is_dir() {
            return Err(c.missing(&dir.host, &key("host"), host, "directory"));
        }
        let guest = dir.guest.get_ref();
        let absolute = guest.starts_with('/')
            && !Path::new(guest)
                .components()
                .any(|step| matches!(step, Component::ParentDir));
        if !absolute {
            return Err(c.invalid(
                &dir.guest.span(),
                &key("guest"),
                format!(
                    "\"{guest}\" must be an absolute path inside the plugin, without `..`, \
                     e.g. \"/data\""
                ),
            ));
        }
        grants.read_only_dirs.push((host, guest.clone()));
    }
    Ok(grants)
}

/// One `unix_sockets` entry: a name with no dot (so it cannot stand for a real host) and the
/// absolute path of a socket that exists now.
fn unix_socket(
    c: &Checker<'_>,
    kind: PluginKind,
    name: &str,
    path: &Spanned<String>,
    key: &str,
) -> Result<(String, PathBuf), ConfigError> {
    if kind != PluginKind::CloudAdapter {
        return Err(c.invalid(
            &path.span(),
            key,
            format!(
                "only cloud-adapter plugins make HTTP requests; a {kind} plugin cannot use a \
                 Unix socket"
            ),
        ));
    }
    let label = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !label {
        return Err(c.invalid(
            &path.span(),
            key,
            format!(
                "\"{name}\" cannot name a Unix socket: use one word of letters, digits and `-` \
                 (e.g. \"docker\"); the plugin then addresses it as http://NAME/"
            ),
        ));
    }
    let text = path.get_ref();
    if !text.starts_with('/') {
        return Err(c.invalid(
            &path.span(),
            key,
            format!(
                "\"{text}\" must be the absolute path of the socket, e.g. \"/var/run/docker.sock\""
            ),
        ));
    }
    let socket = PathBuf::from(text);
    match std::fs::metadata(&socket) {
        Ok(meta) if meta.file_type().is_socket() => Ok((name.to_owned(), socket)),
        Ok(_) => Err(c.invalid(&path.span(), key, format!("{text} is not a Unix socket"))),
        Err(_) => Err(c.missing(path, key, socket, "Unix socket")),
    }
}

/// One `outbound_hosts` entry: `host` or `host:port`, nothing else.
fn outbound_host(
    c: &Checker<'_>,
    host: &Spanned<String>,
    key: &str,
) -> Result<String, ConfigError> {
    let text = host.get_ref();
    let bad = |why: &str| {
        Err(c.invalid(
            &host.span(),
            key,
            format!("bad outbound host \"{text}\": {why}"),
        ))
    };
    if text.contains("://") {
        return bad(
            "write the host (and port) only, without a scheme, e.g. \"api.example.com\" or \
             \"127.0.0.1:8080\"",
        );
    }
    if text.contains(['/', '?', '#', '@']) || text.chars().any(char::is_whitespace) {
        return bad("write a host or host:port, e.g. \"api.example.com\" or \"127.0.0.1:8080\"");
    }
    let (name, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, after)) => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return bad("write a port after the IPv6 address as \"[::1]:8080\""),
            },
            None => return bad("close the IPv6 address with `]`"),
        },
        None => match text.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name, Some(port)),
            Some(_) => return bad("write an IPv6 address in brackets, e.g. \"[::1]:8080\""),
            None => (text.as_str(), None),
        },
    };
    if name.is_empty() {
        return bad("the host is missing");
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p != 0)
    {
        return bad("the port must be 1 to 65535");
    }
    Ok(text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_hosts_are_a_host_and_an_optional_port() {
        let c = Checker::for_tests();
        for good in [
            "api.example.com",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
            "svc-1:1",
        ] {
            assert_eq!(outbound_host(&c, &Checker::value(good), "k").unwrap(), good);
        }
        for (bad, why) in [
            ("https://api.example.com", "without a scheme"),
            ("api.example.com/v1", "host or host:port"),
            ("user@api.example.com", "host or host:port"),
            ("api .example.com", "host or host:port"),
            ("", "the host is missing"),
            (":8080", "the host is missing"),
            ("host:0", "1 to 65535"),
            ("host:65536", "1 to 65535"),
            ("host:http", "1 to 65535"),
            ("::1", "in brackets"),
            ("[::1", "close the IPv6 address"),
            ("[::1]8080", "a port after the IPv6 address"),
        ] {
            let error = outbound_host(&c, &Checker::value(bad), "k")
                .unwrap_err()
                .to_string();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(
                error.starts_with("conf/windlass.toml:1:9: k: bad outbound host"),
                "{error}"
            );
        }
    }
}
