//! The template's logic: parameters, validation and rendering.

use std::collections::BTreeMap;

#[cfg(feature = "builds")]
use windlass_plugin_sdk::types::BuildSource;
use windlass_plugin_sdk::types::{
    CheckKind, Dependency, DependencyCondition, HealthCheck, Parameter, ParameterType, PluginError,
    Port, Probe, ServiceSpec, StackSpec, TemplateInfo, VolumeMount, VolumeSpec,
};

/// Reads the plugin's configuration.
pub(crate) type Config<'a> = &'a dyn Fn(&str) -> Option<String>;

const DEFAULT_POSTGRES_IMAGE: &str = "local/postgres:15";
const DEFAULT_API_IMAGE: &str = "local/windlass-demo-api:1";
const DEFAULT_WEB_IMAGE: &str = "local/windlass-demo-web:1";
const MAX_REPLICAS: i64 = 20;
const DB_PORT: u16 = 5432;
/// Readiness probes every second: dependents start about as soon as what they wait for is
/// ready (the same interval the docker-compose baseline uses).
const PROBE_INTERVAL_MS: u32 = 1_000;
const API_PORT: u16 = 8080;
const WEB_PORT: u16 = 80;

/// The parameters, with their defaults given the configuration.
fn parameters(config: Config<'_>) -> Vec<Parameter> {
    let postgres_default =
        config("default_postgres_image").unwrap_or_else(|| DEFAULT_POSTGRES_IMAGE.to_owned());
    let mut params = vec![
        Parameter::new(
            "web_replicas",
            ParameterType::Integer,
            Some("1"),
            "Replicas of the web frontend, 1 to 20.",
        ),
        Parameter::new(
            "api_replicas",
            ParameterType::Integer,
            Some("1"),
            "Replicas of the API backend, 1 to 20.",
        ),
        Parameter::new(
            "db_name",
            ParameterType::Text,
            Some("app"),
            "The PostgreSQL database to create: a lower-case identifier ([a-z][a-z0-9_]*, at most 63 characters).",
        ),
        Parameter::new(
            "db_user",
            ParameterType::Text,
            Some("app"),
            "The PostgreSQL user to create: a lower-case identifier ([a-z][a-z0-9_]*, at most 63 characters).",
        ),
        Parameter::new(
            "db_password",
            ParameterType::Text,
            None,
            "The PostgreSQL user's password. Required.",
        )
        .secret(),
        Parameter::new(
            "postgres_image",
            ParameterType::Text,
            Some(&postgres_default),
            "The PostgreSQL image.",
        ),
        Parameter::new(
            "api_image",
            ParameterType::Text,
            Some(DEFAULT_API_IMAGE),
            "The API backend's image; it listens on 8080 and answers GET /healthz.",
        ),
    ];
    // Build sources are contract 0.2.0: the 0.1.0 build of this source has no such parameters.
    #[cfg(feature = "builds")]
    params.extend(build_parameters());
    params.extend([
        Parameter::new(
            "web_image",
            ParameterType::Text,
            Some(DEFAULT_WEB_IMAGE),
            "The web frontend's image; it listens on 80.",
        ),
        Parameter::new(
            "web_port",
            ParameterType::Integer,
            Some(""),
            "The host port to publish the frontend on, 1 to 65535; empty lets Docker pick one. A fixed port needs web_replicas = 1.",
        ),
    ]);
    params
}

/// The parameters that build the API from a repository (contract 0.2.0).
#[cfg(feature = "builds")]
fn build_parameters() -> [Parameter; 3] {
    [
        Parameter::new(
            "api_repository",
            ParameterType::Text,
            Some(""),
            "Build the API backend from this git repository (https://, ssh:// or a path) instead of running api_image; empty runs api_image. The built app must listen on 8080 (PORT) and answer GET /healthz and /livez.",
        ),
        Parameter::new(
            "api_ref",
            ParameterType::Text,
            Some(""),
            "The branch, tag or commit of api_repository to build; empty: its default branch.",
        ),
        Parameter::new(
            "api_subdirectory",
            ParameterType::Text,
            Some(""),
            "The directory of api_repository to build from (relative); empty: the top.",
        ),
    ]
}

/// Describes the template.
pub(crate) fn describe(config: Config<'_>) -> TemplateInfo {
    TemplateInfo {
        name: "stack-web-postgres".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: "A web frontend, an API backend and PostgreSQL with a persistent volume."
            .to_owned(),
        parameters: parameters(config),
    }
}

