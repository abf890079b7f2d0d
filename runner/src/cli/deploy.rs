//! `windlass deploy FILE` and `windlass scale ORG/STACK/SERVICE N`.
//!
//! `deploy` reads a stack in TOML (the format of `windlass::stacks::StackSpec`), checks that
//! it parses before anything is sent, deploys it, then polls the stack's status until every
//! service runs all its replicas and they are ready, showing progress on stderr (a spinner on
//! a terminal, a line per change otherwise), or fails after `--timeout`.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::Method;
use serde_json::{Value, json};
use windlass::stacks::StackSpec;

use super::{CliError, ClientArgs, print_json, text};

/// `windlass deploy`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The stack in TOML: `[[services]]` tables (name, image, command, env, replicas,
    /// depends_on, provides, health_checks…) and `volumes`.
    file: PathBuf,
    /// The org that owns the stack.
    #[arg(long)]
    org: String,
    /// The stack's name.
    #[arg(long)]
    stack: String,
    /// A value for `${NAME}` in env and provides (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// How long to wait for every service to be ready, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Return once the stack is stored, without waiting.
    #[arg(long)]
    no_wait: bool,
    /// Print the API's JSON: the deployment, then (unless --no-wait) the final status, one
    /// JSON document per line.
    #[arg(long)]
    json: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Reads and parses a stack file; the error names the file, line and column.
fn read_stack(path: &PathBuf) -> Result<StackSpec, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let position = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{line}:{column}: ")
        });
        CliError::Usage(format!(
            "{}:{}{}",
            path.display(),
            position.unwrap_or_else(|| " ".to_owned()),
            e.message()
        ))
    })
}

/// `windlass deploy FILE --org O --stack S`.
pub(crate) async fn deploy(args: DeployArgs) -> Result<(), CliError> {
    let spec = read_stack(&args.file)?;
    let client = args.client.client()?;
    let params: BTreeMap<String, String> = args.params.into_iter().collect();
    let path = format!("/v1/orgs/{}/stacks/{}", args.org, args.stack);
    let body = json!({ "spec": spec, "params": params });
    let deployment = client.call(Method::PUT, &path, Some(&body)).await?;
    let name = format!("{}/{}", args.org, args.stack);
    if args.json {
        println!("{deployment}");
    } else {
        let services: Vec<String> = deployment["services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{} (revision {})", text(s, "service"), text(s, "revision")))
            .collect();
        println!("deployed {name}: {}", services.join(", "));
        let removed: Vec<String> = deployment["removed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or_default().to_owned())
            .collect();
        if !removed.is_empty() {
            println!("removed {}", removed.join(", "));
        }
    }
    if args.no_wait {
        return Ok(());
    }
    let status = wait_ready(&client, &path, &name, Duration::from_secs(args.timeout)).await?;
    if args.json {
        println!("{status}");
    } else {
        println!("{name} is ready: {}", summary(&status));
    }
    Ok(())
}

