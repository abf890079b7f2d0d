//! The adapter's configuration (plugin config, as the operator wrote it in `windlass.toml`).

use windlass_plugin_sdk::types::AdapterError;

/// What the adapter reads from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `endpoint`: the manager's Engine API, `http://IP:2375` (the operator grants that host).
    pub endpoint: String,
    /// `api_version`: the Engine API version in every path (default `1.41`, Docker 20.10).
    pub api_version: String,
    /// `endpoint_mode`: `vip` (default) or `dnsrr` for every service.
    pub endpoint_mode: String,
    /// `encrypt_networks`: the org overlays are created with IPsec encryption (default true).
    pub encrypt_networks: bool,
    /// `network_prefix`: org networks are named `{prefix}{org}` (default `windlass-org-`).
    pub network_prefix: String,
}

impl Settings {
    /// Reads and checks the config through `get`.
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self, AdapterError> {
        let endpoint = get("endpoint").ok_or_else(|| {
            AdapterError::Invalid("config `endpoint` is missing (the manager's Engine API, e.g. http://10.0.0.1:2375)".into())
        })?;
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(AdapterError::Invalid(format!(
                "config `endpoint` must be an http:// or https:// URL, got `{endpoint}`"
            )));
        }
        let api_version = get("api_version").unwrap_or_else(|| "1.41".into());
        let api_version = api_version.trim_start_matches('v').to_string();
        let endpoint_mode = get("endpoint_mode").unwrap_or_else(|| "vip".into());
        if endpoint_mode != "vip" && endpoint_mode != "dnsrr" {
            return Err(AdapterError::Invalid(format!(
                "config `endpoint_mode` must be `vip` or `dnsrr`, got `{endpoint_mode}`"
            )));
        }
        let encrypt_networks = match get("encrypt_networks").as_deref() {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(AdapterError::Invalid(format!(
                    "config `encrypt_networks` must be true or false, got `{other}`"
                )));
            }
        };
        let network_prefix = get("network_prefix").unwrap_or_else(|| "windlass-org-".into());
        Ok(Self {
            endpoint,
            api_version,
            endpoint_mode,
            encrypt_networks,
            network_prefix,
        })
    }

    /// The base of every request: `{endpoint}/v{api_version}`.
    pub fn base(&self) -> String {
        format!("{}/v{}", self.endpoint, self.api_version)
    }

    /// The platform name of `org`'s network.
    pub fn network_name(&self, org: &str) -> String {
        format!("{}{org}", self.network_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, AdapterError> {
        Settings::from_config(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        })
    }

    #[test]
    fn defaults_and_checks() {
        let s = settings(&[("endpoint", "http://10.0.0.1:2375/")]).expect("valid");
        assert_eq!(s.base(), "http://10.0.0.1:2375/v1.41");
        assert_eq!(s.endpoint_mode, "vip");
        assert!(s.encrypt_networks);
        assert_eq!(s.network_name("acme"), "windlass-org-acme");
        assert!(matches!(settings(&[]), Err(AdapterError::Invalid(m)) if m.contains("endpoint")));
        assert!(matches!(
            settings(&[("endpoint", "10.0.0.1:2375")]),
            Err(AdapterError::Invalid(_))
        ));
        assert!(matches!(
            settings(&[("endpoint", "http://h"), ("endpoint_mode", "x")]),
            Err(AdapterError::Invalid(m)) if m.contains("endpoint_mode")
        ));
        let s = settings(&[
            ("endpoint", "http://h"),
            ("encrypt_networks", "false"),
            ("api_version", "v1.43"),
        ])
        .expect("valid");
        assert!(!s.encrypt_networks);
        assert_eq!(s.base(), "http://h/v1.43");
    }
}