/// Validated parameter values.
#[derive(Debug)]
struct Values {
    web_replicas: u32,
    api_replicas: u32,
    db_name: String,
    db_user: String,
    db_password: String,
    postgres_image: String,
    api_image: String,
    /// The API built from source instead of `api_image`.
    #[cfg(feature = "builds")]
    api_build: Option<BuildSource>,
    web_image: String,
    web_port: Option<u16>,
}

impl Values {
    fn parse(config: Config<'_>, given: &[(String, String)]) -> Result<Self, PluginError> {
        let known = parameters(config);
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in given {
            let Some(param) = known.iter().find(|p| p.name == *name) else {
                return Err(unknown(name, &known));
            };
            if values.insert(param.name.as_str(), value.as_str()).is_some() {
                return Err(PluginError::invalid_parameter(
                    name,
                    format!("parameter `{name}` is given more than once"),
                ));
            }
        }
        for param in &known {
            if let Some(default) = &param.default {
                values
                    .entry(param.name.as_str())
                    .or_insert(default.as_str());
            } else if !values.contains_key(param.name.as_str()) {
                return Err(PluginError::missing_parameter(&param.name));
            }
        }
        let get = |name: &str| values.get(name).copied().unwrap_or_default();

        let web_replicas = integer("web_replicas", get("web_replicas"), 1, MAX_REPLICAS)? as u32;
        let web_port = match get("web_port").trim() {
            "" => None,
            text => Some(integer("web_port", text, 1, i64::from(u16::MAX))? as u16),
        };
        if web_port.is_some() && web_replicas > 1 {
            return Err(PluginError::invalid_parameter(
                "web_port",
                format!(
                    "`web_port` fixes one host port, so it needs `web_replicas` = 1 (got {web_replicas}); leave `web_port` empty to let Docker pick ports"
                ),
            ));
        }
        let db_password = get("db_password");
        if db_password.is_empty() {
            return Err(PluginError::invalid_parameter(
                "db_password",
                "`db_password` must not be empty",
            ));
        }
        if db_password.chars().any(char::is_control) {
            return Err(PluginError::invalid_parameter(
                "db_password",
                "`db_password` must not contain control characters (such as newlines)",
            ));
        }
        Ok(Self {
            web_replicas,
            api_replicas: integer("api_replicas", get("api_replicas"), 1, MAX_REPLICAS)? as u32,
            db_name: identifier("db_name", get("db_name"))?,
            db_user: identifier("db_user", get("db_user"))?,
            db_password: db_password.to_owned(),
            postgres_image: image("postgres_image", get("postgres_image"))?,
            api_image: image("api_image", get("api_image"))?,
            #[cfg(feature = "builds")]
            api_build: build_source(
                get("api_repository"),
                get("api_ref"),
                get("api_subdirectory"),
            )?,
            web_image: image("web_image", get("web_image"))?,
            web_port,
        })
    }
}

/// `unknown-parameter` for `name`, listing the accepted parameters.
fn unknown(name: &str, known: &[Parameter]) -> PluginError {
    let mut error = PluginError::unknown_parameter(name);
    let names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
    error.message = format!("{}; accepted: {}", error.message, names.join(", "));
    error
}

