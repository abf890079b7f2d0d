//! `windlass deploy FILE` and `windlass scale ORG/STACK/SERVICE N`.
//!
//! `deploy` reads a stack in TOML (the format of `windlass::stacks::StackSpec`) and checks it
//! here first as the runner would — the TOML (with `windlass-config`'s errors), then the
//! stack's validation and `${…}` interpolation with the `--param` values (the engine's own
//! `StackSpec::resolve`) — so a mistake is reported as `file:line:column: field: message`
//! before anything is sent. It then deploys it and polls the stack's status until every
//! service runs all its replicas and they are ready, showing progress on stderr (an
//! `indicatif` spinner on a terminal, a line per change otherwise), or fails after `--timeout`.
//! With `--estimate` it only asks what the stack would cost and prints it (see `estimate`).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use windlass::stacks::{StackErrors, StackSpec, Variables};

use super::client::encode;
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
    /// JSON document per line (with --estimate: the estimate).
    #[arg(long)]
    json: bool,
    /// Only print what the stack would cost (hourly, daily, monthly per service and resource,
    /// from the org's billing rule) and exit without deploying anything.
    #[arg(long)]
    estimate: bool,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Reads a stack file and checks it as the runner's `deploy_stack` will: the TOML, the org
/// and stack names, then validation and interpolation with `params`. Every error names the
/// file, line and column (of the field's value, or of the deepest part of its path that the
/// file has) and the field.
fn check_stack(
    path: &Path,
    org: &str,
    stack: &str,
    params: &BTreeMap<String, String>,
) -> Result<StackSpec, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let spec: StackSpec =
        windlass_config::from_toml(&text, path).map_err(|e| CliError::Usage(e.to_string()))?;
    for (flag, name) in [("--org", org), ("--stack", stack)] {
        windlass::validate_name(flag, name).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    let mut vars = Variables::for_stack(org, stack);
    for (name, value) in params {
        vars.insert(&format!("params.{name}"), name, value)
            .map_err(|e| CliError::Usage(format!("--param {name}: {}", e.message())))?;
    }
    spec.resolve(&vars)
        .map_err(|errors| CliError::Usage(stack_errors(&errors, &text, path)))?;
    Ok(spec)
}

/// One line per error, each `file:line:column: field: message` (`error: ` before every line
/// but the first, which [`CliError::Usage`] prefixes).
fn stack_errors(errors: &StackErrors, text: &str, path: &Path) -> String {
    errors
        .errors()
        .iter()
        .map(
            |error| match windlass_config::locate(text, path, error.field()) {
                Some(at) => format!("{at}: {error}"),
                None => format!("{}: {error}", path.display()),
            },
        )
        .collect::<Vec<_>>()
        .join("\nerror: ")
}

/// `windlass deploy FILE --org O --stack S`.
pub(crate) async fn deploy(args: DeployArgs) -> Result<(), CliError> {
    let params: BTreeMap<String, String> = args.params.into_iter().collect();
    let spec = check_stack(&args.file, &args.org, &args.stack, &params)?;
    let client = args.client.client()?;
    let path = format!(
        "/v1/orgs/{}/stacks/{}",
        encode(&args.org),
        encode(&args.stack)
    );
    let body = json!({ "spec": spec, "params": params });
    if args.estimate {
        let estimate = client
            .call(Method::POST, &format!("{path}/estimate"), Some(&body))
            .await?;
        if args.json {
            println!("{estimate}");
        } else {
            print!("{}", super::estimate::render(&estimate));
        }
        return Ok(());
    }
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

/// How the wait shows on stderr.
#[derive(Debug)]
enum Progress {
    /// On a terminal: one line redrawn in place, with a spinner and the time so far (ticking
    /// from the first line on, so no empty line is drawn before it).
    Spinner { bar: ProgressBar, ticking: bool },
    /// Elsewhere (a log file, CI): a line each time the summary changes, no escape codes.
    Lines { last: String },
}

impl Progress {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines {
                last: String::new(),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        );
        Self::Spinner {
            bar,
            ticking: false,
        }
    }

    fn show(&mut self, line: String) {
        match self {
            Self::Spinner { bar, ticking } => {
                bar.set_message(line);
                if !*ticking {
                    bar.enable_steady_tick(Duration::from_millis(100));
                    *ticking = true;
                }
            }
            Self::Lines { last } => {
                if *last != line {
                    eprintln!("{line}");
                    *last = line;
                }
            }
        }
    }

    /// Ends the display: a spinner's line is cleared when `keep` is false (the result is
    /// printed on stdout next), left in place otherwise (beside the error that follows).
    fn finish(self, keep: bool) {
        if let Self::Spinner { bar, .. } = self {
            if keep {
                bar.abandon();
            } else {
                bar.finish_and_clear();
            }
        }
    }
}

