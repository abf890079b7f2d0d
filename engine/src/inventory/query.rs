//! What an inventory asks for: targets, filters, a page. Filters on the group (scope, workload)
//! are applied before any container is fetched, so they also save calls; the others apply to
//! the containers found.

use globset::{Glob, GlobMatcher};
use regex::Regex;

use super::types::{Group, Health, InventoryContainer};

/// An inventory query. `Default` asks every target for everything, first page unlimited.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InventoryQuery {
    /// Only these targets (empty: every target with the inventory capability).
    pub targets: Vec<String>,
    /// Only this org's containers.
    pub org: Option<String>,
    /// Only this GVC (Control Plane) or stack (local). On adapters it also picks the GVC
    /// listed (none: the adapter's default GVC).
    pub scope: Option<String>,
    /// Only this location (or node).
    pub location: Option<String>,
    /// Only this workload (Control Plane) or service (local).
    pub group: Option<String>,
    /// Only this image: exact, or a glob when it holds `*`, `?`, `[` or `{`.
    pub image: Option<String>,
    /// Only containers of this health.
    pub status: Option<Health>,
    /// Only containers whose name matches this regular expression.
    pub name: Option<String>,
    /// Only unhealthy containers (same as `status = unhealthy`).
    pub unhealthy_only: bool,
    /// Also the engine's own helper containers (probes).
    pub include_system: bool,
    /// At most this many containers in the answer (none: all).
    pub limit: Option<usize>,
    /// Continue after the answer that gave this cursor.
    pub cursor: Option<String>,
    /// Do the same work, return only the number of matching containers.
    pub count_only: bool,
    /// Bypass the cache (and refill it).
    pub refresh: bool,
}

impl InventoryQuery {
    /// Everything on every target.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only this target (may be given several times).
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.targets.push(target.into());
        self
    }

    /// Only this GVC or stack.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Only this workload or service.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Only this org.
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Only this location.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Only this image (exact or glob).
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Only containers of this health.
    pub fn with_status(mut self, status: Health) -> Self {
        self.status = Some(status);
        self
    }

    /// Only names matching this regular expression.
    pub fn with_name(mut self, pattern: impl Into<String>) -> Self {
        self.name = Some(pattern.into());
        self
    }

    /// Only unhealthy containers.
    pub fn unhealthy_only(mut self) -> Self {
        self.unhealthy_only = true;
        self
    }

    /// Also system containers.
    pub fn including_system(mut self) -> Self {
        self.include_system = true;
        self
    }

    /// A page of at most `limit`, after `cursor`.
    pub fn with_page(mut self, limit: usize, cursor: Option<String>) -> Self {
        self.limit = Some(limit);
        self.cursor = cursor;
        self
    }

    /// Only the number of matches.
    pub fn counting(mut self) -> Self {
        self.count_only = true;
        self
    }

    /// Bypass the cache.
    pub fn refreshing(mut self) -> Self {
        self.refresh = true;
        self
    }
}

