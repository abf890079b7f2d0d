//! The base images the plans build `FROM`: public defaults, each replaceable through the
//! plugin's config (`[[plugins]] config = { python_image = "..." }` in windlass.toml), so a
//! host with no registry builds from images it has.
//!
//! A value may hold `{version}`, replaced by the version the tree asks for (the Rust
//! toolchain, Go's `X.Y`, Node's major, Python's `X.Y`); a value without it is used whatever
//! the tree asks for. `static_server` says how the static image serves files: `nginx` (the
//! default, for `nginx:alpine`) or `busybox` (BusyBox `httpd`, for a busybox image).

use windlass_plugin_sdk::types::PluginError;

/// The config keys, their defaults, and what they are for (in the crate docs too).
pub(crate) const KEYS: [(&str, &str); 10] = [
    ("rust_image", "rust:{version}-slim"),
    ("rust_runtime_image", "debian:bookworm-slim"),
    ("go_image", "golang:{version}"),
    ("go_runtime_image", "gcr.io/distroless/static-debian12"),
    ("node_image", "node:{version}-slim"),
    ("bun_image", "oven/bun:1"),
    ("bun_runtime_image", "oven/bun:1-slim"),
    ("python_image", "python:{version}-slim"),
    ("static_image", "nginx:alpine"),
    ("static_server", "nginx"),
];

/// How static files are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticServer {
    /// `nginx -g 'daemon off;'`, files in `/usr/share/nginx/html`.
    Nginx,
    /// BusyBox `httpd -f -p 80 -h /www`.
    Busybox,
}

/// The images in effect for one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Images {
    values: Vec<(&'static str, String)>,
    /// How the static image serves.
    pub static_server: StaticServer,
}

impl Images {
    /// Reads the plugin's config (an unknown key is an error naming it, so a typo does not
    /// silently build from a public image).
    pub(crate) fn load(config: &[(String, String)]) -> Result<Self, PluginError> {
        let get = |key: &str| {
            config
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        if let Some((unknown, _)) = config
            .iter()
            .find(|(k, _)| !KEYS.iter().any(|(n, _)| n == k))
        {
            let known: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
            return Err(PluginError::invalid_config(
                unknown.clone(),
                format!(
                    "build-auto has no config key `{unknown}` (known: {})",
                    known.join(", ")
                ),
            ));
        }
        let mut values = Vec::new();
        let mut static_server = StaticServer::Nginx;
        for (key, default) in KEYS {
            let value = get(key).unwrap_or_else(|| default.to_owned());
            if key == "static_server" {
                static_server = match value.as_str() {
                    "nginx" => StaticServer::Nginx,
                    "busybox" => StaticServer::Busybox,
                    other => {
                        return Err(PluginError::invalid_config(
                            key,
                            format!("static_server is `{other}`; expected `nginx` or `busybox`"),
                        ));
                    }
                };
                continue;
            }
            // A Dockerfile line: an image reference is one word of printable characters.
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_graphic()) {
                return Err(PluginError::invalid_config(
                    key,
                    format!(
                        "{key} must be an image reference (one word, no spaces), got `{}`",
                        value.escape_debug()
                    ),
                ));
            }
            values.push((key, value));
        }
        Ok(Self {
            values,
            static_server,
        })
    }

    /// The defaults (no config).
    #[cfg(test)]
    pub(crate) fn defaults() -> Self {
        Self::load(&[]).expect("the defaults are valid")
    }

    /// Image `key` with `{version}` replaced by `version`.
    pub(crate) fn get(&self, key: &str, version: &str) -> String {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.replace("{version}", version))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Images, PluginError> {
        let config: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Images::load(&config)
    }

    #[test]
    fn defaults_are_the_public_images() {
        let images = Images::defaults();
        assert_eq!(images.get("python_image", "3.12"), "python:3.12-slim");
        assert_eq!(images.get("node_image", "20"), "node:20-slim");
        assert_eq!(images.get("static_image", ""), "nginx:alpine");
        assert_eq!(images.static_server, StaticServer::Nginx);
    }

    #[test]
    fn config_replaces_them() {
        let images = load(&[
            ("python_image", "windlass-test/python:3"),
            ("node_image", "mirror.local/node:{version}"),
            ("static_server", "busybox"),
        ])
        .unwrap();
        assert_eq!(images.get("python_image", "3.12"), "windlass-test/python:3");
        assert_eq!(images.get("node_image", "18"), "mirror.local/node:18");
        assert_eq!(images.static_server, StaticServer::Busybox);
    }

    #[test]
    fn bad_config_names_the_key() {
        let err = load(&[("pyhton_image", "x")]).unwrap_err();
        assert_eq!(err.code, "invalid-config");
        assert_eq!(err.field.as_deref(), Some("pyhton_image"));
        assert!(err.message.contains("python_image"), "{}", err.message);
        let err = load(&[("node_image", "node:20\nRUN curl evil")]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("node_image"));
        let err = load(&[("node_image", "")]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("node_image"));
        let err = load(&[("static_server", "apache")]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("static_server"));
    }
}
