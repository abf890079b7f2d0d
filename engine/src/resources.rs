//! Resource quantities: CPU and memory limits parsed from the strings operators write
//! (`"0.5"`, `"500m"`, `"512Mi"`, `"1g"`) into exact integers.
//!
//! This module owns the accepted syntax and the canonical text form of each quantity. It must
//! not know about Docker (the runtime converts these integers into Docker's units) and never
//! uses floating point: `"0.1"` cores is exactly 100 millicores, not `0.1_f64`.
//!
//! # Accepted forms
//!
//! CPU ([`CpuMillis`]), always greater than zero:
//! - whole or decimal cores with at most 3 decimals: `"2"`, `"0.5"`, `"1.25"`, `"0.001"`;
//! - millicores: `"500m"` (= `"0.5"`).
//!
//! Memory ([`MemoryBytes`]), always greater than zero and at most `i64::MAX` bytes (Docker's
//! limit):
//! - plain bytes: `"1048576"`;
//! - a whole number with a binary unit: `k`/`K`/`Ki` = 1024, `m`/`M`/`Mi` = 1024², `g`/`G`/`Gi`
//!   = 1024³, `t`/`T`/`Ti` = 1024⁴.
//!
//! Like Docker (`docker run --memory 512m`), and unlike Kubernetes, `"512M"` is 512 MiB, not
//! 512·10⁶ bytes: every memory unit is a binary multiple. Decimal memory (`"1.5g"`) is refused
//! so that every accepted string denotes a whole number of bytes; write `"1536m"` instead.
//!
//! Everything else — empty strings, surrounding whitespace, signs, zero, exponents, several
//! dots, unknown units, values that overflow — is refused with a [`ResourceError`] whose
//! message lists the accepted forms.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const CPU_FORMS: &str = "cores with at most 3 decimals (\"2\", \"0.5\", \"1.25\") or \
                         millicores (\"500m\"), greater than zero";
const MEMORY_FORMS: &str = "bytes (\"1048576\") or a whole number with a binary unit \
                            k/K/Ki, m/M/Mi, g/G/Gi, t/T/Ti (\"512m\", \"512Mi\", \"1g\", \"1Gi\"; \
                            \"512M\" is 512 MiB like Docker), greater than zero";

/// A quantity string that is not an accepted CPU or memory form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The string is not an accepted CPU quantity.
    #[error("invalid CPU quantity {input:?}: {reason}; accepted: {forms}", forms = CPU_FORMS)]
    Cpu {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The string is not an accepted memory quantity.
    #[error("invalid memory quantity {input:?}: {reason}; accepted: {forms}", forms = MEMORY_FORMS)]
    Memory {
        /// The string as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A CPU limit in thousandths of a core (millicores); never zero.
///
/// Parses from `"0.5"`, `"2"`, `"1.25"` or `"500m"`; displays as decimal cores (`"0.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuMillis(u32);

impl CpuMillis {
    /// A limit of `millis` thousandths of a core, or `None` for zero.
    pub const fn new(millis: u32) -> Option<Self> {
        if millis == 0 {
            None
        } else {
            Some(Self(millis))
        }
    }

    /// The limit in millicores.
    pub const fn millis(self) -> u32 {
        self.0
    }

    /// The limit in billionths of a core (Docker's `NanoCpus`).
    pub const fn nano_cpus(self) -> i64 {
        // u32::MAX * 10^6 < i64::MAX: cannot overflow.
        self.0 as i64 * 1_000_000
    }

    /// The millicore form, e.g. `"500m"`.
    pub fn to_millicores_string(self) -> String {
        format!("{}m", self.0)
    }
}

impl fmt::Display for CpuMillis {
    /// Decimal cores without trailing zeros: `"0.5"`, `"2"`, `"1.25"`, `"0.001"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (cores, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return write!(f, "{cores}");
        }
        let digits = format!("{frac:03}");
        write!(f, "{cores}.{}", digits.trim_end_matches('0'))
    }
}

impl FromStr for CpuMillis {
    type Err = ResourceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ResourceError::Cpu {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(fail("empty"));
        }
        let millis = if let Some(digits) = input.strip_suffix('m') {
            parse_digits(digits)
                .map_err(|e| fail(e.reason("millicores")))?
                .try_into()
                .map_err(|_| fail("too large"))?
        } else {
            let (whole, frac) = match input.split_once('.') {
                Some((whole, frac)) => (whole, Some(frac)),
                None => (input, None),
            };
            let whole = parse_digits(whole).map_err(|e| fail(e.reason("cores")))?;
            let frac = match frac {
                None => 0,
                Some("") => return Err(fail("no digits after the decimal point")),
                Some(f) if f.len() > 3 => return Err(fail("more than 3 decimals")),
                Some(f) => {
                    let value = parse_digits(f).map_err(|e| fail(e.reason("decimals")))?;
                    // Pad to thousandths: "5" -> 500, "25" -> 250.
                    value * 10u64.pow(3 - f.len() as u32)
                }
            };
            whole
                .checked_mul(1000)
                .and_then(|m| m.checked_add(frac))
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| fail("too large"))?
        };
        CpuMillis::new(millis).ok_or_else(|| fail("must be greater than zero"))
    }
}