/// A query that does not make sense; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory query: {field}: {reason}")]
pub struct QueryError {
    /// The field at fault (`image`, `name`, `cursor`, `targets`).
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// A query's filters, compiled.
#[derive(Debug)]
pub(crate) struct Matcher {
    query: InventoryQuery,
    image: Option<ImageMatch>,
    name: Option<Regex>,
    after: Option<String>,
}

#[derive(Debug)]
enum ImageMatch {
    Exact(String),
    Glob(GlobMatcher),
}

impl Matcher {
    pub(crate) fn new(query: &InventoryQuery) -> Result<Self, QueryError> {
        let image = match &query.image {
            None => None,
            Some(p) if p.contains(['*', '?', '[', '{']) => Some(ImageMatch::Glob(
                Glob::new(p)
                    .map_err(|e| QueryError {
                        field: "image",
                        reason: e.to_string(),
                    })?
                    .compile_matcher(),
            )),
            Some(p) => Some(ImageMatch::Exact(p.clone())),
        };
        let name = match &query.name {
            None => None,
            Some(p) => Some(Regex::new(p).map_err(|e| QueryError {
                field: "name",
                reason: e.to_string(),
            })?),
        };
        let after = match &query.cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| QueryError {
                field: "cursor",
                reason: "not a cursor this engine gave".to_owned(),
            })?),
        };
        Ok(Matcher {
            query: query.clone(),
            image,
            name,
            after,
        })
    }

    pub(crate) fn query(&self) -> &InventoryQuery {
        &self.query
    }

    /// Whether the group's containers are worth fetching.
    pub(crate) fn wants_group(&self, group: &Group) -> bool {
        if group.kind == "system" && !self.query.include_system {
            return false;
        }
        self.query.group.as_ref().is_none_or(|g| *g == group.name)
            && self.query.scope.as_ref().is_none_or(|s| *s == group.scope)
    }

    /// Whether a container is in the answer (before paging).
    pub(crate) fn wants(&self, c: &InventoryContainer) -> bool {
        let q = &self.query;
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        (q.include_system || !c.system)
            && eq(&q.org, &c.org)
            && eq(&q.scope, &c.scope)
            && eq(&q.group, &c.group)
            && eq(&q.location, &c.location)
            && q.status.is_none_or(|s| s == c.health)
            && (!q.unhealthy_only || c.health == Health::Unhealthy)
            && match &self.image {
                None => true,
                Some(ImageMatch::Exact(i)) => *i == c.image,
                Some(ImageMatch::Glob(g)) => g.is_match(&c.image),
            }
            && self.name.as_ref().is_none_or(|r| r.is_match(&c.name))
    }

    /// Whether a container (sorted) comes after the cursor.
    pub(crate) fn after_cursor(&self, key: &str) -> bool {
        self.after.as_deref().is_none_or(|after| key > after)
    }
}

/// The cursor after a container: its sort key, hex-encoded (opaque to clients).
pub(crate) fn encode_cursor(key: &str) -> String {
    hex::encode(key.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<String> {
    String::from_utf8(hex::decode(cursor).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, image: &str, health: Health) -> InventoryContainer {
        InventoryContainer {
            target: "t".into(),
            id: name.into(),
            name: name.into(),
            image: image.into(),
            state: "running".into(),
            health,
            org: Some("acme".into()),
            scope: Some("prod".into()),
            group: Some("web".into()),
            location: Some("aws-us-west-2".into()),
            ready: Some(true),
            message: None,
            replicas: None,
            replicas_ready: None,
            cpu_millis: None,
            memory_bytes: None,
            restarts: None,
            version: None,
            current_version: None,
            job_status: None,
            labels: Default::default(),
            created_ms: 0,
            system: false,
        }
    }

    #[test]
    fn images_match_exactly_or_by_glob() {
        let exact = Matcher::new(&InventoryQuery::all().with_image("nginx:1")).unwrap();
        assert!(exact.wants(&container("a", "nginx:1", Health::Healthy)));
        assert!(!exact.wants(&container("a", "nginx:12", Health::Healthy)));
        let glob = Matcher::new(&InventoryQuery::all().with_image("*/nginx:*")).unwrap();
        assert!(glob.wants(&container(
            "a",
            "/org/acme/image/nginx:1.2",
            Health::Healthy
        )));
        assert!(!glob.wants(&container("a", "redis:7", Health::Healthy)));
    }

    #[test]
    fn bad_patterns_name_their_field() {
        let error = Matcher::new(&InventoryQuery::all().with_name("(")).unwrap_err();
        assert_eq!(error.field, "name");
        let error = Matcher::new(&InventoryQuery::all().with_image("a[")).unwrap_err();
        assert_eq!(error.field, "image");
        let error =
            Matcher::new(&InventoryQuery::all().with_page(1, Some("zz".into()))).unwrap_err();
        assert_eq!(error.field, "cursor");
    }

    #[test]
    fn unhealthy_only_and_name_regex() {
        let m = Matcher::new(&InventoryQuery::all().unhealthy_only().with_name("^api-")).unwrap();
        assert!(m.wants(&container("api-1", "x", Health::Unhealthy)));
        assert!(!m.wants(&container("api-1", "x", Health::Healthy)));
        assert!(!m.wants(&container("web-1", "x", Health::Unhealthy)));
    }

    #[test]
    fn cursors_round_trip() {
        let key = "t\u{1f}prod\u{1f}web";
        assert_eq!(decode_cursor(&encode_cursor(key)).as_deref(), Some(key));
    }
}
