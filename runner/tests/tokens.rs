//! Token management end to end, on both store backends: tokens made, listed and revoked with
//! the CLI against a real runner process and real Docker, org scoping, roles, expiry, and the
//! profile `windlass login` keeps.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod process;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use process::Runner;
use serde_json::Value;
use windlass_test_support::backend_tests;
use windlass_test_support::db::TestDb;
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;

/// A one-service stack file that stays up.
fn stack_file(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("app.toml");
    std::fs::write(
        &path,
        format!(
            "[[services]]\nname = \"web\"\nimage = \"{BUSYBOX}\"\n\
             command = [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
        ),
    )?;
    Ok(path.to_str().unwrap().to_owned())
}

/// The command failed with exit code 1 and the API error `code`: its stderr.
fn refused(out: &Output, code: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error [{code}] ")),
        "expected [{code}]: {stderr}"
    );
    stderr
}

fn deploy(runner: &Runner, file: &str, org: &str, token: &str) -> Output {
    runner.cli_with(
        &[
            "deploy",
            file,
            "--org",
            org,
            "--stack",
            "app",
            "--timeout",
            "60",
        ],
        token,
    )
}

/// The done-when test of token management: a CLI-made `read` token of `globex` sees only
/// globex's containers, cannot deploy, and stops working when revoked or expired.
async fn a_cli_token_is_scoped_to_its_org_and_role_and_stops_when_revoked_or_expired(
    db: &TestDb,
) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start_with_store(&scope, dir.path(), Some(&db.url)).await?;
    let file = stack_file(dir.path())?;
    for org in ["acme", "globex"] {
        let out = deploy(&runner, &file, org, &runner.token);
        assert!(out.status.success(), "{out:?}");
    }
    runner.wait_ps(&["--status", "running"], |c| c.len() == 2);

    let created = runner.json(&[
        "tokens", "create", "--org", "globex", "--role", "read", "--name", "viewer",
    ]);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("wl_") && id.starts_with("tok_"),
        "{created}"
    );
    assert_eq!(
        (&created["org"], &created["role"], &created["name"]),
        (&"globex".into(), &"read".into(), &"viewer".into())
    );

    // It sees globex's container and nothing of acme's, even when asking for it.
    let listed = runner.json_with(&["ps"], &secret);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["org"], "globex");
    refused(
        &runner.cli_with(&["ps", "--org", "acme"], &secret),
        "forbidden",
    );

    // It may not deploy (403), and the refused deploy created nothing.
    let out = deploy(&runner, &file, "globex", &secret);
    let stderr = refused(&out, "forbidden");
    assert!(stderr.contains("deploy role"), "{stderr}");
    let out = runner.cli_with(
        &["deploy", &file, "--org", "globex", "--stack", "other"],
        &secret,
    );
    refused(&out, "forbidden");
    let stacks = runner.json(&["stacks"]);
    assert_eq!(stacks.as_array().unwrap().len(), 2, "{stacks}");
    // Nor manage tokens.
    refused(&runner.cli_with(&["tokens", "ls"], &secret), "forbidden");

    // Listing shows name, org, role, times and the last use, never a secret.
    let table = runner.ok(&["tokens", "ls"]);
    assert!(!table.contains(&secret), "{table}");
    let row = table.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        row.contains("viewer") && row.contains("globex") && row.contains(" read "),
        "{table}"
    );
    let all = runner.json(&["tokens", "ls"]);
    assert!(!all.to_string().contains(&secret), "{all}");
    assert!(!all.to_string().contains("secret"), "{all}");
    let viewer = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert!(viewer["created_ms"].as_i64().unwrap() > 0, "{viewer}");
    assert!(viewer["last_used_ms"].as_i64().unwrap() > 0, "{viewer}");
    assert_eq!(viewer["expires_ms"], Value::Null);
    let initial = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "initial admin")
        .unwrap();
    assert_eq!(
        (&initial["org"], &initial["role"]),
        (&"*".into(), &"admin".into())
    );

    // Revoked: refused with its own code, on every route.
    let out = runner.ok(&["tokens", "revoke", &id]);
    assert!(out.starts_with(&format!("revoked token {id}")), "{out}");
    let stderr = refused(&runner.cli_with(&["ps"], &secret), "token-revoked");
    assert!(stderr.contains(&id), "{stderr}");
    refused(&runner.cli_with(&["stacks"], &secret), "token-revoked");
    let listed = runner.json(&["tokens", "ls"]);
    let viewer = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert!(viewer["revoked_ms"].as_i64().is_some(), "{viewer}");
    assert!(
        runner
            .ok(&["tokens", "ls"])
            .lines()
            .any(|l| l.contains(&id) && l.ends_with("revoked"))
    );

    // Expiring: works until its time, then is refused with its own code.
    let short = runner.json(&[
        "tokens",
        "create",
        "--org",
        "globex",
        "--role",
        "read",
        "--name",
        "brief",
        "--expires",
        "3s",
    ]);
    let short_secret = short["secret"].as_str().unwrap().to_owned();
    let expires_ms = short["expires_ms"].as_i64().unwrap();
    assert!(expires_ms > short["created_ms"].as_i64().unwrap());
    let listed = runner.json_with(&["ps"], &short_secret);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["org"] == "globex")
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = runner.cli_with(&["ps"], &short_secret);
        if !out.status.success() {
            refused(&out, "token-expired");
            break;
        }
        assert!(Instant::now() < deadline, "the token never expired");
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = runner.cli(&[
        "tokens",
        "create",
        "--role",
        "read",
        "--name",
        "x",
        "--expires",
        "soon",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: --expires: bad duration"),
        "{out:?}"
    );
    Ok(())
}

