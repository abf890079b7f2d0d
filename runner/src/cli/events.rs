//! `windlass events`: the event log, as history pages or followed over SSE.
//!
//! Following survives a dropped connection (a restarted runner, a proxy timing out): the
//! client reconnects with `Last-Event-ID` set to the last index it printed, and the API
//! continues right after it, so nothing is missed or printed twice. An answer that is an API
//! error (a bad token, a forbidden org) is not retried.
//!
//! The stream is split into messages by `sse-stream` over the raw bytes, and a field is
//! decoded as UTF-8 only once its line is whole, so a character split between two chunks of
//! the body arrives intact; bytes that are not UTF-8 end the stream with an error instead of
//! being replaced.

use std::time::Duration;

use clap::Args;
use futures::{Stream, StreamExt as _, TryStream};
use serde_json::Value;

use super::client::{chain, query};
use super::{CliError, ClientArgs, text, time};

/// History is read in pages of this many events.
const PAGE: usize = 1000;

/// `windlass events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Keep printing new events as they happen (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Start at this event index (default: the oldest kept).
    #[arg(long, value_name = "INDEX")]
    since: Option<u64>,
    /// Only this org's events.
    #[arg(long)]
    org: Option<String>,
    /// Only this stack's.
    #[arg(long)]
    stack: Option<String>,
    /// Only events of this kind (`container-started`, `stack-deployed`…).
    #[arg(long)]
    kind: Option<String>,
    /// One JSON event per line, as the API sends it.
    #[arg(long)]
    json: bool,
}

impl EventsArgs {
    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("org", self.org.clone()),
            ("stack", self.stack.clone()),
            ("kind", self.kind.clone()),
        ]
    }
}

/// `windlass events [-f] [--since N] [--org O] [--stack S] [--kind K]`.
pub(crate) async fn events(args: EventsArgs) -> Result<(), CliError> {
    let client = args.client.client()?;
    if args.follow {
        follow(&client, &args).await
    } else {
        history(&client, &args).await
    }
}

async fn history(client: &super::Client, args: &EventsArgs) -> Result<(), CliError> {
    let mut from = args.since.unwrap_or(0);
    loop {
        let mut pairs = vec![
            ("from", Some(from.to_string())),
            ("limit", Some(PAGE.to_string())),
        ];
        pairs.extend(args.filters());
        let page = client.get(&format!("/v1/events{}", query(&pairs))).await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            print_event(event, args.json);
        }
        if events.len() < PAGE {
            return Ok(());
        }
        from = page["next_from"].as_u64().unwrap_or(from + PAGE as u64);
    }
}

