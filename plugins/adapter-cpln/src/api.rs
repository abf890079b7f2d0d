//! Control Plane's API over the SDK's `wasi:http` client: authentication, the two reads the
//! inventory needs, and what its statuses mean.

use serde::de::DeserializeOwned;
use windlass_plugin_sdk::http::{self, Method, Request};
use windlass_plugin_sdk::types::AdapterError;

use crate::model::{Deployment, List, Workload};

/// The API's default base URL.
pub const DEFAULT_API: &str = "https://api.cpln.io";

/// The adapter's configuration.
#[derive(Debug, Clone)]
pub struct Api {
    /// The base URL (`api_url`), without a trailing slash.
    pub base: String,
    /// The org (`org`).
    pub org: String,
    /// The GVC listed when none is asked for (`gvc`).
    pub default_gvc: Option<String>,
    token: String,
}

impl Api {
    /// Reads the plugin config: `api_url` (default Control Plane's), `org`, `token` (both
    /// required; the token may be a secret reference), `gvc`.
    pub fn from_config() -> Result<Self, AdapterError> {
        let get = windlass_plugin_sdk::config::get;
        let base = get("api_url").unwrap_or_else(|| DEFAULT_API.to_owned());
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(AdapterError::Invalid(format!(
                "config api_url: `{base}` is not an http(s) URL"
            )));
        }
        let org = get("org")
            .filter(|o| !o.is_empty())
            .ok_or_else(|| AdapterError::Invalid("config org: required".to_owned()))?;
        let token = get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AdapterError::Invalid("config token: required".to_owned()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            org,
            default_gvc: get("gvc").filter(|g| !g.is_empty()),
            token,
        })
    }

    /// The GVC to list: the one asked for, else the configured default.
    pub fn gvc<'a>(&'a self, asked: Option<&'a str>) -> Result<&'a str, AdapterError> {
        asked.or(self.default_gvc.as_deref()).ok_or_else(|| {
            AdapterError::Invalid("no GVC asked for and no config gvc to default to".to_owned())
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdapterError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let response = Request::new(Method::Get, url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/json")
            .send()?;
        if let Some(error) = status_error(
            response.status,
            response.header("retry-after"),
            &response.body,
        ) {
            return Err(error);
        }
        serde_json::from_slice(&response.body).map_err(|e| {
            AdapterError::Unavailable(format!(
                "GET {path}: the answer is not what Control Plane sends: {e}"
            ))
        })
    }

    /// One page of a GVC's workloads: the first, or the `next` link's `href` as `cursor`.
    pub fn workloads(
        &self,
        gvc: &str,
        cursor: Option<&str>,
    ) -> Result<List<Workload>, AdapterError> {
        let first = format!("/org/{}/gvc/{gvc}/workload", self.org);
        self.get(cursor.unwrap_or(&first))
    }

    /// A workload's deployments, one per location.
    pub fn deployments(&self, gvc: &str, workload: &str) -> Result<List<Deployment>, AdapterError> {
        self.get(&format!(
            "/org/{}/gvc/{gvc}/workload/{workload}/deployment",
            self.org
        ))
    }
}

/// What Control Plane's statuses mean for the engine:
///
/// | status | error |
/// | --- | --- |
/// | 429 whose body says the quota is exceeded | `quota-exceeded` (not retried) |
/// | other 429 | `rate-limited`: `Retry-After` seconds × 1000 ms, 0 without it (the engine backs off) |
/// | 403, 404 | `not-found` (Control Plane answers 403 for "not found or not allowed") |
/// | 401 | `denied` |
/// | others | the SDK's mapping (`invalid` for 4xx, `unavailable` for 5xx) |
pub fn status_error(status: u16, retry_after: Option<&str>, body: &[u8]) -> Option<AdapterError> {
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.trim().chars().take(300).collect();
    match status {
        429 if excerpt.to_ascii_lowercase().contains("quota") => {
            Some(AdapterError::QuotaExceeded(format!("HTTP 429: {excerpt}")))
        }
        429 => {
            let ms = retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(0, |s| s.saturating_mul(1_000));
            Some(AdapterError::RateLimited(
                u32::try_from(ms).unwrap_or(u32::MAX),
            ))
        }
        403 | 404 => Some(AdapterError::NotFound(format!(
            "HTTP {status} (not found or not allowed): {excerpt}"
        ))),
        _ => http::status_error(status, retry_after, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_documented() {
        assert_eq!(status_error(200, None, b""), None);
        assert_eq!(
            status_error(429, Some("2"), b"slow down"),
            Some(AdapterError::RateLimited(2000))
        );
        assert_eq!(
            status_error(429, None, b"slow down"),
            Some(AdapterError::RateLimited(0))
        );
        assert!(matches!(
            status_error(429, None, b"{\"message\":\"Quota exceeded\"}"),
            Some(AdapterError::QuotaExceeded(_))
        ));
        assert!(matches!(
            status_error(403, None, b""),
            Some(AdapterError::NotFound(_))
        ));
        assert!(matches!(
            status_error(401, None, b""),
            Some(AdapterError::Denied(_))
        ));
        assert!(matches!(
            status_error(503, None, b""),
            Some(AdapterError::Unavailable(_))
        ));
    }
}