/// Polls the stack's status until it is ready or `timeout` passes, showing progress.
async fn wait_ready(
    client: &super::Client,
    path: &str,
    name: &str,
    timeout: Duration,
) -> Result<Value, CliError> {
    let started = Instant::now();
    let mut progress = Progress::new();
    loop {
        let status = match client.get(path).await {
            Ok(status) => status,
            Err(error) => {
                progress.finish(true);
                return Err(error);
            }
        };
        if status["ready"] == json!(true) {
            progress.finish(false);
            return Ok(status);
        }
        progress.show(format!("waiting for {name}: {}", summary(&status)));
        if started.elapsed() >= timeout {
            progress.finish(true);
            return Err(CliError::Other(anyhow::anyhow!(
                "{name} is not ready after {} s: {} (ready/wanted); the deployment stays in place",
                timeout.as_secs(),
                summary(&status)
            )));
        }
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
    let path = format!(
        "/v1/orgs/{}/stacks/{}/services/{}/scale",
        encode(org),
        encode(stack),
        encode(service)
    );
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
    let base = format!(
        "/v1/orgs/{}/stacks/{}/services/{}",
        encode(org),
        encode(stack),
        encode(service)
    );
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

    fn check(toml: &str, params: &[(&str, &str)]) -> Result<StackSpec, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.toml");
        std::fs::write(&path, toml).unwrap();
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        check_stack(&path, "acme", "shop", &params).map_err(|e| {
            let text = e.to_string();
            text.replace(&format!("{}", path.display()), "stack.toml")
        })
    }

    #[test]
    fn a_bad_stack_file_names_its_line_column_and_key() {
        let error = check(
            "[[services]]\nname = \"web\"\nimage = \"busybox\"\nreplicaz = 2\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            error,
            "error: stack.toml:4:1: services[0].replicaz: unknown key `replicaz`, expected one of \
             `name`, `image`, `command`, `env`, `ports`, `volumes`, `cpu`, `memory`, `restart`, \
             `replicas`, `health_checks`, `depends_on`, `provides`, `labels`, `update`, `secrets`, `hardening`, `build`, `target`"
        );
        let error = check(
            "[[services]]\nname = \"web\"\nimage = \"x\"\nreplicas = \"two\"\n",
            &[],
        )
        .unwrap_err();
        assert!(
            error.starts_with("error: stack.toml:4:12: services[0].replicas: invalid type: string \"two\", expected a whole number"),
            "{error}"
        );
        assert_eq!(parse_param("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_param("=x").is_err());
    }

    #[test]
    fn a_stack_the_runner_would_refuse_is_refused_here_with_each_position_and_the_path_once() {
        let toml = "volumes = [\"data\"]\n\n[[services]]\nname = \"web\"\nimage = \"busybox\"\nmemory = \"lots\"\nenv = { GREETING = \"${greeting}\" }\n\n[[services]]\nname = \"db\"\nimage = \"busybox\"\ndepends_on = [{ service = \"cache\" }]\n";
        let error = check(toml, &[]).unwrap_err();
        let lines: Vec<&str> = error.lines().collect();
        assert_eq!(lines.len(), 2, "{error}");
        assert!(
            lines.iter().all(|l| l.starts_with("error: stack.toml:")),
            "{error}"
        );
        let memory = lines
            .iter()
            .find(|l| l.contains("services[0].memory"))
            .unwrap();
        assert!(
            memory.starts_with("error: stack.toml:6:10: services[0].memory: "),
            "{error}"
        );
        assert_eq!(memory.matches("services[0].memory").count(), 1, "{memory}");
        assert!(
            lines.iter().any(|l| l.starts_with(
                "error: stack.toml:12:27: services[1].depends_on[0].service: unknown service \"cache\""
            )),
            "{error}"
        );
        // Interpolation with the parameters, as the runner does it.
        let fixed = toml
            .replace("\"lots\"", "\"64Mi\"")
            .replace("\"cache\"", "\"web\"");
        let error = check(&fixed, &[]).unwrap_err();
        assert!(
            error.starts_with(
                "error: stack.toml:7:20: services[0].env.GREETING: variable greeting is not set"
            ),
            "{error}"
        );
        let spec = check(&fixed, &[("greeting", "hi")]).unwrap();
        assert_eq!(spec.services.len(), 2);
        let error = check(&fixed, &[("greeting", "hi"), ("WINDLASS_X", "1")]).unwrap_err();
        assert!(error.starts_with("error: --param WINDLASS_X: "), "{error}");
        assert!(!error.contains("params.WINDLASS_X"), "{error}");
    }
}
