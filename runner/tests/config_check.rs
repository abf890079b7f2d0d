//! `windlass config check` and `windlass run` against the config crate's golden files: the
//! binary prints what the library decides, and exits 0 or 2.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// The golden files of the `windlass-config` crate (their expected texts name paths relative
/// to that crate's directory, so the binary runs there).
const DIR: &str = "tests/golden";

fn windlass() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command.current_dir(config_crate());
    command
}

fn config_crate() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// `windlass config check`: a summary and exit 0, or the error and exit 2.
#[test]
fn config_check_exits_0_or_2() {
    let check = |name: &str| {
        windlass()
            .args(["config", "check"])
            .arg(Path::new(DIR).join(name))
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    let good = check("full.toml");
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{stdout}");
    for expected in [
        "tests/golden/full.toml: valid",
        "engine   prod-eu-1",
        "store    sqlite://tests/golden/state/engine.db?mode=rwc",
        "plugins  4: web-postgres (stack-template), hourly (billing-rule)",
        "stacks   2: acme/shop (web-postgres), globex/shop (web-postgres)",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }

    let secret = check("postgres_store.toml");
    let stdout = String::from_utf8_lossy(&secret.stdout);
    assert!(
        stdout.contains("postgres://windlass:***@127.0.0.1:5432/windlass"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");

    let bad = check("bad_plugin_kind.toml");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        std::fs::read_to_string(config_crate().join(DIR).join("bad_plugin_kind.expected")).unwrap()
    );
}

/// `windlass run` refuses a bad config the same way, before starting anything.
#[test]
fn run_exits_2_on_a_bad_config() {
    let output = windlass()
        .args(["run", "--config"])
        .arg(Path::new(DIR).join("duplicate_plugin.toml"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(config_crate().join(DIR).join("duplicate_plugin.expected"))
            .unwrap()
    );
}
