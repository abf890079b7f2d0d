//! Docker's RFC 3339 timestamps (`2024-05-07T21:09:36.123456789Z`) into [`SystemTime`].
//!
//! Owns only that conversion (the crate has no date library). Docker's "never" value
//! (`0001-01-01T00:00:00Z`) and anything before the Unix epoch become `None`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `None` for malformed, pre-epoch or
/// zero times.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Keep nanosecond precision; ignore finer digits.
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hm) = match rest.as_bytes().first() {
                Some(b'+') => (1, &rest[1..]),
                Some(b'-') => (-1, &rest[1..]),
                _ => return None,
            };
            let (h, m) = hm.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    if secs < 0 || (secs == 0 && nanos == 0) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

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
