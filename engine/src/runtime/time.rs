//! Docker's RFC 3339 timestamps (`2024-05-07T21:09:36.123456789Z`) into [`SystemTime`], with
//! `jiff`'s parser. Docker's "never" value (`0001-01-01T00:00:00Z`) and anything up to the Unix
//! epoch become `None`.

use std::time::SystemTime;

use jiff::Timestamp;

/// Parses an RFC 3339 time with an offset (`Z` or `±HH:MM`, up to nanoseconds); `None` for
/// malformed, zero or pre-epoch times.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let at: Timestamp = s.parse().ok()?;
    if at <= Timestamp::UNIX_EPOCH {
        return None;
    }
    SystemTime::try_from(at).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn secs(s: &str) -> Option<(u64, u32)> {
        parse_rfc3339(s)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| (d.as_secs(), d.subsec_nanos()))
    }

    #[test]
    fn parses_docker_timestamps() {
        assert_eq!(secs("1970-01-01T00:00:01Z"), Some((1, 0)));
        assert_eq!(
            secs("2024-05-07T21:09:36.123456789Z"),
            Some((1_715_116_176, 123_456_789))
        );
        assert_eq!(
            secs("2024-05-07T21:09:36.5Z"),
            Some((1_715_116_176, 500_000_000))
        );
        assert_eq!(secs("2024-05-07T23:09:36+02:00"), Some((1_715_116_176, 0)));
        assert_eq!(secs("2000-02-29T00:00:00Z"), Some((951_782_400, 0)));
    }

    #[test]
    fn never_and_garbage_are_none() {
        for s in [
            "0001-01-01T00:00:00Z",
            "",
            "2024-05-07",
            "2024-13-01T00:00:00Z",
            "2024-05-07T21:09:36",
            "2024-05-07T21:09:36.Z",
            "x024-05-07T21:09:36Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}
