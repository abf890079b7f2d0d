//! schemathesis (`--checks all`, response checks on) against a served runner: every operation
//! of `/openapi.json` with generated valid and invalid data finds no failure. The tool comes from
//! `scripts/setup-api-checks.sh`; per-operation expectations are in `schemathesis.toml`.

#![allow(clippy::unwrap_used)]

mod support;

use support::{server, tool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_with_every_check_finds_no_failure() -> anyhow::Result<()> {
    let schemathesis = tool("WINDLASS_SCHEMATHESIS")?;
    let server = server().await?;
    let admin = server.admin().await?;
    let base = server.api.base().to_owned();
    let dir = tempfile::tempdir()?;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemathesis.toml");
    let started = std::time::Instant::now();
    let output = tokio::process::Command::new(&schemathesis)
        .args(["--config-file", config])
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--max-examples", "25"])
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--seed", "1"])
        // The event stream and followed logs never end by themselves.
        .args(["--exclude-path", "/v1/events/stream"])
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .await?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{said}"
    );
    eprintln!("schemathesis: no failure in {:?}", started.elapsed());
    Ok(())
}
