//! `windlass workers`: the machines of the targets that have some (a Docker Swarm's nodes),
//! through `/v1/workers`; `drain`, `pause`, `activate` and `rm` one; `join` prints the command
//! that adds a machine (`--rotate` replaces its token first).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{encode, query};
use super::table::Table;
use super::time::utc_millis;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass workers [drain|pause|activate|rm|join]`.
#[derive(Debug, Args)]
pub(crate) struct WorkersArgs {
    #[command(subcommand)]
    command: Option<WorkersCommand>,
    #[command(flatten)]
    client: ClientArgs,
    /// Only this target's workers (default: every target that has some).
    #[arg(long)]
    target: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum WorkersCommand {
    /// Move a worker's tasks to other workers (Swarm reschedules them; `windlass events`
    /// shows each `container-migrated`).
    Drain(WorkerArgs),
    /// Keep a worker's tasks but give it no new ones.
    Pause(WorkerArgs),
    /// Let a drained or paused worker take tasks again.
    Activate(WorkerArgs),
    /// Remove a worker from its cluster (drain it first; `--force` if it is still up).
    Rm(RmArgs),
    /// Print the command that adds a machine to the cluster (it holds the join token).
    Join(JoinArgs),
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The worker: its id, a unique prefix of it, or its hostname when no other has it.
    name: String,
    /// Its target (default: the only one with workers).
    #[arg(long)]
    target: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RmArgs {
    #[command(flatten)]
    worker: WorkerArgs,
    /// Remove it even though it is still up.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct JoinArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Its target (default: the only one with workers).
    #[arg(long)]
    target: Option<String>,
    /// Join as a manager instead of a worker.
    #[arg(long)]
    manager: bool,
    /// Replace the join token first (the old one stops working).
    #[arg(long)]
    rotate: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn workers(args: WorkersArgs) -> Result<(), CliError> {
    match args.command {
        None => list(args.client, args.target, args.json).await,
        Some(WorkersCommand::Drain(w)) => availability(w, "drain").await,
        Some(WorkersCommand::Pause(w)) => availability(w, "pause").await,
        Some(WorkersCommand::Activate(w)) => availability(w, "active").await,
        Some(WorkersCommand::Rm(rm)) => remove(rm).await,
        Some(WorkersCommand::Join(join)) => join_command(join).await,
    }
}

/// `4.0` cores from thousandths; memory in GiB with one decimal.
fn capacity(worker: &Value) -> (String, String) {
    let cpu = worker["cpu_millis"].as_u64().unwrap_or(0);
    let memory = worker["memory_bytes"].as_u64().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)] // a display figure
    let gib = memory as f64 / f64::from(1u32 << 30);
    (
        format!("{}.{}", cpu / 1000, (cpu % 1000) / 100),
        format!("{gib:.1} GiB"),
    )
}

async fn list(client: ClientArgs, target: Option<String>, json: bool) -> Result<(), CliError> {
    let path = format!("/v1/workers{}", query(&[("target", target)]));
    let workers = client.client()?.get(&path).await?;
    if json {
        print_json(&workers);
        return Ok(());
    }
    let mut table = Table::new(&[
        "TARGET",
        "ID",
        "HOSTNAME",
        "ROLE",
        "STATUS",
        "AVAILABILITY",
        "HEALTH",
        "ADDRESS",
        "CPUS",
        "MEMORY",
        "TASKS",
        "LAST READY",
    ]);
    for w in workers.as_array().into_iter().flatten() {
        let (cpus, memory) = capacity(w);
        table.row(vec![
            text(w, "target"),
            text(w, "id").chars().take(12).collect(),
            text(w, "hostname"),
            text(w, "role"),
            text(w, "status"),
            text(w, "availability"),
            text(w, "health"),
            text(w, "address"),
            cpus,
            memory,
            text(w, "running_tasks"),
            w["last_ready_ms"]
                .as_i64()
                .map_or("-".to_owned(), utc_millis),
        ]);
    }
    table.print();
    Ok(())
}

async fn availability(args: WorkerArgs, to: &str) -> Result<(), CliError> {
    let path = format!("/v1/workers/{}/availability", encode(&args.name));
    let body = json!({"availability": to, "target": args.target});
    let worker = args
        .client
        .client()?
        .call(Method::POST, &path, Some(&body))
        .await?;
    if args.json {
        print_json(&worker);
    } else {
        println!(
            "worker {} ({}) of target {} is now {}",
            text(&worker, "id"),
            text(&worker, "hostname"),
            text(&worker, "target"),
            text(&worker, "availability")
        );
    }
    Ok(())
}

async fn remove(args: RmArgs) -> Result<(), CliError> {
    let w = args.worker;
    let path = format!(
        "/v1/workers/{}{}",
        encode(&w.name),
        query(&[
            ("target", w.target.clone()),
            ("force", args.force.then(|| "true".to_owned())),
        ])
    );
    let worker = w.client.client()?.call(Method::DELETE, &path, None).await?;
    if w.json {
        print_json(&worker);
    } else {
        println!(
            "removed worker {} ({}) from target {}",
            text(&worker, "id"),
            text(&worker, "hostname"),
            text(&worker, "target")
        );
    }
    Ok(())
}

async fn join_command(args: JoinArgs) -> Result<(), CliError> {
    let body = json!({
        "target": args.target,
        "role": if args.manager { "manager" } else { "worker" },
    });
    let path = if args.rotate {
        "/v1/workers/join/rotate"
    } else {
        "/v1/workers/join"
    };
    let join = args
        .client
        .client()?
        .call(Method::POST, path, Some(&body))
        .await?;
    if args.json {
        print_json(&join);
        return Ok(());
    }
    if args.rotate {
        eprintln!(
            "rotated the {} join token of target {}: the old one no longer works",
            text(&join, "role"),
            text(&join, "target")
        );
    }
    eprintln!(
        "run this on the new machine (it joins target {} as a {} through {}):",
        text(&join, "target"),
        text(&join, "role"),
        text(&join, "manager_address")
    );
    println!("{}", text(&join, "command"));
    Ok(())
}