/// `web 2/2, db 1/1` from a stack status.
fn summary(status: &Value) -> String {
    status["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} {}/{}",
                text(s, "service"),
                text(s, "ready"),
                text(s, "replicas")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls the stack's status until it is ready or `timeout` passes, showing progress.
async fn wait_ready(
    client: &super::Client,
    path: &str,
    name: &str,
    timeout: Duration,
) -> Result<Value, CliError> {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = String::new();
    let mut frame = 0;
    loop {
        let status = client.get(path).await?;
        let line = format!("waiting for {name}: {}", summary(&status));
        if status["ready"] == json!(true) {
            if terminal {
                eprint!("\r\x1b[2K");
            }
            return Ok(status);
        }
        if started.elapsed() >= timeout {
            if terminal {
                eprintln!();
            }
            return Err(CliError::Other(anyhow::anyhow!(
                "{name} is not ready after {} s: {} (ready/wanted); the deployment stays in place",
                timeout.as_secs(),
                summary(&status)
            )));
        }
        if terminal {
            eprint!(
                "\r\x1b[2K{} {line} ({} s)",
                FRAMES[frame % FRAMES.len()],
                started.elapsed().as_secs()
            );
            let _ = std::io::stderr().flush();
            frame += 1;
        } else if line != last_line {
            eprintln!("{line}");
        }
        last_line = line;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `windlass scale`.
#[derive(Debug, Args)]
pub(crate) struct ScaleArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The service, as ORG/STACK/SERVICE.
    #[arg(value_name = "ORG/STACK/SERVICE")]
    service: String,
    /// The replica count.
    replicas: u32,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass scale ORG/STACK/SERVICE N`.
pub(crate) async fn scale(args: ScaleArgs) -> Result<(), CliError> {
    let parts: Vec<&str> = args.service.split('/').collect();
    let [org, stack, service] = parts.as_slice() else {
        return Err(CliError::Usage(format!(
            "{:?} is not ORG/STACK/SERVICE",
            args.service
        )));
    };
    let path = format!("/v1/orgs/{org}/stacks/{stack}/services/{service}/scale");
    let answer = args
        .client
        .client()?
        .call(
            Method::POST,
            &path,
            Some(&json!({ "replicas": args.replicas })),
        )
        .await?;
    if args.json {
        print_json(&answer);
    } else {
        println!(
            "scaled {} to {} replicas (revision {})",
            args.service,
            text(&answer, "replicas"),
            text(&answer, "revision")
        );
    }
    Ok(())
}

/// `windlass rollback`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The service, as ORG/STACK/SERVICE.
    #[arg(value_name = "ORG/STACK/SERVICE")]
    service: String,
    /// The kept revision to go back to (default: the one before the current).
    #[arg(long)]
    revision: Option<u64>,
    /// Only list the kept revisions and the last rolling update.
    #[arg(long)]
    list: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass rollback ORG/STACK/SERVICE [--revision N] [--list]`.
pub(crate) async fn rollback(args: RollbackArgs) -> Result<(), CliError> {
    let parts: Vec<&str> = args.service.split('/').collect();
    let [org, stack, service] = parts.as_slice() else {
        return Err(CliError::Usage(format!(
            "{:?} is not ORG/STACK/SERVICE",
            args.service
        )));
    };
    let base = format!("/v1/orgs/{org}/stacks/{stack}/services/{service}");
    let client = args.client.client()?;
    if args.list {
        let answer = client.get(&format!("{base}/revisions")).await?;
        if args.json {
            print_json(&answer);
        } else {
            println!("current revision {}", text(&answer, "current"));
            for kept in answer["revisions"].as_array().into_iter().flatten() {
                println!("  revision {}", text(kept, "revision"));
            }
            let rollout = &answer["rollout"];
            if !rollout.is_null() {
                println!(
                    "last update: {} -> {} {}",
                    text(rollout, "from_revision"),
                    text(rollout, "to_revision"),
                    text(rollout, "state")
                );
            }
        }
        return Ok(());
    }
    let body = json!({ "revision": args.revision });
    let answer = client
        .call(Method::POST, &format!("{base}/rollback"), Some(&body))
        .await?;
    if args.json {
        print_json(&answer);
    } else {
        println!(
            "rolling {} back to revision {} (replicas are replaced like in any update)",
            args.service,
            text(&answer, "revision")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_stack_file_names_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.toml");
        std::fs::write(
            &path,
            "[[services]]\nname = \"web\"\nimage = \"busybox\"\nreplicaz = 2\n",
        )
        .unwrap();
        let error = read_stack(&path).unwrap_err().to_string();
        assert!(error.contains("stack.toml:4:1: "), "{error}");
        assert!(error.contains("replicaz"), "{error}");
        assert_eq!(parse_param("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_param("=x").is_err());
    }
}
