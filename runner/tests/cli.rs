//! The `windlass` client commands against a real runner process: `windlass run --config` on a
//! free loopback port with a temporary SQLite store, the admin token read from its first-start
//! output, real Docker underneath. Each command runs as its own process, as an operator would
//! run it.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use process::{Runner, free_port};
use serde_json::Value;

/// A stack: an `echo` service that prints three lines and stays up, and a `web` service that
/// waits for it and gets `${greeting}` injected.
fn stack_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("shop.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[services]]
name = "echo"
image = "{BUSYBOX}"
command = ["sh", "-c", "for i in 1 2 3; do echo hello $i; done; trap 'exit 0' TERM; while true; do sleep 1; done"]
provides = {{ GREETING = "${{greeting}}" }}

[[services]]
name = "web"
image = "{BUSYBOX}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
depends_on = [{{ service = "echo" }}]
"#
        ),
    )?;
    Ok(path)
}

#[tokio::test]
async fn deploy_ps_scale_logs_stacks_health_and_events_against_a_runner() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start(&scope, dir.path()).await?;

    assert_eq!(runner.json(&["ps"]), Value::Array(vec![]));
    let file = stack_file(dir.path())?;
    let file = file.to_str().unwrap();
    let out = runner.ok(&[
        "deploy",
        file,
        "--org",
        "acme",
        "--stack",
        "shop",
        "--param",
        "greeting=hi",
        "--timeout",
        "60",
    ]);
    assert!(
        out.contains("deployed acme/shop: echo (revision 1), web (revision 1)"),
        "{out}"
    );
    assert!(
        out.contains("acme/shop is ready: echo 1/1, web 1/1"),
        "{out}"
    );

    let table = runner.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("ORG/STACK/SERVICE"),
        "{table}"
    );
    assert!(
        lines[1..].iter().all(|l| l.contains(" running ")
            && l.split_whitespace()
                .rev()
                .take(3)
                .eq(["-", "local", BUSYBOX])),
        "{table}"
    );
    assert!(lines.iter().any(|l| l.contains("acme/shop/web")), "{table}");
    let listed = runner.json(&["ps", "--stack", "shop", "--service", "web"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["org"], "acme");

    // Scale: the revision stays, a second replica appears.
    let out = runner.ok(&["scale", "acme/shop/web", "2"]);
    assert_eq!(
        out.trim(),
        "scaled acme/shop/web to 2 replicas (revision 1)"
    );
    runner.wait_ps(
        &["--stack", "shop", "--service", "web", "--status", "running"],
        |c| c.len() == 2,
    );
    let stacks = runner.ok(&["stacks"]);
    assert!(
        stacks
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["acme/shop", "web", "1", "2", "2", "2", "local"]),
        "{stacks}"
    );

    // Logs of the echo container: the last two lines, and the same as JSON.
    let echo = runner.json(&["ps", "--stack", "shop", "--service", "echo"])[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = runner.ok(&["logs", &echo, "--tail", "2"]);
    let texts: Vec<&str> = logs
        .lines()
        .map(|l| l.split_once(" stdout ").unwrap().1)
        .collect();
    assert_eq!(texts, ["hello 2", "hello 3"], "{logs}");
    let json_logs = runner.ok(&["logs", &echo, "--json"]);
    let first: Value = serde_json::from_str(json_logs.lines().next().unwrap())?;
    assert_eq!(
        (&first["stream"], &first["text"]),
        (&"stdout".into(), &"hello 1".into())
    );

    let health = runner.ok(&["health", &echo]);
    assert!(health.contains("service    acme/shop/echo"), "{health}");
    assert!(health.contains("checks     none"), "{health}");

    // Events: history from an index, filtered by kind, as JSON lines and as text.
    let events = runner.ok(&[
        "events",
        "--since",
        "0",
        "--kind",
        "stack-deployed",
        "--json",
    ]);
    let deployed: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(deployed.len(), 1, "{events}");
    assert_eq!(deployed[0]["stack"], "shop");
    let index = deployed[0]["index"].as_u64().unwrap();
    let later = runner.ok(&[
        "events",
        "--since",
        &(index + 1).to_string(),
        "--org",
        "acme",
    ]);
    assert!(!later.contains(" stack-deployed "), "{later}");
    assert!(later.lines().all(|l| l.starts_with('#')), "{later}");
    assert!(later.contains("container-started"), "{later}");

    // A new revision (another greeting reaches web through echo's provides), then a rollback.
    let out = runner.ok(&[
        "deploy",
        file,
        "--org",
        "acme",
        "--stack",
        "shop",
        "--param",
        "greeting=ho",
        "--timeout",
        "60",
    ]);
    assert!(out.contains("web (revision 2)"), "{out}");
    let out = runner.ok(&["rollback", "acme/shop/web"]);
    assert!(out.contains("back to revision 1"), "{out}");
    let kept = runner.json(&["rollback", "acme/shop/web", "--list"]);
    assert_eq!(kept["current"], 1, "{kept}");
    let numbers: Vec<u64> = kept["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1], "{kept}");

    // This runner has no plugins; reloading one that does not exist is a not-found error.
    assert_eq!(runner.json(&["plugins"]), Value::Array(vec![]));
    let refused = runner.cli(&["plugins", "--reload", "nope"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error [not-found]"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn api_errors_print_their_code_and_field_and_exit_non_zero() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start(&scope, dir.path()).await?;
    let file = stack_file(dir.path())?;
    let file = file.to_str().unwrap();
    // A stack that needs a parameter it is not given: refused here, with the file position of
    // the value that uses it, before anything is sent (nothing is stored).
    let out = runner.cli(&["deploy", file, "--org", "acme", "--stack", "shop"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {file}:5:25: services[0].provides.GREETING: variable greeting is not set"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("provides.GREETING").count(), 1, "{stderr}");
    assert_eq!(runner.json(&["stacks"]), Value::Array(vec![]));

    let failures = [
        (
            vec!["scale", "acme/shop/web", "2"],
            "error [not-found] service acme/shop/web not found\n",
        ),
        (vec!["health", "wl_nothing_here"], "error [not-found] "),
        (
            vec!["scale", "acme/shop", "2"],
            "error: \"acme/shop\" is not ORG/STACK/SERVICE\n",
        ),
        (
            vec!["ps", "--health", "sick"],
            "error [validation] health: ",
        ),
    ];
    for (args, expected) in failures {
        let out = runner.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = runner.cli_with(&["ps"], "wl_not_a_token");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error [unauthorized] unknown token\n"
    );

    // A stack file that is not valid TOML for a stack names its line and column.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[services]]\nname = \"web\"\nimage = \"x\"\nreplicas = \"two\"\n",
    )?;
    let out = runner.cli(&[
        "deploy",
        bad.to_str().unwrap(),
        "--org",
        "acme",
        "--stack",
        "s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad.toml:4:12: "), "{stderr}");

    // Nothing answers on this port: a connection error, exit 1.
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["ps", "--url", &format!("http://127.0.0.1:{}", free_port()?)])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: cannot talk to the API: "),
        "{out:?}"
    );
    Ok(())
}

#[tokio::test]
async fn logs_follow_until_the_container_stops_and_events_follow_resumes_across_a_restart()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let mut runner = Runner::start(&scope, dir.path()).await?;
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[[services]]
name = "job"
image = "{BUSYBOX}"
command = ["sh", "-c", "echo started; sleep 2; echo finished"]
restart = {{ mode = "never" }}
"#
        ),
    )?;
    let job = job.to_str().unwrap().to_owned();
    runner.ok(&[
        "deploy",
        &job,
        "--org",
        "acme",
        "--stack",
        "jobs",
        "--no-wait",
    ]);
    let listed = runner.wait_ps(&["--stack", "jobs"], |c| c.len() == 1);
    let name = listed[0]["name"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let logs = runner.ok(&["logs", &name, "-f"]);
    let texts: Vec<&str> = logs
        .lines()
        .map(|l| l.split_once(" stdout ").unwrap().1)
        .collect();
    assert_eq!(texts, ["started", "finished"], "{logs}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // Follow stack-deployed events while the runner restarts: the events of both runs arrive,
    // each once, in order.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["events", "-f", "--kind", "stack-deployed", "--json"])
        .env("WINDLASS_URL", &runner.url)
        .env("WINDLASS_TOKEN", &runner.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = follower.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str(&line) {
                let _ = send.send(event);
            }
        }
    });
    let next = |receive: &std::sync::mpsc::Receiver<Value>| {
        receive
            .recv_timeout(Duration::from_secs(30))
            .context("no event within 30 s")
    };
    let first = next(&receive)?;
    assert_eq!(first["stack"], "jobs");
    runner.restart()?;
    for stack in ["second", "third"] {
        runner.ok(&[
            "deploy",
            &job,
            "--org",
            "acme",
            "--stack",
            stack,
            "--no-wait",
        ]);
    }
    let (second, third) = (next(&receive)?, next(&receive)?);
    assert_eq!(
        (&second["stack"], &third["stack"]),
        (&"second".into(), &"third".into())
    );
    let indexes: Vec<u64> = [&first, &second, &third]
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
    assert!(
        receive.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing is printed twice"
    );
    follower.kill()?;
    let mut stderr = String::new();
    follower
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)?;
    let _ = follower.wait();
    assert!(
        stderr.contains(&format!("resuming after #{}", indexes[0])),
        "{stderr}"
    );
    Ok(())
}

