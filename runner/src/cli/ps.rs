//! `windlass ps`, `windlass stacks` and `windlass health`: what runs, as tables.

use clap::Args;
use serde_json::Value;

use super::client::{encode, query};
use super::table::Table;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass ps`.
#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only this org's containers.
    #[arg(long)]
    org: Option<String>,
    /// Only this stack's.
    #[arg(long)]
    stack: Option<String>,
    /// Only this service's (with --stack).
    #[arg(long)]
    service: Option<String>,
    /// Only containers in this Docker state (`running`, `exited`…).
    #[arg(long)]
    status: Option<String>,
    /// Only `ready`, `unready` or `unknown` containers.
    #[arg(long)]
    health: Option<String>,
    /// Only containers of this image.
    #[arg(long)]
    image: Option<String>,
    /// Only names matching this regular expression.
    #[arg(long)]
    name: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass ps`: GET /v1/containers with the filters.
pub(crate) async fn ps(args: PsArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let path = format!(
        "/v1/containers{}",
        query(&[
            ("org", args.org),
            ("stack", args.stack),
            ("service", args.service),
            ("status", args.status),
            ("health", args.health),
            ("image", args.image),
            ("name", args.name),
        ])
    );
    let containers = client.get(&path).await?;
    if args.json {
        print_json(&containers);
        return Ok(());
    }
    let mut table = Table::new(&[
        "NAME",
        "ORG/STACK/SERVICE",
        "STATE",
        "READY",
        "IMAGE",
        "TARGET",
        "NODE",
    ]);
    for c in containers.as_array().into_iter().flatten() {
        table.row(vec![
            text(c, "name"),
            format!(
                "{}/{}/{}",
                text(c, "org"),
                text(c, "stack"),
                text(c, "service")
            ),
            state(c),
            match c["ready"].as_bool() {
                Some(true) => "yes".to_owned(),
                Some(false) => "no".to_owned(),
                None => "-".to_owned(),
            },
            text(c, "image"),
            text(c, "target"),
            c["node"].as_str().unwrap_or("-").to_owned(),
        ]);
    }
    table.print();
    Ok(())
}

/// Docker's status, with the engine's lifecycle state when it says more (`exited
/// (backing-off)`), and the restarts so far.
fn state(c: &Value) -> String {
    let status = text(c, "status");
    let mut out = match c["state"].as_str() {
        Some(lifecycle) if lifecycle != status => format!("{status} ({lifecycle})"),
        _ => status,
    };
    if let Some(restarts) = c["restart_count"].as_u64().filter(|n| *n > 0) {
        out.push_str(&format!(", {restarts} restarts"));
    }
    out
}

/// `windlass stacks`.
#[derive(Debug, Args)]
pub(crate) struct StacksArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass stacks`: GET /v1/stacks, one row per service.
pub(crate) async fn stacks(args: StacksArgs) -> Result<(), CliError> {
    let stacks = args.client.client()?.get("/v1/stacks").await?;
    if args.json {
        print_json(&stacks);
        return Ok(());
    }
    let mut table = Table::new(&[
        "STACK", "SERVICE", "REVISION", "REPLICAS", "RUNNING", "READY", "TARGET",
    ]);
    for stack in stacks.as_array().into_iter().flatten() {
        let name = format!("{}/{}", text(stack, "org"), text(stack, "stack"));
        for service in stack["services"].as_array().into_iter().flatten() {
            table.row(vec![
                name.clone(),
                text(service, "service"),
                text(service, "revision"),
                text(service, "replicas"),
                text(service, "running"),
                text(service, "ready"),
                text(service, "target"),
            ]);
        }
    }
    table.print();
    Ok(())
}

/// `windlass health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The container.
    name: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass health NAME`: GET /v1/containers/NAME/health.
pub(crate) async fn health(args: HealthArgs) -> Result<(), CliError> {
    let path = format!("/v1/containers/{}/health", encode(&args.name));
    let report = args.client.client()?.get(&path).await?;
    if args.json {
        print_json(&report);
        return Ok(());
    }
    let resources = &report["resources"];
    let percent = |key: &str| {
        resources[key]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
    };
    println!("container  {}", args.name);
    println!(
        "service    {}/{}/{}",
        text(&report, "org"),
        text(&report, "stack"),
        text(&report, "service")
    );
    println!("status     {}", text(resources, "status"));
    println!(
        "ready      {}",
        match report["ready"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "- (no readiness check, or not decided yet)",
        }
    );
    println!(
        "cpu        {}   memory {} ({} MiB)",
        percent("cpu_percent"),
        percent("memory_percent"),
        resources["memory_bytes"].as_u64().unwrap_or(0) / (1024 * 1024)
    );
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    if checks.is_empty() {
        println!("checks     none");
    }
    for check in &checks {
        let last = &check["last"];
        let detail = if last.is_null() {
            String::new()
        } else {
            let took_ms = last["took"]["secs"].as_u64().unwrap_or(0) * 1000
                + last["took"]["nanos"].as_u64().unwrap_or(0) / 1_000_000;
            format!("  last probe: {} in {took_ms} ms", text(last, "detail"))
        };
        println!(
            "check      {:<10} {}{detail}",
            text(check, "kind"),
            text(check, "status")
        );
    }
    Ok(())
}

/// `windlass plugins`.
#[derive(Debug, Args)]
pub(crate) struct PluginsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Reload this plugin from its source (needs an admin token of every org).
    #[arg(long, value_name = "NAME")]
    reload: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass plugins [--reload NAME]`: GET /v1/plugins, or POST /v1/plugins/NAME/reload.
pub(crate) async fn plugins(args: PluginsArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let answer = match &args.reload {
        Some(name) => {
            let path = format!("/v1/plugins/{}/reload", encode(name));
            client.call(reqwest::Method::POST, &path, None).await?
        }
        None => client.get("/v1/plugins").await?,
    };
    if args.json {
        print_json(&answer);
        return Ok(());
    }
    let mut table = Table::new(&[
        "PLUGIN", "KIND", "CONTRACT", "CALLS", "FAILURES", "DISABLED",
    ]);
    let rows = match answer.as_array() {
        Some(list) => list.clone(),
        None => vec![answer.clone()],
    };
    for plugin in &rows {
        table.row(vec![
            text(plugin, "name"),
            text(plugin, "kind"),
            text(plugin, "contract_version"),
            text(plugin, "calls"),
            text(plugin, "failures"),
            text(plugin, "disabled"),
        ]);
    }
    table.print();
    Ok(())
}
