//! The runner config against golden files: every `tests/golden/NAME.toml` has a
//! `NAME.expected` beside it holding what `windlass_config::load` makes of it — the validated
//! config (`{:#?}`) for a good file, the exact error text for a bad one.
//!
//! `WINDLASS_BLESS=1 cargo test -p windlass-config --test golden` rewrites the expected files; review
//! the diff before committing it.
//!
//! Paths in the files and in the results are relative to the crate's directory, where cargo
//! runs integration tests, so the results are the same on every machine.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use windlass_config::{ConfigError, load};

const DIR: &str = "tests/golden";

/// The `.toml` files of the golden directory, sorted.
fn cases() -> Vec<PathBuf> {
    assert_eq!(
        std::env::current_dir().unwrap(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "the golden results hold paths relative to the crate directory"
    );
    let mut cases: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|entry| Path::new(DIR).join(entry.unwrap().file_name()))
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 14, "golden files missing: {cases:?}");
    cases
}

/// What the golden file records for one config file.
fn outcome(path: &Path) -> String {
    match load(path) {
        Ok(config) => format!("{config:#?}\n"),
        Err(error) => format!("{error}\n"),
    }
}

#[test]
fn golden_files() {
    let bless = std::env::var_os("WINDLASS_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in cases() {
        let expected_path = case.with_extension("expected");
        let actual = outcome(&case);
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no {} (run with WINDLASS_BLESS=1 to write it)",
                case.display(),
                expected_path.display()
            )),
        }
    }
    for entry in std::fs::read_dir(DIR).unwrap() {
        let path = Path::new(DIR).join(entry.unwrap().file_name());
        if path.extension().is_some_and(|e| e == "expected")
            && !path.with_extension("toml").exists()
        {
            failures.push(format!("{}: no config file beside it", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (WINDLASS_BLESS=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The kind of error each bad file is, beyond its text.
#[test]
fn errors_are_typed() {
    let kind = |name: &str| -> &'static str {
        match load(Path::new(DIR).join(name)).unwrap_err() {
            ConfigError::Read { .. } => "read",
            ConfigError::Syntax { .. } => "syntax",
            ConfigError::Schema { .. } => "schema",
            ConfigError::Invalid { .. } => "invalid",
            ConfigError::Duplicate { .. } => "duplicate",
            ConfigError::Reference { .. } => "reference",
            ConfigError::MissingFile { .. } => "missing-file",
            _ => "other",
        }
    };
    let cases = [
        ("syntax_error.toml", "syntax"),
        ("unknown_top_level_key.toml", "schema"),
        ("unknown_plugin_key.toml", "schema"),
        ("wrong_type.toml", "schema"),
        ("missing_engine_id.toml", "schema"),
        ("bad_duration.toml", "invalid"),
        ("bad_plugin_kind.toml", "invalid"),
        ("bad_listen.toml", "invalid"),
        ("warning_not_below_critical.toml", "invalid"),
        ("duplicate_plugin.toml", "duplicate"),
        ("duplicate_stack.toml", "duplicate"),
        ("unknown_template.toml", "reference"),
        ("template_not_a_stack_template.toml", "reference"),
        ("missing_source.toml", "missing-file"),
        ("does_not_exist.toml", "read"),
    ];
    for (name, expected) in cases {
        assert_eq!(kind(name), expected, "{name}");
    }
    let error = load(Path::new(DIR).join("missing_source.toml")).unwrap_err();
    assert_eq!(error.key(), Some("plugins[0].source"));
    assert_eq!(
        error.location().map(|at| (at.line, at.column)),
        Some((7, 10))
    );
    match error {
        ConfigError::MissingFile { path, .. } => {
            assert_eq!(path, Path::new("tests/golden/fixtures/not_built_yet.wasm"));
        }
        other => panic!("{other}"),
    }
}

/// The shipped example is valid; only its plugin components may be missing, until
/// `cargo build --release` in `plugins/` has run.
#[test]
fn the_example_config_is_valid() {
    let example = Path::new("../examples/windlass.toml");
    match load(example) {
        Ok(config) => {
            assert!(config.plugin("web-postgres").is_some());
            assert!(!config.stacks.is_empty());
        }
        Err(ConfigError::MissingFile { path, key, .. }) => {
            assert!(
                key.ends_with(".source")
                    && path.starts_with("../examples/../plugins/target/wasm32-wasip2/release"),
                "{key}: {}",
                path.display()
            );
        }
        Err(error) => panic!("{error}"),
    }
}

/// A relative config path resolves against the current directory, its contents against the
/// file's directory: the same file gives the same config from anywhere.
#[test]
fn relative_paths_start_at_the_config_file() {
    let absolute = std::env::current_dir().unwrap().join(DIR).join("full.toml");
    let config = load(&absolute).unwrap();
    let fixtures = absolute.parent().unwrap().join("fixtures");
    assert_eq!(
        config.plugins[0].source,
        fixtures.join("stack_web_postgres.wasm")
    );
    assert_eq!(
        config.plugins[1].source,
        fixtures.join("billing_hourly.wasm")
    );
    assert_eq!(
        config.store.url,
        format!(
            "sqlite://{}?mode=rwc",
            absolute.parent().unwrap().join("state/engine.db").display()
        )
    );
    assert_eq!(
        config.compile_cache_dir(),
        absolute.parent().unwrap().join("state/compiled")
    );
}

/// Stack parameters, plugin config values and the store URL's password never show in the
/// validated config's `Debug`, nor in the engine builder or plugin specs made from it: each
/// known secret value of the files is searched for in every form of output.
#[test]
fn secrets_never_show_in_debug_output() {
    let full = load(Path::new(DIR).join("full.toml")).unwrap();
    let postgres = load(Path::new(DIR).join("postgres_store.toml")).unwrap();
    let mut outputs = Vec::new();
    for config in [&full, &postgres] {
        outputs.push(format!("{config:?}"));
        outputs.push(format!("{config:#?}"));
        outputs.push(format!("{:?}", config.engine_builder()));
        outputs.push(config.store.redacted_url());
        for plugin in &config.plugins {
            outputs.push(format!("{:?}", plugin.plugin_spec()));
        }
    }
    let secrets = [
        "not-a-secret",
        "also-not-a-secret",
        "s3cret",
        "local/postgres:15",
        "http://127.0.0.1:9000",
    ];
    for output in &outputs {
        for secret in secrets {
            assert!(!output.contains(secret), "{secret:?} shows in:\n{output}");
        }
    }
    // What is masked still says which keys are set.
    let debug = format!("{full:?}");
    assert!(
        debug.contains("\"db_password\": \"***\"") && debug.contains("\"base_url\": \"***\""),
        "{debug}"
    );
    assert!(format!("{postgres:?}").contains("windlass:***@"));
}
