//! `windlass events`: the event log, as history pages or followed over SSE.
//!
//! Following survives a dropped connection (a restarted runner, a proxy timing out): the
//! client reconnects with `Last-Event-ID` set to the last index it printed, and the API
//! continues right after it, so nothing is missed or printed twice. An answer that is an API
//! error (a bad token, a forbidden org) is not retried.

use std::time::Duration;

use clap::Args;
use http_body_util::BodyExt as _;
use serde_json::Value;

use super::client::query;
use super::{CliError, ClientArgs, text};

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
            Ok(mut body) => {
                let mut parser = SseParser::default();
                loop {
                    match body.frame().await {
                        None => break "the server closed the stream".to_owned(),
                        Some(Err(e)) => break e.to_string(),
                        Some(Ok(frame)) => {
                            let Ok(data) = frame.into_data() else {
                                continue;
                            };
                            for message in parser.push(&String::from_utf8_lossy(&data)) {
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
        event["ts_ms"].as_i64().map_or_else(|| "-".to_owned(), utc),
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

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date (Howard Hinnant's algorithm, in eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq, Eq)]
struct SseMessage {
    id: Option<u64>,
    event: Option<String>,
    data: String,
}

/// Splits a `text/event-stream` body, arriving in arbitrary chunks, into messages.
#[derive(Debug, Default)]
struct SseParser {
    buffer: String,
}

impl SseParser {
    /// Adds a chunk and returns the messages it completed (comments and keep-alives skipped).
    fn push(&mut self, chunk: &str) -> Vec<SseMessage> {
        self.buffer.push_str(&chunk.replace("\r\n", "\n"));
        let mut messages = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut message = SseMessage::default();
            let mut data = Vec::new();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => message.id = value.trim().parse().ok(),
                    "event" => message.event = Some(value.to_owned()),
                    "data" => data.push(value),
                    _ => {} // a comment (`: keep-alive`) or a field we do not use
                }
            }
            if data.is_empty() && message.id.is_none() {
                continue;
            }
            message.data = data.join("\n");
            messages.push(message);
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_chunks_are_put_back_together() {
        let mut parser = SseParser::default();
        assert!(
            parser
                .push("id: 7\nevent: container-started\nda")
                .is_empty()
        );
        let messages = parser.push("ta: {\"index\":7}\n\n:\n\nid: 8\r\ndata: a\r\ndata: b\r\n\r\n");
        assert_eq!(
            messages,
            [
                SseMessage {
                    id: Some(7),
                    event: Some("container-started".into()),
                    data: "{\"index\":7}".into(),
                },
                SseMessage {
                    id: Some(8),
                    event: None,
                    data: "a\nb".into(),
                },
            ]
        );
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_796_112_527_584), "2026-12-01T08:08:47.584Z");
    }
}