/// A memory limit in bytes; never zero and at most `i64::MAX`.
///
/// Parses from `"1048576"`, `"512m"`, `"512M"`, `"512Mi"`, `"1g"`, `"1Gi"`, `"1Ki"` (all units
/// binary, see the [module docs](self)); displays with the largest exact binary unit
/// (`"512Mi"`), or as plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemoryBytes(u64);

impl MemoryBytes {
    /// The largest accepted limit (Docker stores memory limits as `i64`).
    pub const MAX: MemoryBytes = MemoryBytes(i64::MAX as u64);

    /// A limit of `bytes`, or `None` for zero or more than `i64::MAX`.
    pub const fn new(bytes: u64) -> Option<Self> {
        if bytes == 0 || bytes > i64::MAX as u64 {
            None
        } else {
            Some(Self(bytes))
        }
    }

    /// The limit in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The limit as Docker's `Memory` field (`i64`); exact because of the `i64::MAX` bound.
    pub const fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

const MEMORY_UNITS: [(&str, u64); 4] = [
    ("Ti", 1 << 40),
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
];

impl fmt::Display for MemoryBytes {
    /// The largest binary unit that divides the value exactly (`"512Mi"`), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in MEMORY_UNITS {
            if self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl FromStr for MemoryBytes {
    type Err = ResourceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ResourceError::Memory {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() {
            return Err(fail("empty"));
        }
        let split = input
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(input.len());
        let (digits, unit) = input.split_at(split);
        let multiplier: u64 = match unit {
            "" => 1,
            "k" | "K" | "Ki" => 1 << 10,
            "m" | "M" | "Mi" => 1 << 20,
            "g" | "G" | "Gi" => 1 << 30,
            "t" | "T" | "Ti" => 1 << 40,
            u if u.starts_with('.') => {
                return Err(fail(
                    "decimals are not accepted, use a smaller unit (\"1536m\", not \"1.5g\")",
                ));
            }
            _ => return Err(fail("unknown unit or stray characters")),
        };
        let value = parse_digits(digits)
            .map_err(|e| e.reason_memory())
            .map_err(fail)?;
        let bytes = value
            .checked_mul(multiplier)
            .filter(|b| *b <= i64::MAX as u64)
            .ok_or_else(|| fail("too large (at most 8Ei - 1 bytes)"))?;
        MemoryBytes::new(bytes).ok_or_else(|| fail("must be greater than zero"))
    }
}

/// Why a run of digits did not parse.
enum DigitsError {
    Empty,
    NotDigits,
    Overflow,
}

impl DigitsError {
    fn reason(&self, what: &'static str) -> &'static str {
        match (self, what) {
            (DigitsError::Empty, "millicores") => "no digits before \"m\"",
            (DigitsError::Empty, "decimals") => "no digits after the decimal point",
            (DigitsError::Empty, _) => "no digits before the decimal point",
            (DigitsError::NotDigits, _) => {
                "only digits, one optional \".\" and an optional \"m\" are allowed"
            }
            (DigitsError::Overflow, _) => "too large",
        }
    }

    fn reason_memory(&self) -> &'static str {
        match self {
            DigitsError::Empty => "no digits",
            DigitsError::NotDigits => "only digits followed by an optional unit are allowed",
            DigitsError::Overflow => "too large (at most 8Ei - 1 bytes)",
        }
    }
}

/// ASCII digits only (no sign, no whitespace, no `_`) into a `u64`.
fn parse_digits(s: &str) -> Result<u64, DigitsError> {
    if s.is_empty() {
        return Err(DigitsError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DigitsError::NotDigits);
    }
    s.parse::<u64>().map_err(|_| DigitsError::Overflow)
}

impl Serialize for CpuMillis {
    /// As the decimal-cores string (`"0.5"`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CpuMillis {
    /// From any accepted string, or from an integer meaning whole cores (`cpu = 2`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CpuVisitor;
        impl Visitor<'_> for CpuVisitor {
            type Value = CpuMillis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a CPU quantity: {CPU_FORMS}, or an integer number of cores"
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CpuMillis, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CpuMillis, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CpuMillis, E> {
                v.to_string().parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(CpuVisitor)
    }
}

impl Serialize for MemoryBytes {
    /// As the canonical string (`"512Mi"`, or plain bytes).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MemoryBytes {
    /// From any accepted string, or from an integer number of bytes.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemoryVisitor;
        impl Visitor<'_> for MemoryVisitor {
            type Value = MemoryBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a memory quantity: {MEMORY_FORMS}, or an integer number of bytes"
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MemoryBytes, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MemoryBytes, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MemoryBytes, E> {
                v.to_string().parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(MemoryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cpu(s: &str) -> u32 {
        s.parse::<CpuMillis>()
            .map(CpuMillis::millis)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn mem(s: &str) -> u64 {
        s.parse::<MemoryBytes>()
            .map(MemoryBytes::bytes)
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn cpu_accepted_forms() {
        assert_eq!(cpu("0.5"), 500);
        assert_eq!(cpu("2"), 2000);
        assert_eq!(cpu("1.25"), 1250);
        assert_eq!(cpu("1.250"), 1250);
        assert_eq!(cpu("0.001"), 1);
        assert_eq!(cpu("500m"), 500);
        assert_eq!(cpu("1m"), 1);
        assert_eq!(cpu("2.0"), 2000);
        assert_eq!(cpu("4294967.295"), u32::MAX);
        assert_eq!(cpu("4294967295m"), u32::MAX);
    }

    #[test]
    fn cpu_refused_forms() {
        for bad in [
            "",
            " ",
            "0",
            "0.0",
            "0m",
            "000",
            "-1",
            "+1",
            "-0.5",
            "1.5.2",
            "10x",
            "1.2345",
            ".5",
            "5.",
            " 1",
            "1 ",
            "1\n",
            "1e3",
            "1_000",
            "0x10",
            "m",
            "1.5m",
            "500M",
            "1,5",
            "∞",
            "4294967.296",
            "4294967296m",
            "99999999999999999999",
            "1 m",
            "NaN",
            "1k",
        ] {
            let err = bad.parse::<CpuMillis>().expect_err(bad);
            let msg = err.to_string();
            assert!(
                msg.contains("accepted:") && msg.contains("500m"),
                "{bad:?}: {msg}"
            );
        }
    }

    #[test]
    fn memory_accepted_forms() {
        assert_eq!(mem("1048576"), 1 << 20);
        assert_eq!(mem("512m"), 512 << 20);
        assert_eq!(mem("512M"), 512 << 20);
        assert_eq!(mem("512Mi"), 512 << 20);
        assert_eq!(mem("1g"), 1 << 30);
        assert_eq!(mem("1G"), 1 << 30);
        assert_eq!(mem("1Gi"), 1 << 30);
        assert_eq!(mem("1Ki"), 1024);
        assert_eq!(mem("1k"), 1024);
        assert_eq!(mem("2T"), 2 << 40);
        assert_eq!(mem("1"), 1);
        assert_eq!(mem("9223372036854775807"), i64::MAX as u64);
        assert_eq!(mem("8388607Ti"), 8_388_607 << 40);
    }

    #[test]
    fn memory_refused_forms() {
        for bad in [
            "",
            "0",
            "0m",
            "0Gi",
            "-1",
            "+1",
            "1.5g",
            "1.5.2",
            "10x",
            "512MB",
            "512mb",
            "512Mib",
            "512 m",
            " 512m",
            "512m ",
            "Mi",
            "1e6",
            "1_000",
            "0x10",
            "9223372036854775808",
            "8388608Ti",
            "99999999999999999999",
            "1P",
            "1Pi",
            "1b",
            "1KI",
            "１",
        ] {
            let err = bad.parse::<MemoryBytes>().expect_err(bad);
            let msg = err.to_string();
            assert!(
                msg.contains("accepted:") && msg.contains("512Mi"),
                "{bad:?}: {msg}"
            );
        }
    }

    #[test]
    fn decimal_memory_error_says_what_to_write() {
        let msg = "1.5g"
            .parse::<MemoryBytes>()
            .expect_err("decimal")
            .to_string();
        assert!(msg.contains("1536m"), "{msg}");
    }

    #[test]
    fn display_is_canonical() {
        let c = |m| CpuMillis::new(m).map(|c| c.to_string());
        assert_eq!(c(500).as_deref(), Some("0.5"));
        assert_eq!(c(2000).as_deref(), Some("2"));
        assert_eq!(c(1250).as_deref(), Some("1.25"));
        assert_eq!(c(1).as_deref(), Some("0.001"));
        assert_eq!(
            CpuMillis::new(500)
                .map(CpuMillis::to_millicores_string)
                .as_deref(),
            Some("500m")
        );
        let m = |b| MemoryBytes::new(b).map(|m| m.to_string());
        assert_eq!(m(512 << 20).as_deref(), Some("512Mi"));
        assert_eq!(m(1 << 30).as_deref(), Some("1Gi"));
        assert_eq!(m(1536 << 20).as_deref(), Some("1536Mi"));
        assert_eq!(m(1000).as_deref(), Some("1000"));
        assert_eq!(m(2048).as_deref(), Some("2Ki"));
    }

    #[test]
    fn constructors_refuse_out_of_range() {
        assert_eq!(CpuMillis::new(0), None);
        assert_eq!(MemoryBytes::new(0), None);
        assert_eq!(MemoryBytes::new(i64::MAX as u64 + 1), None);
        assert_eq!(MemoryBytes::new(i64::MAX as u64), Some(MemoryBytes::MAX));
        assert_eq!(
            CpuMillis::new(u32::MAX).map(CpuMillis::nano_cpus),
            Some(u32::MAX as i64 * 1_000_000)
        );
    }

    #[test]
    fn serde_accepts_strings_and_integers() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::from_str::<CpuMillis>("\"500m\"")?.millis(), 500);
        assert_eq!(serde_json::from_str::<CpuMillis>("2")?.millis(), 2000);
        assert!(serde_json::from_str::<CpuMillis>("0").is_err());
        assert!(serde_json::from_str::<CpuMillis>("-1").is_err());
        assert!(
            serde_json::from_str::<CpuMillis>("0.5").is_err(),
            "floats are refused"
        );
        assert_eq!(
            serde_json::from_str::<MemoryBytes>("\"1Gi\"")?.bytes(),
            1 << 30
        );
        assert_eq!(serde_json::from_str::<MemoryBytes>("4096")?.bytes(), 4096);
        let cpu = CpuMillis::new(1250).ok_or_else(|| serde::de::Error::custom("zero"))?;
        assert_eq!(serde_json::to_string(&cpu)?, "\"1.25\"");
        let memory = MemoryBytes::new(64 << 20).ok_or_else(|| serde::de::Error::custom("zero"))?;
        assert_eq!(serde_json::to_string(&memory)?, "\"64Mi\"");
        assert_eq!(
            serde_json::from_str::<MemoryBytes>(&serde_json::to_string(&memory)?)?,
            memory
        );
        Ok(())
    }

    const UNITS: [(&str, u64); 13] = [
        ("", 1),
        ("k", 1 << 10),
        ("K", 1 << 10),
        ("Ki", 1 << 10),
        ("m", 1 << 20),
        ("M", 1 << 20),
        ("Mi", 1 << 20),
        ("g", 1 << 30),
        ("G", 1 << 30),
        ("Gi", 1 << 30),
        ("t", 1 << 40),
        ("T", 1 << 40),
        ("Ti", 1 << 40),
    ];

    proptest! {
        #[test]
        fn cpu_round_trips(millis in 1..=u32::MAX) {
            let c = CpuMillis::new(millis).ok_or_else(|| TestCaseError::fail("zero"))?;
            prop_assert_eq!(c.to_string().parse::<CpuMillis>(), Ok(c));
            prop_assert_eq!(c.to_millicores_string().parse::<CpuMillis>(), Ok(c));
        }

        #[test]
        fn millicores_equal_decimal_cores(whole in 0u32..4_000_000, frac in 0u32..1000) {
            prop_assume!(whole > 0 || frac > 0);
            let decimal = format!("{whole}.{frac:03}").parse::<CpuMillis>();
            let millis = format!("{}m", whole * 1000 + frac).parse::<CpuMillis>();
            prop_assert_eq!(&decimal, &millis);
            prop_assert_eq!(decimal.map(CpuMillis::millis), Ok(whole * 1000 + frac));
        }

        #[test]
        fn memory_round_trips(bytes in 1..=i64::MAX as u64) {
            let m = MemoryBytes::new(bytes).ok_or_else(|| TestCaseError::fail("out of range"))?;
            prop_assert_eq!(m.to_string().parse::<MemoryBytes>(), Ok(m));
            prop_assert_eq!(m.bytes().to_string().parse::<MemoryBytes>(), Ok(m));
        }

        #[test]
        fn memory_units_multiply(n in 1u64..1_000_000, unit in 0..UNITS.len()) {
            let (suffix, size) = UNITS[unit];
            prop_assert_eq!(format!("{n}{suffix}").parse::<MemoryBytes>().map(MemoryBytes::bytes), Ok(n * size));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = s.parse::<CpuMillis>();
            let _ = s.parse::<MemoryBytes>();
        }

        #[test]
        fn near_miss_strings_never_panic(s in "[0-9.mMkKgGtTi +-]{0,24}") {
            if let Ok(c) = s.parse::<CpuMillis>() {
                prop_assert!(c.millis() > 0);
            }
            if let Ok(m) = s.parse::<MemoryBytes>() {
                prop_assert!(m.bytes() > 0 && m.bytes() <= i64::MAX as u64);
            }
        }

        #[test]
        fn cpu_is_monotonic(a in 1u32..100_000_000, b in 1u32..100_000_000) {
            let pa = CpuMillis::new(a).map(|c| c.to_string()).map(|s| s.parse::<CpuMillis>());
            let pb = CpuMillis::new(b).map(|c| c.to_string()).map(|s| s.parse::<CpuMillis>());
            match (pa, pb) {
                (Some(Ok(pa)), Some(Ok(pb))) => prop_assert_eq!(a.cmp(&b), pa.cmp(&pb)),
                other => prop_assert!(false, "unparsable: {:?}", other),
            }
        }

        #[test]
        fn memory_is_monotonic(a in 1u64..1_000_000, b in 1u64..1_000_000, unit in 0..UNITS.len()) {
            let (suffix, _) = UNITS[unit];
            let pa = format!("{a}{suffix}").parse::<MemoryBytes>().ok();
            let pb = format!("{b}{suffix}").parse::<MemoryBytes>().ok();
            prop_assert_eq!(a.cmp(&b), pa.cmp(&pb));
            // A larger unit never yields fewer bytes for the same number.
            let bytes = format!("{a}").parse::<MemoryBytes>().ok();
            let kib = format!("{a}k").parse::<MemoryBytes>().ok();
            let mib = format!("{a}m").parse::<MemoryBytes>().ok();
            let gib = format!("{a}g").parse::<MemoryBytes>().ok();
            prop_assert!(bytes.is_some() && bytes < kib && kib < mib && mib < gib);
        }
    }
}