async fn follow(client: &super::Client, args: &EventsArgs) -> Result<(), CliError> {
    let mut pairs = vec![("from", Some(args.since.unwrap_or(0).to_string()))];
    pairs.extend(args.filters());
    let path = format!("/v1/events/stream{}", query(&pairs));
    let mut last_id: Option<u64> = None;
    let mut delay = Duration::from_millis(250);
    loop {
        // After the first connection, Last-Event-ID wins over `from` on the server.
        let headers: Vec<(&str, String)> = last_id
            .map(|id| vec![("last-event-id", id.to_string())])
            .unwrap_or_default();
        let why = match client.stream(&path, &headers).await {
            Ok(response) => {
                let mut messages = std::pin::pin!(messages(response.bytes_stream()));
                loop {
                    match messages.next().await {
                        None => break "the server closed the stream".to_owned(),
                        Some(Err(why)) => break why,
                        Some(Ok(message)) => {
                            if message.event.as_deref() == Some("error") {
                                eprintln!("warning: the server reported: {}", message.data);
                                continue;
                            }
                            let Some(id) = message.id else { continue };
                            match serde_json::from_str::<Value>(&message.data) {
                                Ok(event) => print_event(&event, args.json),
                                Err(_) => println!("{}", message.data),
                            }
                            last_id = Some(id);
                            delay = Duration::from_millis(250);
                        }
                    }
                }
            }
            Err(error @ CliError::Api { .. }) => return Err(error),
            Err(error) => error.to_string(),
        };
        let after = last_id.map_or_else(String::new, |id| format!(" after #{id}"));
        eprintln!(
            "event stream dropped ({why}); resuming{after} in {} ms",
            delay.as_millis()
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn print_event(event: &Value, json: bool) {
    if json {
        println!("{event}");
        return;
    }
    let scope: Vec<&str> = ["org", "stack", "service"]
        .iter()
        .filter_map(|k| event[*k].as_str())
        .collect();
    let payload = match &event["payload"] {
        Value::Null => String::new(),
        Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    };
    println!(
        "#{:<6} {}  {:<22} {:<28} {} {}",
        text(event, "index"),
        event["ts_ms"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), time::utc_millis),
        text(event, "kind"),
        if scope.is_empty() {
            "-".to_owned()
        } else {
            scope.join("/")
        },
        event["container"].as_str().unwrap_or("-"),
        payload
    )
}

/// One server-sent event, as this client uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseMessage {
    /// The SSE id: the event's index (`None` when absent or not a number).
    pub(crate) id: Option<u64>,
    /// The SSE event name: the event's kind, or `error` for a message from the server.
    pub(crate) event: Option<String>,
    /// The data lines, joined with `\n`.
    pub(crate) data: String,
}

/// The messages of a `text/event-stream` body arriving as byte chunks of any size; an `Err`
/// says why the stream cannot go on (the connection broke, or the bytes are not UTF-8) and
/// ends it. Blocks without data or id (a `retry:` alone) are skipped.
pub(crate) fn messages<S>(body: S) -> impl Stream<Item = Result<SseMessage, String>>
where
    S: TryStream,
    S::Ok: bytes::Buf,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    sse_stream::SseByteStream::new(body).filter_map(|block| async move {
        match block {
            Ok(block) if block.data.is_none() && block.id.is_none() => None,
            Ok(block) => Some(Ok(SseMessage {
                id: block.id.and_then(|id| id.trim().parse().ok()),
                event: block.event,
                data: block.data.unwrap_or_default(),
            })),
            Err(error) => Some(Err(chain(&error))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of `body` delivered in the given chunks.
    fn parse(chunks: &[&[u8]]) -> Vec<Result<SseMessage, String>> {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = chunks
            .iter()
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        futures::executor::block_on(messages(futures::stream::iter(chunks)).collect())
    }

    #[test]
    fn messages_split_across_chunks_are_put_back_together() {
        let messages = parse(&[
            b"id: 7\nevent: container-started\nda",
            b"ta: {\"index\":7}\n\n:\n\nid: 8\r\ndata: a\r\ndata: b\r\n\r\nretry: 5\n\n",
        ]);
        assert_eq!(
            messages,
            [
                Ok(SseMessage {
                    id: Some(7),
                    event: Some("container-started".into()),
                    data: "{\"index\":7}".into(),
                }),
                Ok(SseMessage {
                    id: Some(8),
                    event: None,
                    data: "a\nb".into(),
                }),
            ]
        );
    }

    #[test]
    fn a_character_split_between_chunks_arrives_whole_at_every_split_point() {
        let body = "id: 3\nevent: stack-deployed\ndata: {\"note\":\"café – 日本 🚢\"}\n\n";
        let bytes = body.as_bytes();
        let expected = SseMessage {
            id: Some(3),
            event: Some("stack-deployed".into()),
            data: "{\"note\":\"café – 日本 🚢\"}".into(),
        };
        // Every split point, including the ones inside `é`, `–`, `日`, `本` and `🚢`.
        for split in 1..bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(
                parse(&[a, b]),
                [Ok(expected.clone())],
                "split at byte {split}"
            );
        }
        // One byte a chunk: every character arrives in pieces.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse(&singles), [Ok(expected)]);
    }

    #[test]
    fn bytes_that_are_not_utf8_end_the_stream_with_an_error() {
        let messages =
            parse(&[b"id: 1\ndata: ok\n\nid: 2\ndata: \xff\xfe\n\nid: 3\ndata: later\n\n"]);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[0].as_ref().map(|m| m.id), Ok(Some(1)));
        let error = messages[1].as_ref().unwrap_err();
        assert!(error.contains("utf8"), "{error}");
    }
}
