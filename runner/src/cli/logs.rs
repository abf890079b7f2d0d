//! `windlass logs NAME`: a container's output, copied from the API's stream as it arrives.

use std::io::Write as _;

use clap::Args;
use futures::StreamExt as _;

use super::client::{chain, encode, query};
use super::{CliError, ClientArgs, time};

/// `windlass logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The container.
    name: String,
    /// Keep printing new lines until the container stops (or Ctrl-C).
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// Only lines written at or after this time: seconds since the Unix epoch, or an RFC 3339
    /// time (`2026-01-01T00:00:00Z`).
    #[arg(long, value_name = "TIME", value_parser = time::parse_since)]
    since: Option<i64>,
    /// One JSON object per line (`timestamp`, `stream`, `text`) instead of text.
    #[arg(long)]
    json: bool,
}

/// `windlass logs NAME [-f] [--tail N]`.
pub(crate) async fn logs(args: LogsArgs) -> Result<(), CliError> {
    let path = format!(
        "/v1/containers/{}/logs{}",
        encode(&args.name),
        query(&[
            ("tail", args.tail.map(|n| n.to_string())),
            ("since", args.since.map(|n| n.to_string())),
            ("follow", args.follow.then(|| "true".to_owned())),
            ("format", args.json.then(|| "json".to_owned())),
        ])
    );
    let response = args.client.client()?.stream(&path, &[]).await?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let data = chunk.map_err(|e| CliError::Connect(format!("GET {path}: {}", chain(&e))))?;
        let mut stdout = std::io::stdout().lock();
        match stdout.write_all(&data).and_then(|()| stdout.flush()) {
            Ok(()) => {}
            // `windlass logs … | head`: the reader has seen enough.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(CliError::Other(e.into())),
        }
    }
    Ok(())
}
