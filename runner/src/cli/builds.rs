//! `windlass build ORG/STACK/SERVICE` and `windlass builds [logs|cancel|show|webhook]`:
//! builds from source through the API; `logs -f` follows the build's log (SSE) to its end.

use clap::{Args, Subcommand};
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, chain, encode, query};
use super::table::Table;
use super::time::utc_millis;
use super::{CliError, ClientArgs, print_json, text};

/// `windlass build …`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The service: `ORG/STACK/SERVICE`.
    service: String,
    /// A branch, tag or commit instead of the source's own reference.
    #[arg(long = "ref", value_name = "REF")]
    reference: Option<String>,
    /// Follow the build's log until it ends (exit status 1 when it fails).
    #[arg(short, long)]
    follow: bool,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `windlass builds …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BuildsArgs {
    #[command(subcommand)]
    command: Option<BuildsCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only this service's builds: `ORG/STACK/SERVICE` (or `ORG/STACK`, `ORG`).
    #[arg(long)]
    service: Option<String>,
    /// At most this many (default 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BuildsCommand {
    /// A build's log; `-f` follows it until the build ends.
    Logs {
        #[command(flatten)]
        client: ClientArgs,
        /// The build's id.
        id: String,
        /// Keep printing new lines until the build ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a queued or running build.
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        /// The build's id.
        id: String,
    },
    /// One build: state, commit, plan, image, error and hint.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// The build's id.
        id: String,
    },
    /// Make or rotate a service's webhook secret (shown once) and print its webhook paths.
    Webhook {
        #[command(flatten)]
        client: ClientArgs,
        /// The service: `ORG/STACK/SERVICE`.
        service: String,
    },
}

fn service_path(service: &str) -> Result<String, CliError> {
    match service.split('/').collect::<Vec<_>>()[..] {
        [org, stack, name] => Ok(format!(
            "/v1/orgs/{}/stacks/{}/services/{}",
            encode(org),
            encode(stack),
            encode(name)
        )),
        _ => Err(CliError::Usage(format!(
            "`{service}`: name the service as ORG/STACK/SERVICE"
        ))),
    }
}

/// Runs `windlass build …`.
pub(crate) async fn build(args: BuildArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let body = json!({ "reference": args.reference });
    let path = format!("{}/builds", service_path(&args.service)?);
    let answer = client.call(Method::POST, &path, Some(&body)).await?;
    if args.json && !args.follow {
        print_json(&answer);
        return Ok(());
    }
    let id = text(&answer, "id");
    eprintln!("build {id} queued for {}", args.service);
    if args.follow {
        follow(&client, &id).await?;
        let record = client.get(&format!("/v1/builds/{}", encode(&id))).await?;
        if args.json {
            print_json(&record);
        }
        return outcome(&record);
    }
    println!("{id}");
    Ok(())
}

/// A failed or cancelled build is the command's failure.
fn outcome(record: &Value) -> Result<(), CliError> {
    match record["state"].as_str() {
        Some("succeeded") => Ok(()),
        state => {
            let mut message = format!(
                "build {} {}: {}",
                text(record, "id"),
                state.unwrap_or("unknown"),
                text(record, "error")
            );
            if let Some(hint) = record["hint"].as_str() {
                message.push_str(&format!("\nhint: {hint}"));
            }
            Err(CliError::Other(anyhow::anyhow!(message)))
        }
    }
}

/// Prints the build's log as it is written, until the build ends.
async fn follow(client: &Client, id: &str) -> Result<(), CliError> {
    let path = format!("/v1/builds/{}/logs/stream", encode(id));
    let response = client.stream(&path, &[]).await?;
    let mut blocks = std::pin::pin!(sse_stream::SseByteStream::new(response.bytes_stream()));
    while let Some(block) = blocks.next().await {
        let block = block.map_err(|e| CliError::Connect(format!("GET {path}: {}", chain(&e))))?;
        match block.event.as_deref() {
            Some("end") => break,
            Some("line") | None => {
                if let Some(data) = block.data {
                    println!("{data}");
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Runs `windlass builds …`.
pub(crate) async fn builds(args: BuildsArgs) -> Result<(), CliError> {
    match args.command {
        None => list(args.list).await,
        Some(BuildsCommand::Logs {
            client,
            id,
            follow: true,
        }) => follow(&client.client()?, &id).await,
        Some(BuildsCommand::Logs { client, id, .. }) => {
            let client = client.client()?;
            let path = format!("/v1/builds/{}/logs", encode(&id));
            let response = client.stream(&path, &[]).await?;
            let text = response
                .text()
                .await
                .map_err(|e| CliError::Connect(format!("GET {path}: {}", chain(&e))))?;
            print!("{text}");
            Ok(())
        }
        Some(BuildsCommand::Cancel { client, id }) => {
            let path = format!("/v1/builds/{}/cancel", encode(&id));
            let record = client.client()?.call(Method::POST, &path, None).await?;
            println!("{id}: {}", text(&record, "state"));
            Ok(())
        }
        Some(BuildsCommand::Show { client, id }) => {
            let record = client
                .client()?
                .get(&format!("/v1/builds/{}", encode(&id)))
                .await?;
            print_json(&record);
            Ok(())
        }
        Some(BuildsCommand::Webhook { client, service }) => {
            let path = format!("{}/webhook", service_path(&service)?);
            let answer = client.client()?.call(Method::POST, &path, None).await?;
            println!(
                "secret (shown once, store it now): {}",
                text(&answer, "secret")
            );
            for url in answer["urls"].as_array().into_iter().flatten() {
                println!("  POST {}", url.as_str().unwrap_or_default());
            }
            Ok(())
        }
    }
}

async fn list(args: ListArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    let mut parts = args
        .service
        .as_deref()
        .map(|s| s.split('/').map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    let pairs = [
        ("org", parts.next()),
        ("stack", parts.next()),
        ("service", parts.next()),
        ("limit", args.limit.map(|l| l.to_string())),
    ];
    let answer = client.get(&format!("/v1/builds{}", query(&pairs))).await?;
    if args.json {
        print_json(&answer);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID", "SERVICE", "STATE", "COMMIT", "TRIGGER", "QUEUED", "DURATION", "IMAGE",
    ]);
    for build in answer.as_array().into_iter().flatten() {
        let commit = build["commit"]["sha"]
            .as_str()
            .map_or_else(|| "-".to_owned(), |s| s.chars().take(12).collect());
        let duration = match (build["started_ms"].as_i64(), build["finished_ms"].as_i64()) {
            (Some(start), Some(end)) => format!("{:.1}s", (end - start) as f64 / 1000.0),
            _ => "-".to_owned(),
        };
        table.row(vec![
            text(build, "id"),
            format!(
                "{}/{}/{}",
                text(build, "org"),
                text(build, "stack"),
                text(build, "service")
            ),
            text(build, "state"),
            commit,
            text(build, "trigger"),
            build["queued_ms"]
                .as_i64()
                .map_or_else(|| "-".to_owned(), utc_millis),
            duration,
            text(build, "image"),
        ]);
    }
    table.print();
    Ok(())
}
