//! `windlass inventory`: every target's containers as a table (or the API's JSON, or a count),
//! with a progress bar on a terminal fed by `GET /v1/inventory/stream`'s progress events.

use std::io::IsTerminal as _;

use clap::Args;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::client::query;
use super::events::messages;
use super::table::Table;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass inventory`.
#[derive(Debug, Args)]
pub(crate) struct InventoryArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only this target (`local`, a `[[targets]]` name); may be given several times.
    #[arg(long)]
    target: Vec<String>,
    /// Only this GVC (Control Plane) or stack (local).
    #[arg(long, alias = "stack")]
    gvc: Option<String>,
    /// Only this org's containers.
    #[arg(long)]
    org: Option<String>,
    /// Only this location.
    #[arg(long)]
    location: Option<String>,
    /// Only this workload or service.
    #[arg(long, alias = "service")]
    workload: Option<String>,
    /// Only this image: exact, or a glob pattern (`*/nginx:*`).
    #[arg(long)]
    image: Option<String>,
    /// Only `healthy`, `unhealthy` or `suspended` containers.
    #[arg(long)]
    status: Option<String>,
    /// Only names matching this regular expression.
    #[arg(long)]
    name: Option<String>,
    /// Only unhealthy containers.
    #[arg(long)]
    unhealthy: bool,
    /// Also the engine's probe containers.
    #[arg(long)]
    include_system: bool,
    /// At most this many containers (then `--cursor` the printed cursor for the next page).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue after a previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Bypass the engine's inventory cache.
    #[arg(long)]
    refresh: bool,
    /// Print only the number of matching containers.
    #[arg(long)]
    count: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

impl InventoryArgs {
    fn path(&self, base: &str) -> String {
        let flag = |on: bool| on.then(|| "true".to_owned());
        format!(
            "{base}{}",
            query(&[
                (
                    "target",
                    (!self.target.is_empty()).then(|| self.target.join(","))
                ),
                ("scope", self.gvc.clone()),
                ("org", self.org.clone()),
                ("location", self.location.clone()),
                ("group", self.workload.clone()),
                ("image", self.image.clone()),
                ("status", self.status.clone()),
                ("name", self.name.clone()),
                ("unhealthy", flag(self.unhealthy)),
                ("include_system", flag(self.include_system)),
                ("limit", self.limit.map(|l| l.to_string())),
                ("cursor", self.cursor.clone()),
                ("refresh", flag(self.refresh)),
                ("count", flag(self.count)),
            ])
        )
    }
}

/// `windlass inventory`: the stream with a progress bar on a terminal, else one GET.
pub(crate) async fn inventory(args: InventoryArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let report = if std::io::stderr().is_terminal() && !args.json {
        with_progress(&client, &args.path("/v1/inventory/stream")).await?
    } else {
        client.get(&args.path("/v1/inventory")).await?
    };
    if args.json {
        print_json(&report);
    } else if args.count {
        println!("{}", report["total"].as_u64().unwrap_or(0));
    } else {
        print_table(&report);
    }
    summary(&report);
    Ok(())
}

/// Follows the SSE variant, drawing progress, until its `report` event.
async fn with_progress(client: &super::client::Client, path: &str) -> Result<Value, CliError> {
    let response = client.stream(path, &[]).await?;
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:10} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut stream = std::pin::pin!(messages(response.bytes_stream()));
    while let Some(message) = stream.next().await {
        let message = message.map_err(CliError::Connect)?;
        match message.event.as_deref() {
            Some("progress") => {
                let p: Value = serde_json::from_str(&message.data).unwrap_or(Value::Null);
                bar.set_message(p["stage"].as_str().unwrap_or("").to_owned());
                bar.set_length(p["total"].as_u64().unwrap_or(0));
                bar.set_position(p["done"].as_u64().unwrap_or(0));
            }
            Some("report") => {
                bar.finish_and_clear();
                return serde_json::from_str(&message.data)
                    .map_err(|e| CliError::Connect(format!("a report that is not JSON: {e}")));
            }
            Some("error") => {
                bar.finish_and_clear();
                return Err(CliError::Connect(message.data));
            }
            _ => {}
        }
    }
    bar.finish_and_clear();
    Err(CliError::Connect(
        "the inventory stream ended without a report".to_owned(),
    ))
}

fn print_table(report: &Value) {
    let mut table = Table::new(&[
        "TARGET",
        "SCOPE/GROUP",
        "LOCATION",
        "NAME",
        "HEALTH",
        "READY",
        "IMAGE",
        "VERSION",
    ]);
    for c in report["containers"].as_array().into_iter().flatten() {
        let version = match (c["version"].as_str(), c["current_version"].as_bool()) {
            (Some(v), Some(false)) => format!("{v} (old)"),
            (Some(v), _) => v.to_owned(),
            (None, _) => "-".to_owned(),
        };
        table.row(vec![
            text(c, "target"),
            format!("{}/{}", text(c, "scope"), text(c, "group")),
            text(c, "location"),
            text(c, "name"),
            text(c, "health"),
            match (c["replicas_ready"].as_u64(), c["replicas"].as_u64()) {
                (Some(r), Some(n)) => format!("{r}/{n}"),
                _ => match c["ready"].as_bool() {
                    Some(true) => "yes".to_owned(),
                    Some(false) => "no".to_owned(),
                    None => "-".to_owned(),
                },
            },
            text(c, "image"),
            version,
        ]);
    }
    table.print();
    if let Some(cursor) = report["next_cursor"].as_str() {
        println!("more: --cursor {cursor}");
    }
}

/// The statistics and the failures, on stderr.
fn summary(report: &Value) {
    let s = &report["stats"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    eprintln!(
        "{} containers ({} healthy, {} unhealthy, {} suspended) in {} of {} workloads, {} ms; \
         {} calls, {} cache hits",
        n("containers_found"),
        n("containers_healthy"),
        n("containers_unhealthy"),
        n("containers_suspended"),
        n("workloads_succeeded"),
        n("workloads_processed"),
        n("duration_ms"),
        n("calls"),
        n("cache_hits"),
    );
    for e in s["errors"].as_array().into_iter().flatten() {
        eprintln!(
            "  failed: {}/{} [{}] {} ({} attempts)",
            text(e, "target"),
            text(e, "group"),
            text(e, "code"),
            text(e, "message"),
            e["attempts"].as_u64().unwrap_or(0),
        );
    }
}
