//! Durations as the config file writes them: a whole number and a unit, `"250ms"`, `"60s"`,
//! `"15m"`, `"12h"`, `"7d"`.
//!
//! Strict on purpose: no fractions, signs, spaces, compound values (`"1h30m"`) or bare numbers,
//! since each of those has more than one plausible reading. The error says what to write
//! instead.

use std::time::Duration;

/// The units, in the order the error messages list them.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses `text` as a duration. The error is a sentence naming the text and what would be
/// accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| Err(format!("bad duration \"{text}\": {why}"));
    if text.is_empty() {
        return bad("write a whole number and a unit (ms, s, m, h or d), e.g. \"60s\"");
    }
    if text.chars().any(char::is_whitespace) {
        return bad("remove the spaces, e.g. \"60s\"");
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return bad("start with a whole number, e.g. \"60s\" (no sign)");
    }
    if unit.is_empty() {
        return bad("add a unit (ms, s, m, h or d), e.g. \"60s\"");
    }
    if unit.starts_with(['.', ',']) {
        return bad("use a whole number of a smaller unit, e.g. \"90m\" for one and a half hours");
    }
    let Some(&(_, millis_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        if unit.contains(|c: char| c.is_ascii_digit()) {
            return bad("write one number and one unit, e.g. \"90m\" rather than \"1h30m\"");
        }
        return bad(&format!("unknown unit \"{unit}\": use ms, s, m, h or d"));
    };
    let too_large = || format!("bad duration \"{text}\": too large");
    let count: u64 = digits.parse().map_err(|_| too_large())?;
    let millis = count.checked_mul(millis_per_unit).ok_or_else(too_large)?;
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_unit() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("60s", Duration::from_secs(60)),
            ("15m", Duration::from_secs(15 * 60)),
            ("12h", Duration::from_secs(12 * 3600)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("0s", Duration::ZERO),
            ("007s", Duration::from_secs(7)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_anything_ambiguous_and_says_what_to_write() {
        let cases = [
            ("", "write a whole number and a unit"),
            ("60", "add a unit"),
            ("s", "start with a whole number"),
            ("-5s", "start with a whole number"),
            ("+5s", "start with a whole number"),
            ("1.5h", "whole number of a smaller unit"),
            ("1,5h", "whole number of a smaller unit"),
            ("5 s", "remove the spaces"),
            (" 5s", "remove the spaces"),
            ("5sec", "unknown unit \"sec\""),
            ("5S", "unknown unit \"S\""),
            ("5w", "unknown unit \"w\""),
            ("1h30m", "one number and one unit"),
            ("99999999999999999999s", "too large"),
            ("18446744073709551615d", "too large"),
        ];
        for (text, expected) in cases {
            let error = parse_duration(text).unwrap_err();
            assert!(
                error.starts_with(&format!("bad duration \"{text}\": ")),
                "{error}"
            );
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
