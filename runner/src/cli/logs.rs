//! `windlass logs NAME`: a container's output, copied from the API's stream as it arrives.

use std::io::Write as _;

use clap::Args;
use http_body_util::BodyExt as _;

use super::client::{encode, query};
use super::{CliError, ClientArgs};

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
    /// Only lines written at or after this time (seconds since the Unix epoch).
    #[arg(long, value_name = "UNIX_SECONDS")]
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
    let mut body = args.client.client()?.stream(&path, &[]).await?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Connect(format!("{path}: {e}")))?;
        if let Ok(data) = frame.into_data() {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&data).and_then(|()| stdout.flush()) {
                Ok(()) => {}
                // `windlass logs … | head`: the reader has seen enough.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(CliError::Other(e.into())),
            }
        }
    }
    Ok(())
}
