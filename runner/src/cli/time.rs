//! Times as the CLI shows and reads them, with `jiff`: event times printed in RFC 3339 UTC,
//! and `--since` read as Unix seconds or an RFC 3339 time.

use jiff::Timestamp;

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`; out of jiff's range (beyond the
/// years -9999 to 9999) the number itself.
pub(crate) fn utc_millis(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(at) => format!("{at:.3}"),
        Err(_) => format!("{ms} ms"),
    }
}

/// A `--since` value: whole seconds since the Unix epoch (`1767225600`) or an RFC 3339 time
/// with an offset (`2026-01-01T00:00:00Z`, `2026-01-01T01:00:00+01:00`), as Unix seconds.
pub(crate) fn parse_since(value: &str) -> Result<i64, String> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    value
        .parse::<Timestamp>()
        .map(|at| at.as_second())
        .map_err(|e| {
            format!(
                "{value:?} is neither Unix seconds nor an RFC 3339 time (e.g. 2026-01-01T00:00:00Z): {e}"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_utc_with_milliseconds() {
        assert_eq!(utc_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc_millis(1_796_112_527_584), "2026-12-01T08:08:47.584Z");
        assert_eq!(utc_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_millis(i64::MAX), format!("{} ms", i64::MAX));
    }

    #[test]
    fn since_is_seconds_or_an_rfc3339_time() {
        assert_eq!(parse_since("1767225600"), Ok(1_767_225_600));
        assert_eq!(parse_since("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse_since("2026-01-01T01:00:00+01:00"), Ok(1_767_225_600));
        let error = parse_since("yesterday").unwrap_err();
        assert!(error.starts_with("\"yesterday\" is neither"), "{error}");
        // A civil time without an offset is ambiguous: refused rather than guessed.
        assert!(parse_since("2026-01-01T00:00:00").is_err());
    }
}