/// An org's admin manages its own org's tokens only; the first-start token manages all.
async fn an_org_admin_manages_only_its_org_tokens(db: &TestDb) -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start_with_store(&scope, dir.path(), Some(&db.url)).await?;
    let make = |org: &str, role: &str, token: &str| {
        runner.json_with(
            &[
                "tokens", "create", "--org", org, "--role", role, "--name", "made",
            ],
            token,
        )
    };
    let acme_read = make("acme", "read", &runner.token);
    let globex_admin = make("globex", "admin", &runner.token)["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without --org, the token is of the maker's org.
    let own = runner.json_with(
        &["tokens", "create", "--role", "deploy", "--name", "ci"],
        &globex_admin,
    );
    assert_eq!(
        (&own["org"], &own["role"]),
        (&"globex".into(), &"deploy".into())
    );
    for org in ["acme", "*"] {
        let out = runner.cli_with(
            &[
                "tokens", "create", "--org", org, "--role", "read", "--name", "x",
            ],
            &globex_admin,
        );
        refused(&out, "forbidden");
    }
    let listed = runner.json_with(&["tokens", "ls"], &globex_admin);
    let orgs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["org"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["globex", "globex"], "{listed}");
    // Another org's token is "not found", exactly like a missing one, and stays usable.
    let acme_id = acme_read["id"].as_str().unwrap();
    let theirs = refused(
        &runner.cli_with(&["tokens", "revoke", acme_id], &globex_admin),
        "not-found",
    );
    let missing = refused(
        &runner.cli_with(&["tokens", "revoke", "tok_000000000000"], &globex_admin),
        "not-found",
    );
    assert_eq!(
        theirs.replace(acme_id, "ID"),
        missing.replace("tok_000000000000", "ID")
    );
    runner.json_with(&["ps"], acme_read["secret"].as_str().unwrap());
    let all = runner.json(&["tokens", "ls"]);
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    Ok(())
}

backend_tests!(
    a_cli_token_is_scoped_to_its_org_and_role_and_stops_when_revoked_or_expired,
    an_org_admin_manages_only_its_org_tokens,
);

/// `windlass login` keeps URL and token in a 0600 profile that the client commands use
/// without WINDLASS_TOKEN; `logout` deletes it. Flags and the environment win over it, and
/// its token is never sent to another URL.
#[tokio::test]
async fn login_keeps_a_private_profile_that_commands_use_until_logout() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start(&scope, dir.path()).await?;
    let reader = runner.json(&[
        "tokens", "create", "--org", "globex", "--role", "read", "--name", "laptop",
    ]);
    let secret = reader["secret"].as_str().unwrap();

    // Without a profile and without a token: 401.
    let out = runner
        .command()
        .args(["ps", "--url", &runner.url])
        .output()?;
    refused(&out, "unauthorized");

    let out = runner
        .command()
        .args(["login", "--url", &runner.url, "--token", secret])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!("as token {}", reader["id"].as_str().unwrap()))
            && stdout.contains("(org globex, role read)"),
        "{stdout}"
    );
    let mode = std::fs::metadata(&runner.profile)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the profile holds a token");
    let dir_mode = std::fs::metadata(runner.profile.parent().unwrap())?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);

    // The profile alone: URL and token from it.
    let out = runner.command().args(["ps", "--json"]).output()?;
    assert!(out.status.success(), "{out:?}");
    // WINDLASS_TOKEN wins over the profile.
    let out = runner
        .command()
        .args(["ps"])
        .env("WINDLASS_TOKEN", "wl_not_a_token")
        .output()?;
    refused(&out, "unauthorized");
    // Another URL never gets the profile's token: no token is sent at all.
    let port = process::free_port()?;
    let other = format!("http://127.0.0.1:{port}");
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let seen = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = vec![0u8; 4096];
        let n = stream.read(&mut head).unwrap_or(0);
        let _ = stream.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n");
        String::from_utf8_lossy(&head[..n]).into_owned()
    });
    let out = runner.command().args(["ps", "--url", &other]).output()?;
    assert!(!out.status.success());
    let request = seen.join().unwrap();
    assert!(request.starts_with("GET /v1/containers"), "{request}");
    assert!(
        !request.to_ascii_lowercase().contains("authorization"),
        "{request}"
    );

    // A profile others can read is refused, not used.
    std::fs::set_permissions(&runner.profile, std::fs::Permissions::from_mode(0o644))?;
    let out = runner.command().args(["ps"]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mode 0644 lets other users read or change the token"),
        "{stderr}"
    );
    std::fs::set_permissions(&runner.profile, std::fs::Permissions::from_mode(0o600))?;

    // Logout: the file is gone and the commands are unauthenticated again.
    let out = runner.command().args(["logout"]).output()?;
    assert!(out.status.success(), "{out:?}");
    assert!(!runner.profile.exists());
    let out = runner
        .command()
        .args(["ps", "--url", &runner.url])
        .output()?;
    refused(&out, "unauthorized");
    // A wrong token is not saved.
    let out = runner
        .command()
        .args(["login", "--url", &runner.url, "--token", "wl_not_a_token"])
        .output()?;
    refused(&out, "unauthorized");
    assert!(!runner.profile.exists());
    Ok(())
}
