//! `GET /services/{id}/logs` output: Docker's multiplexed stream (an 8-byte header per frame:
//! stream 1 stdout / 2 stderr, 3 zero bytes, a big-endian u32 length), each line
//! `{RFC 3339 timestamp} {details} {text}` with `timestamps=1&details=1`, the details being
//! `k=v,k=v` attributes (`com.docker.swarm.task.id`, ...).

use windlass_plugin_sdk::types::LogLine;

use crate::docker::ms_of;

/// Splits the stream into lines, oldest first. A body without frame headers (a TTY service)
/// is read as plain stdout lines.
pub(crate) fn parse(body: &[u8], fallback_container: &str) -> Vec<LogLine> {
    let mut out = Vec::new();
    let mut rest = body;
    let framed = body.len() >= 8 && matches!(body[0], 0..=2) && body[1..4] == [0, 0, 0];
    if !framed {
        for line in String::from_utf8_lossy(body).lines() {
            out.push(line_of("stdout", line, fallback_container));
        }
        return out;
    }
    while rest.len() >= 8 {
        let stream = if rest[0] == 2 { "stderr" } else { "stdout" };
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        let text = String::from_utf8_lossy(&rest[8..end]);
        for line in text.lines() {
            out.push(line_of(stream, line, fallback_container));
        }
        rest = &rest[end..];
    }
    out.sort_by_key(|l| l.timestamp_ms);
    out
}

fn line_of(stream: &str, raw: &str, fallback_container: &str) -> LogLine {
    let (ts, rest) = raw.split_once(' ').unwrap_or((raw, ""));
    let timestamp_ms = ms_of(Some(ts));
    let (timestamp_ms, rest) = if timestamp_ms == 0 {
        (0, raw)
    } else {
        (timestamp_ms, rest)
    };
    // Details come first when asked for: `k=v,k=v ` (no spaces inside).
    let mut container = fallback_container.to_string();
    let mut text = rest;
    if let Some((details, after)) = rest.split_once(' ')
        && details.contains('=')
        && details.split(',').all(|kv| kv.contains('='))
    {
        for kv in details.split(',') {
            if let Some(("com.docker.swarm.task.id", v)) = kv.split_once('=') {
                container = v.to_string();
            }
        }
        text = after;
    }
    LogLine {
        timestamp_ms,
        stream: stream.to_string(),
        container,
        line: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, text: &str) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend(u32::try_from(text.len()).expect("small").to_be_bytes());
        f.extend(text.as_bytes());
        f
    }

    #[test]
    fn parses_frames_with_details() {
        let mut body = frame(
            1,
            "1970-01-01T00:00:02Z com.docker.swarm.node.id=n,com.docker.swarm.task.id=t9 hello world\n",
        );
        body.extend(frame(
            2,
            "1970-01-01T00:00:01Z com.docker.swarm.task.id=t8 oops\n",
        ));
        let lines = parse(&body, "svc");
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0].stream.as_str(),
                lines[0].container.as_str(),
                lines[0].line.as_str()
            ),
            ("stderr", "t8", "oops")
        );
        assert_eq!(lines[1].line, "hello world");
        assert_eq!(lines[1].timestamp_ms, 2_000);
        let plain = parse(b"just text\n", "svc");
        assert_eq!(
            (plain[0].container.as_str(), plain[0].line.as_str()),
            ("svc", "just text")
        );
    }
}