/// A private CA and a certificate it issued for `localhost` (not for 127.0.0.1), made here.
struct TestPki {
    ca_pem: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

fn test_pki() -> anyhow::Result<TestPki> {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "windlass test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate()?)?;
    let leaf_key = rcgen::KeyPair::generate()?;
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&leaf_key, &ca)?;
    Ok(TestPki {
        ca_pem: ca.pem(),
        cert: leaf.der().clone(),
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    })
}

/// A TLS-terminating proxy on a loopback port in front of the plain-HTTP `upstream`, as an
/// operator would put one in front of the API: its port. Runs until the runtime ends.
async fn tls_proxy(pki: &TestPki, upstream: String) -> anyhow::Result<u16> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                // A refused handshake (the client does not trust us) just ends here.
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_https_through_a_tls_proxy_trusting_the_given_ca() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start(&scope, dir.path()).await?;
    let pki = test_pki()?;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem)?;
    let port = tls_proxy(&pki, runner.url.trim_start_matches("http://").to_owned()).await?;
    let https = format!("https://localhost:{port}");
    let ca_arg = ca.to_str().unwrap();

    // Trusting the CA: JSON calls, a deploy (a PUT with a body) and the event stream.
    assert_eq!(
        runner.json(&["ps", "--url", &https, "--ca-cert", ca_arg]),
        Value::Array(vec![])
    );
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "[[services]]\nname = \"job\"\nimage = \"{BUSYBOX}\"\ncommand = [\"true\"]\nrestart = {{ mode = \"never\" }}\n"
        ),
    )?;
    let out = runner.ok(&[
        "deploy",
        job.to_str().unwrap(),
        "--org",
        "acme",
        "--stack",
        "tls",
        "--no-wait",
        "--url",
        &https,
        "--ca-cert",
        ca_arg,
    ]);
    assert!(out.contains("deployed acme/tls: job (revision 1)"), "{out}");
    let events = runner.ok(&[
        "events",
        "--kind",
        "stack-deployed",
        "--json",
        "--url",
        &https,
        "--ca-cert",
        ca_arg,
    ]);
    assert!(events.contains("\"stack\":\"tls\""), "{events}");
    // The same CA from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["stacks", "--url", &https])
        .env("WINDLASS_TOKEN", &runner.token)
        .env("WINDLASS_CA_CERT", &ca)
        .output()?;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("acme/tls"),
        "{out:?}"
    );

    // Refused: without the CA (the system's roots do not know it), and for a name the
    // certificate is not for.
    let by_address = format!("https://127.0.0.1:{port}");
    let refusals = [
        (vec!["ps", "--url", https.as_str()], "UnknownIssuer"),
        (
            vec!["ps", "--url", &by_address, "--ca-cert", ca_arg],
            "not valid for name \"127.0.0.1\"",
        ),
    ];
    for (args, why) in refusals {
        let out = runner.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot talk to the API: GET /v1/containers: "),
            "{stderr}"
        );
        assert!(
            stderr.contains("certificate") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_deploy_wait_is_a_spinner_on_a_terminal_and_plain_lines_elsewhere() -> anyhow::Result<()>
{
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start(&scope, dir.path()).await?;
    // Ready about two seconds after it starts, so the wait shows a few states.
    let slow = dir.path().join("slow.toml");
    std::fs::write(
        &slow,
        format!(
            r#"[[services]]
name = "slow"
image = "{BUSYBOX}"
command = ["sh", "-c", "sleep 2; touch /tmp/ready; trap 'exit 0' TERM; while true; do sleep 1; done"]
health_checks = [{{ kind = "readiness", probe = {{ type = "exec", command = ["test", "-f", "/tmp/ready"] }}, interval_ms = 250 }}]
"#
        ),
    )?;
    let slow = slow.to_str().unwrap();

    // Not a terminal: a line per change, no escape codes, the result on stdout.
    let out = runner.cli(&[
        "deploy",
        slow,
        "--org",
        "acme",
        "--stack",
        "plain",
        "--timeout",
        "60",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("acme/plain is ready: slow 1/1"), "{stdout}");
    assert!(stderr.lines().count() >= 1, "{stderr}");
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("waiting for acme/plain: slow ")),
        "{stderr}"
    );
    let mut seen = stderr.lines().collect::<Vec<_>>();
    seen.dedup();
    assert_eq!(
        seen.len(),
        stderr.lines().count(),
        "a line per change: {stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );

    // On a terminal (a pseudo-terminal from `script`): a spinner redrawn in place, cleared
    // when the stack is ready.
    let command = format!(
        "{} deploy {slow} --org acme --stack tty --timeout 60",
        env!("CARGO_BIN_EXE_windlass")
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("WINDLASS_URL", &runner.url)
        .env("WINDLASS_TOKEN", &runner.token)
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .context("`script` (util-linux) gives the command a terminal")?;
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen:?}");
    assert!(screen.contains("acme/tty is ready: slow 1/1"), "{screen:?}");
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    assert!(
        spinner
            .iter()
            .any(|frame| screen.contains(&format!("{frame} waiting for acme/tty: slow 0/1"))),
        "{screen:?}"
    );
    assert!(
        screen.contains('\r') || screen.contains("\x1b["),
        "redrawn in place: {screen:?}"
    );
    Ok(())
}

#[test]
fn completions_are_printed_for_a_shell() {
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("_windlass()"), "{script}");
    for command in [
        "deploy", "scale", "logs", "events", "health", "stacks", "ps",
    ] {
        assert!(script.contains(command), "{command} missing");
    }
}
