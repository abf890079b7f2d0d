//! The Docker Engine API over a [`Transport`]: JSON in, JSON out, statuses mapped to
//! [`AdapterError`] (the SDK's mapping: 404 `not-found`, 409 and other 4xx `invalid`, 5xx —
//! including Docker's 503 "node is not a swarm manager" — `unavailable`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use windlass_plugin_sdk::http::{Method, Response};
use windlass_plugin_sdk::types::AdapterError;

use crate::settings::Settings;

pub(crate) use windlass_plugin_sdk::http::{Transport, WasiHttp};

/// Characters left as they are in a query value or path segment.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, KEEP).to_string()
}

/// The `filters` query value Docker wants: `{"key": ["v1", "v2"]}`, encoded.
pub(crate) fn filters(pairs: &[(&str, Vec<String>)]) -> String {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::from(v.clone())))
        .collect();
    enc(&Value::Object(map).to_string())
}

/// A client for one manager.
#[derive(Debug)]
pub(crate) struct Docker<T> {
    pub settings: Settings,
    transport: T,
}

impl<T: Transport> Docker<T> {
    pub fn new(settings: Settings, transport: T) -> Self {
        Self {
            settings,
            transport,
        }
    }

    /// Sends a request to `path` (below `/v{version}`), returning the raw response when its
    /// status is below 400.
    pub fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, AdapterError> {
        let url = format!("{}{path}", self.settings.base());
        let body = body.map(|b| b.to_string().into_bytes());
        self.transport.send(method, &url, body)?.error_for_status()
    }

    /// Like [`raw`](Self::raw), parsing the body as JSON (an empty body is `null`).
    pub fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdapterError> {
        let response = self.raw(method, path, body)?;
        if response.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&response.body).map_err(|e| {
            AdapterError::Unavailable(format!(
                "the Engine API answered {path} with malformed JSON: {e}"
            ))
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, AdapterError> {
        self.json(Method::Get, path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, AdapterError> {
        self.json(Method::Post, path, Some(body))
    }

    /// `DELETE path`; a missing object is success (removing is idempotent).
    pub fn delete_idempotent(&self, path: &str) -> Result<(), AdapterError> {
        match self.raw(Method::Delete, path, None) {
            Ok(_) | Err(AdapterError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A string field of a JSON object, by path (`["Spec", "Name"]`).
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// A field of a JSON object, by path.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// An unsigned field by path (0 when missing).
pub(crate) fn u64_at(v: &Value, path: &[&str]) -> u64 {
    at(v, path).and_then(Value::as_u64).unwrap_or(0)
}

/// `Version.Index` of a swarm object, which its update call wants.
pub(crate) fn version_of(v: &Value) -> Result<u64, AdapterError> {
    at(v, &["Version", "Index"])
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            AdapterError::Unavailable(
                "the Engine API returned an object without Version.Index".into(),
            )
        })
}

/// A label map as pairs, sorted by key.
pub(crate) fn labels_of(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp as Docker writes them
/// (`2026-12-02T04:25:18.342182554Z`); 0 when missing or malformed.
pub(crate) fn ms_of(ts: Option<&str>) -> u64 {
    ts.and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filters_and_reads_timestamps() {
        assert_eq!(
            filters(&[("label", vec!["a=b".into()])]),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
        assert_eq!(ms_of(Some("1970-01-01T00:00:01.5Z")), 1_500);
        assert_eq!(
            ms_of(Some("2026-12-02T04:25:18.342182554Z")),
            1_796_185_518_342
        );
        assert_eq!(ms_of(Some("nonsense")), 0);
        assert_eq!(ms_of(None), 0);
    }
}