/// Parses parameter `name` as an integer in `min..=max`.
fn integer(name: &str, text: &str, min: i64, max: i64) -> Result<i64, PluginError> {
    let value: i64 = text.trim().parse().map_err(|_| {
        PluginError::invalid_parameter(
            name,
            format!("`{name}` must be a whole number, got `{text}`"),
        )
    })?;
    if !(min..=max).contains(&value) {
        return Err(PluginError::invalid_parameter(
            name,
            format!("`{name}` must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// Checks that parameter `name` is a lower-case identifier, safe in SQL, URLs and DNS labels'
/// company: `[a-z][a-z0-9_]*`, at most 63 characters.
fn identifier(name: &str, text: &str) -> Result<String, PluginError> {
    let ok = text.len() <= 63
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(PluginError::invalid_parameter(
            name,
            format!(
                "`{name}` must start with a lower-case letter and contain only lower-case letters, digits and `_` (at most 63 characters), got `{text}`"
            ),
        ))
    }
}

/// Checks that parameter `name` looks like an image reference.
fn image(name: &str, text: &str) -> Result<String, PluginError> {
    let ok = !text.is_empty()
        && text.len() <= 255
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(PluginError::invalid_parameter(
            name,
            format!(
                "`{name}` must be an image reference such as `local/postgres:15`, got `{text}`"
            ),
        ))
    }
}

/// The API's build source, when `api_repository` is set. The engine checks the repository
/// (scheme, credentials, reachability) when it deploys; this refuses what is never valid.
#[cfg(feature = "builds")]
fn build_source(
    repository: &str,
    reference: &str,
    subdirectory: &str,
) -> Result<Option<BuildSource>, PluginError> {
    let repository = repository.trim();
    if repository.is_empty() {
        for (name, value) in [("api_ref", reference), ("api_subdirectory", subdirectory)] {
            if !value.is_empty() {
                return Err(PluginError::invalid_parameter(
                    name,
                    format!("`{name}` needs `api_repository`"),
                ));
            }
        }
        return Ok(None);
    }
    let plain = |name: &str, text: &str| {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) || text.starts_with('-') {
            Err(PluginError::invalid_parameter(
                name,
                format!(
                    "`{name}` must not contain spaces or control characters nor start with `-`, got `{text}`"
                ),
            ))
        } else {
            Ok(())
        }
    };
    plain("api_repository", repository)?;
    plain("api_ref", reference)?;
    plain("api_subdirectory", subdirectory)?;
    if subdirectory.starts_with('/') || subdirectory.split('/').any(|part| part == "..") {
        return Err(PluginError::invalid_parameter(
            "api_subdirectory",
            format!(
                "`api_subdirectory` must be a path inside the repository, got `{subdirectory}`"
            ),
        ));
    }
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    Ok(Some(BuildSource {
        repository: repository.to_owned(),
        reference: some(reference),
        subdirectory: some(subdirectory),
        strategy: None,
        credentials_secret: None,
        build_args: Vec::new(),
    }))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for URL user-info).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes `$` for the engine's environment interpolation.
fn env_literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// Renders the stack from `params`.
pub(crate) fn render(
    config: Config<'_>,
    params: &[(String, String)],
) -> Result<StackSpec, PluginError> {
    let v = Values::parse(config, params)?;

    let database_url = format!(
        "postgres://{}:{}@db:{DB_PORT}/{}",
        percent_encode(&v.db_user),
        percent_encode(&v.db_password),
        v.db_name
    );

    let mut db = ServiceSpec::new("db", v.postgres_image);
    db.env = vec![
        ("POSTGRES_USER".into(), v.db_user.clone()),
        ("POSTGRES_PASSWORD".into(), env_literal(&v.db_password)),
        ("POSTGRES_DB".into(), v.db_name.clone()),
    ];
    db.provides = vec![("DATABASE_URL".into(), database_url)];
    db.ports = vec![Port::tcp("postgres", DB_PORT)];
    db.volumes = vec![VolumeMount {
        volume: "pgdata".into(),
        target: "/var/lib/postgresql/data".into(),
        read_only: false,
    }];
    // Ready when it answers queries: PostgreSQL accepts TCP connections about a second before
    // it accepts queries (after a crash recovery, say), so a TCP probe would be too early.
    let mut db_ready = HealthCheck::new(
        CheckKind::Readiness,
        Probe::Exec(
            [
                "pg_isready",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &DB_PORT.to_string(),
            ]
            .map(String::from)
            .to_vec(),
        ),
    );
    db_ready.interval_ms = PROBE_INTERVAL_MS;
    db_ready.start_period_ms = 30_000;
    db.health_checks = vec![db_ready];

    let mut api = ServiceSpec::new("api", v.api_image);
    // Built from source, the service has no image until its first build succeeds.
    #[cfg(feature = "builds")]
    if let Some(build) = v.api_build {
        api.image = String::new();
        api.build = Some(build);
        api.env = vec![("PORT".into(), API_PORT.to_string())];
    }
    api.replicas = v.api_replicas;
    api.ports = vec![Port::tcp("http", API_PORT)];
    api.depends_on = vec![Dependency::new("db", DependencyCondition::Healthy)];
    let mut api_ready = HealthCheck::new(
        CheckKind::Readiness,
        HealthCheck::http_probe(API_PORT, "/healthz"),
    );
    api_ready.interval_ms = PROBE_INTERVAL_MS;
    // Alive while the process answers: a database outage makes the api unready (/healthz),
    // never a reason to restart it.
    api.health_checks = vec![
        api_ready,
        HealthCheck::new(
            CheckKind::Liveness,
            HealthCheck::http_probe(API_PORT, "/livez"),
        ),
    ];

    let mut web = ServiceSpec::new("web", v.web_image);
    web.replicas = v.web_replicas;
    web.env = vec![("API_URL".into(), format!("http://api:{API_PORT}"))];
    web.ports = vec![Port::tcp("http", WEB_PORT).published(v.web_port)];
    web.depends_on = vec![Dependency::new("api", DependencyCondition::Healthy)];
    // The page is served when the frontend answers; liveness restarts a hung one.
    let mut web_ready =
        HealthCheck::new(CheckKind::Readiness, HealthCheck::http_probe(WEB_PORT, "/"));
    web_ready.interval_ms = PROBE_INTERVAL_MS;
    web.health_checks = vec![
        web_ready,
        HealthCheck::new(CheckKind::Liveness, HealthCheck::http_probe(WEB_PORT, "/")),
    ];

    Ok(StackSpec {
        services: vec![db, api, web],
        volumes: vec![VolumeSpec {
            name: "pgdata".into(),
            labels: Vec::new(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_config(_: &str) -> Option<String> {
        None
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn render_with(pairs: &[(&str, &str)]) -> Result<StackSpec, PluginError> {
        render(&no_config, &params(pairs))
    }

    fn service<'a>(stack: &'a StackSpec, name: &str) -> &'a ServiceSpec {
        stack.services.iter().find(|s| s.name == name).unwrap()
    }

    fn env<'a>(s: &'a ServiceSpec, key: &str) -> Option<&'a str> {
        s.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn renders_defaults() {
        let stack = render_with(&[("db_password", "s3cret")]).unwrap();
        let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "api", "web"]);
        assert_eq!(stack.volumes.len(), 1);
        assert_eq!(stack.volumes[0].name, "pgdata");

        let db = service(&stack, "db");
        assert_eq!(db.image, "local/postgres:15");
        assert_eq!(env(db, "POSTGRES_USER"), Some("app"));
        assert_eq!(env(db, "POSTGRES_PASSWORD"), Some("s3cret"));
        assert_eq!(env(db, "POSTGRES_DB"), Some("app"));
        assert_eq!(
            db.provides,
            vec![(
                "DATABASE_URL".to_owned(),
                "postgres://app:s3cret@db:5432/app".to_owned()
            )]
        );
        assert_eq!(db.volumes[0].volume, "pgdata");
        assert_eq!(db.volumes[0].target, "/var/lib/postgresql/data");
        assert_eq!(db.health_checks.len(), 1);
        assert_eq!(db.health_checks[0].kind, CheckKind::Readiness);
        assert_eq!(
            db.health_checks[0].probe,
            Probe::Exec(
                ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert!(!db.ports[0].publish);

        let api = service(&stack, "api");
        assert_eq!(api.image, "local/windlass-demo-api:1");
        assert_eq!(api.replicas, 1);
        assert_eq!(api.ports[0].container_port, 8080);
        assert_eq!(
            api.depends_on,
            vec![Dependency::new("db", DependencyCondition::Healthy)]
        );
        let kinds: Vec<CheckKind> = api.health_checks.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [CheckKind::Readiness, CheckKind::Liveness]);
        for check in &api.health_checks {
            let Probe::Http(p) = &check.probe else {
                panic!("http probe")
            };
            assert_eq!(
                (p.port, p.path.as_str()),
                (
                    8080,
                    if check.kind == CheckKind::Liveness {
                        "/livez"
                    } else {
                        "/healthz"
                    }
                )
            );
        }

        let web = service(&stack, "web");
        assert_eq!(web.image, "local/windlass-demo-web:1");
        assert_eq!(env(web, "API_URL"), Some("http://api:8080"));
        assert_eq!(web.ports[0].container_port, 80);
        assert!(web.ports[0].publish);
        assert_eq!(web.ports[0].host_port, None);
        assert_eq!(
            web.depends_on,
            vec![Dependency::new("api", DependencyCondition::Healthy)]
        );
    }

    #[test]
    fn renders_parameters() {
        let stack = render_with(&[
            ("db_password", "p@ss:w/rd$1"),
            ("db_name", "shop"),
            ("db_user", "shop_owner"),
            ("web_replicas", "1"),
            ("api_replicas", "20"),
            ("web_port", "8081"),
            ("postgres_image", "registry.local:5000/pg@sha256:abc"),
            ("api_image", "acme/api:2"),
            ("web_image", "acme/web:2"),
        ])
        .unwrap();
        let db = service(&stack, "db");
        assert_eq!(db.image, "registry.local:5000/pg@sha256:abc");
        assert_eq!(env(db, "POSTGRES_PASSWORD"), Some("p@ss:w/rd$$1"));
        assert_eq!(
            db.provides[0].1,
            "postgres://shop_owner:p%40ss%3Aw%2Frd%241@db:5432/shop"
        );
        assert_eq!(service(&stack, "api").replicas, 20);
        assert_eq!(service(&stack, "api").image, "acme/api:2");
        let web = service(&stack, "web");
        assert_eq!(web.image, "acme/web:2");
        assert_eq!(web.ports[0].host_port, Some(8081));
    }

    #[test]
    fn postgres_default_comes_from_config() {
        let config =
            |k: &str| (k == "default_postgres_image").then(|| "mirror/postgres:16".to_owned());
        let stack = render(&config, &params(&[("db_password", "x")])).unwrap();
        assert_eq!(service(&stack, "db").image, "mirror/postgres:16");
        let info = describe(&config);
        let p = info
            .parameters
            .iter()
            .find(|p| p.name == "postgres_image")
            .unwrap();
        assert_eq!(p.default.as_deref(), Some("mirror/postgres:16"));
    }

    fn error(pairs: &[(&str, &str)]) -> PluginError {
        render_with(pairs).unwrap_err()
    }

    #[test]
    fn missing_password() {
        let e = error(&[]);
        assert_eq!(e.code, "missing-parameter");
        assert_eq!(e.field.as_deref(), Some("db_password"));
        assert!(e.message.contains("db_password"));
        let e = error(&[("db_password", "")]);
        assert_eq!(e.code, "invalid-parameter");
        let e = error(&[("db_password", "a\nb")]);
        assert_eq!(e.code, "invalid-parameter");
    }

    #[test]
    fn unknown_parameter() {
        let e = error(&[("db_password", "x"), ("colour", "blue")]);
        assert_eq!(e.code, "unknown-parameter");
        assert_eq!(e.field.as_deref(), Some("colour"));
        assert!(e.message.contains("colour") && e.message.contains("web_replicas"));
    }

    #[test]
    fn duplicate_parameter() {
        let e = error(&[("db_password", "x"), ("db_password", "y")]);
        assert_eq!(e.code, "invalid-parameter");
        assert_eq!(e.field.as_deref(), Some("db_password"));
    }

    #[test]
    fn bad_integers_and_ranges() {
        for (name, value) in [
            ("web_replicas", "two"),
            ("web_replicas", "0"),
            ("web_replicas", "21"),
            ("api_replicas", "-1"),
            ("api_replicas", "1.5"),
            ("api_replicas", "99999999999999999999"),
            ("web_port", "0"),
            ("web_port", "65536"),
            ("web_port", "http"),
        ] {
            let e = error(&[("db_password", "x"), (name, value)]);
            assert_eq!(e.code, "invalid-parameter", "{name}={value}");
            assert_eq!(e.field.as_deref(), Some(name), "{name}={value}");
            assert!(e.message.contains(name), "{}", e.message);
        }
        assert!(
            error(&[("db_password", "x"), ("web_replicas", "21")])
                .message
                .contains("between 1 and 20")
        );
        assert!(render_with(&[("db_password", "x"), ("web_port", "65535")]).is_ok());
        assert!(render_with(&[("db_password", "x"), ("web_port", "")]).is_ok());
    }

    #[test]
    fn fixed_port_needs_one_replica() {
        let e = error(&[
            ("db_password", "x"),
            ("web_port", "80"),
            ("web_replicas", "2"),
        ]);
        assert_eq!(e.field.as_deref(), Some("web_port"));
        assert!(render_with(&[("db_password", "x"), ("web_replicas", "2")]).is_ok());
    }

    #[test]
    fn bad_identifiers_and_images() {
        for (name, value) in [
            ("db_name", "Shop"),
            ("db_name", "1shop"),
            ("db_name", "shop-db"),
            ("db_user", "a b"),
            ("db_user", ""),
            ("db_user", "robert'); drop table students;--"),
            ("db_name", &"a".repeat(64)),
            ("api_image", ""),
            ("web_image", "evil image"),
            ("postgres_image", "x\ny"),
        ] {
            let e = error(&[("db_password", "x"), (name, value)]);
            assert_eq!(e.code, "invalid-parameter", "{name}={value}");
            assert_eq!(e.field.as_deref(), Some(name));
        }
        assert!(render_with(&[("db_password", "x"), ("db_name", &"a".repeat(63))]).is_ok());
    }

    #[test]
    fn describes_every_parameter() {
        let info = describe(&no_config);
        assert_eq!(info.name, "stack-web-postgres");
        let got: Vec<(&str, ParameterType, Option<&str>, bool)> = info
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), p.type_, p.default.as_deref(), p.secret))
            .collect();
        assert_eq!(
            got,
            vec![
                ("web_replicas", ParameterType::Integer, Some("1"), false),
                ("api_replicas", ParameterType::Integer, Some("1"), false),
                ("db_name", ParameterType::Text, Some("app"), false),
                ("db_user", ParameterType::Text, Some("app"), false),
                ("db_password", ParameterType::Text, None, true),
                (
                    "postgres_image",
                    ParameterType::Text,
                    Some("local/postgres:15"),
                    false
                ),
                (
                    "api_image",
                    ParameterType::Text,
                    Some("local/windlass-demo-api:1"),
                    false
                ),
                ("api_repository", ParameterType::Text, Some(""), false),
                ("api_ref", ParameterType::Text, Some(""), false),
                ("api_subdirectory", ParameterType::Text, Some(""), false),
                (
                    "web_image",
                    ParameterType::Text,
                    Some("local/windlass-demo-web:1"),
                    false
                ),
                ("web_port", ParameterType::Integer, Some(""), false),
            ]
        );
        assert!(info.parameters.iter().all(|p| !p.description.is_empty()));
    }

    #[cfg(feature = "builds")]
    #[test]
    fn the_api_builds_from_a_repository() {
        let stack = render_with(&[
            ("db_password", "x"),
            ("api_repository", "https://git.example/api.git"),
            ("api_ref", "v2"),
            ("api_subdirectory", "backend"),
        ])
        .unwrap();
        let api = service(&stack, "api");
        assert_eq!(api.image, "");
        assert_eq!(env(api, "PORT"), Some("8080"));
        let build = api.build.as_ref().unwrap();
        assert_eq!(build.repository, "https://git.example/api.git");
        assert_eq!(
            (build.reference.as_deref(), build.subdirectory.as_deref()),
            (Some("v2"), Some("backend"))
        );
        assert!(build.credentials_secret.is_none() && build.strategy.is_none());
        // Still behind the database, still probed the same way.
        assert_eq!(api.depends_on[0].service, "db");
        assert_eq!(api.health_checks.len(), 2);
        assert!(service(&stack, "db").build.is_none() && service(&stack, "web").build.is_none());
        // Without a repository: the image.
        let stack = render_with(&[("db_password", "x")]).unwrap();
        assert!(service(&stack, "api").build.is_none());
    }

    #[cfg(feature = "builds")]
    #[test]
    fn bad_build_parameters_name_their_field() {
        for (pairs, field) in [
            (vec![("api_ref", "main")], "api_ref"),
            (vec![("api_subdirectory", "x")], "api_subdirectory"),
            (vec![("api_repository", "has space")], "api_repository"),
            (
                vec![("api_repository", "-uupload-pack=x")],
                "api_repository",
            ),
            (
                vec![
                    ("api_repository", "/src/api"),
                    ("api_subdirectory", "../etc"),
                ],
                "api_subdirectory",
            ),
            (
                vec![("api_repository", "/src/api"), ("api_subdirectory", "/etc")],
                "api_subdirectory",
            ),
            (
                vec![
                    ("api_repository", "/src/api"),
                    ("api_ref", "--upload-pack=x"),
                ],
                "api_ref",
            ),
        ] {
            let mut pairs = pairs;
            pairs.push(("db_password", "x"));
            let e = render_with(&pairs).unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                ("invalid-parameter", Some(field)),
                "{pairs:?}: {e:?}"
            );
        }
    }
}
