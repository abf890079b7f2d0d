//! Pricing: rates from configuration, exact quantities, one rounding per invoice line.

use std::collections::BTreeMap;

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, InvoiceLine, Money, PluginError, UsageRecord,
};

use crate::arith::{mul_div_half_up, parse_micros};

/// Milliseconds in an hour.
const HOUR_MS: u128 = 3_600_000;
/// Bytes in a GiB.
const GIB: u128 = 1 << 30;

/// Seconds in an hour.
#[cfg(feature = "measured-usage")]
const HOUR_S: u128 = 3_600;

/// A metered resource. The order of the variants is the order of an org/stack/service's lines:
/// what was held (clipped to the period), then what was used (the 0.2.0 contract's `used`;
/// the 0.1.0 build of this source has none of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dimension {
    Cpu,
    Memory,
    Disk,
    #[cfg(feature = "measured-usage")]
    CpuUsed,
    #[cfg(feature = "measured-usage")]
    MemoryUsed,
    #[cfg(feature = "measured-usage")]
    Egress,
    #[cfg(feature = "measured-usage")]
    Build,
}

/// Room for every dimension's rate (indexed by `Dimension as usize`).
const DIMENSIONS: usize = 7;

impl Dimension {
    const ALL: &[Self] = &[
        Self::Cpu,
        Self::Memory,
        Self::Disk,
        #[cfg(feature = "measured-usage")]
        Self::CpuUsed,
        #[cfg(feature = "measured-usage")]
        Self::MemoryUsed,
        #[cfg(feature = "measured-usage")]
        Self::Egress,
        #[cfg(feature = "measured-usage")]
        Self::Build,
    ];

    /// The configuration key of the rate.
    pub(crate) fn rate_key(self) -> &'static str {
        match self {
            Self::Cpu => "cpu_core_hour",
            Self::Memory => "memory_gib_hour",
            Self::Disk => "disk_gib_hour",
            #[cfg(feature = "measured-usage")]
            Self::CpuUsed => "cpu_used_core_hour",
            #[cfg(feature = "measured-usage")]
            Self::MemoryUsed => "memory_used_gib_hour",
            #[cfg(feature = "measured-usage")]
            Self::Egress => "egress_gib",
            #[cfg(feature = "measured-usage")]
            Self::Build => "build_minute",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Cpu => "core-hour",
            Self::Memory | Self::Disk => "GiB-hour",
            #[cfg(feature = "measured-usage")]
            Self::CpuUsed => "core-hour",
            #[cfg(feature = "measured-usage")]
            Self::MemoryUsed => "GiB-hour",
            #[cfg(feature = "measured-usage")]
            Self::Egress => "GiB",
            #[cfg(feature = "measured-usage")]
            Self::Build => "minute",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Cpu => "cpu core-hours",
            Self::Memory => "memory GiB-hours",
            Self::Disk => "disk GiB-hours",
            #[cfg(feature = "measured-usage")]
            Self::CpuUsed => "cpu core-hours used",
            #[cfg(feature = "measured-usage")]
            Self::MemoryUsed => "memory GiB-hours used",
            #[cfg(feature = "measured-usage")]
            Self::Egress => "egress GiB",
            #[cfg(feature = "measured-usage")]
            Self::Build => "build minutes",
        }
    }

    /// The numerator units in one unit: milli-core-ms or byte-ms per core-hour or GiB-hour
    /// held; core-µs per core-hour, byte-seconds per GiB-hour, bytes per GiB, seconds per
    /// minute used.
    fn denominator(self) -> u128 {
        match self {
            Self::Cpu => 1_000 * HOUR_MS,
            Self::Memory | Self::Disk => GIB * HOUR_MS,
            #[cfg(feature = "measured-usage")]
            Self::CpuUsed => 1_000_000 * HOUR_S,
            #[cfg(feature = "measured-usage")]
            Self::MemoryUsed => GIB * HOUR_S,
            #[cfg(feature = "measured-usage")]
            Self::Egress => GIB,
            #[cfg(feature = "measured-usage")]
            Self::Build => 60,
        }
    }

    /// The exact quantity (numerator) `r` adds: what it held × `ms`, its time inside the
    /// period; or what it used, whole (`ms` does not matter: the host hands each use in one
    /// period only, the one holding the interval's start or the build's end).
    fn numerator(self, r: &UsageRecord, ms: u128) -> u128 {
        // At most (2^64-1)^2 < 2^128: never overflows; the sums are checked.
        match self {
            Self::Cpu => r.resources.cpu_millis.map_or(0, u128::from) * ms,
            Self::Memory => r.resources.memory_bytes.map_or(0, u128::from) * ms,
            Self::Disk => r.resources.disk_bytes.map_or(0, u128::from) * ms,
            #[cfg(feature = "measured-usage")]
            Self::CpuUsed => u128::from(r.used.cpu_core_micros),
            #[cfg(feature = "measured-usage")]
            Self::MemoryUsed => u128::from(r.used.memory_byte_seconds),
            #[cfg(feature = "measured-usage")]
            Self::Egress => u128::from(r.used.egress_bytes),
            #[cfg(feature = "measured-usage")]
            Self::Build => u128::from(r.used.build_seconds),
        }
    }

    /// Whether the quantity is time held, clipped to the period.
    fn clipped(self) -> bool {
        matches!(self, Self::Cpu | Self::Memory | Self::Disk)
    }

    /// What the rate is counted per, for error messages.
    fn per(self) -> &'static str {
        if self.clipped() { "hour" } else { self.unit() }
    }
}

/// Rates (millionths of a minor unit per unit; none = not billed) and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PriceConfig {
    rates: [Option<u64>; DIMENSIONS],
    currency: String,
}

impl PriceConfig {
    /// Reads and checks the configuration through `get`.
    pub(crate) fn load(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, PluginError> {
        let mut rates = [None; DIMENSIONS];
        for &dim in Dimension::ALL {
            let key = dim.rate_key();
            if let Some(text) = get(key) {
                let micros = parse_micros(&text).map_err(|why| {
                    PluginError::invalid_config(
                        key,
                        format!(
                            "config `{key}` must be a rate in minor units per {}: {why}",
                            dim.per()
                        ),
                    )
                })?;
                rates[dim as usize] = Some(micros);
            }
        }
        let currency = get("currency").unwrap_or_else(|| "EUR".to_owned());
        let currency = currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PluginError::invalid_config(
                "currency",
                format!("config `currency` must be a three-letter ISO 4217 code, not `{currency}`"),
            ));
        }
        Ok(Self { rates, currency })
    }
}

/// Prices `usage` over `period`.
pub(crate) fn price(
    config: &PriceConfig,
    period: BillingPeriod,
    usage: &[UsageRecord],
) -> Result<Invoice, PluginError> {
    if period.end_ms < period.start_ms {
        return Err(PluginError::invalid_input(format!(
            "the billing period ends ({}) before it starts ({})",
            period.end_ms, period.start_ms
        ))
        .with_field("period"));
    }

    // Exact quantities (numerators) per org, stack, service and resource.
    let mut sums: BTreeMap<(&str, &str, &str, Dimension), u128> = BTreeMap::new();
    for record in usage {
        let start = record.start_ms.max(period.start_ms);
        let end = record.end_ms.min(period.end_ms);
        let ms = u128::from(end.saturating_sub(start));
        for &dim in Dimension::ALL {
            if config.rates[dim as usize].is_none() || (dim.clipped() && ms == 0) {
                continue;
            }
            let numerator = dim.numerator(record, ms);
            if numerator == 0 {
                continue;
            }
            let key = (
                record.org.as_str(),
                record.stack.as_str(),
                record.service.as_str(),
                dim,
            );
            let sum = sums.entry(key).or_insert(0);
            *sum = sum.checked_add(numerator).ok_or_else(overflow)?;
        }
    }

    let mut lines = Vec::with_capacity(sums.len());
    let mut total: i64 = 0;
    for ((org, stack, service, dim), numerator) in sums {
        let rate = config.rates[dim as usize].unwrap_or(0);
        let minor = mul_div_half_up(numerator, u128::from(rate), dim.denominator() * 1_000_000)
            .and_then(|m| i64::try_from(m).ok())
            .ok_or_else(overflow)?;
        let quantity_micros = mul_div_half_up(numerator, 1_000_000, dim.denominator())
            .and_then(|q| u64::try_from(q).ok())
            .ok_or_else(overflow)?;
        total = total.checked_add(minor).ok_or_else(overflow)?;
        lines.push(InvoiceLine {
            description: format!("{} for {org}/{stack}/{service}", dim.label()),
            quantity_micros,
            unit: dim.unit().to_owned(),
            amount: Money::new(minor, config.currency.clone()),
        });
    }
    Ok(Invoice {
        period,
        lines,
        total: Money::new(total, config.currency.clone()),
    })
}

fn overflow() -> PluginError {
    PluginError::new(
        "overflow",
        "the invoice is too large to represent (an amount exceeds 2^63-1 minor units)",
    )
}

#[cfg(test)]
mod tests {
    use windlass_plugin_sdk::types::Resources;

    use super::*;

    const H: u64 = 3_600_000;
    const GIB: u64 = 1 << 30;

    fn config(pairs: &[(&str, &str)]) -> Result<PriceConfig, PluginError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PriceConfig::load(&|k| map.get(k).cloned())
    }

    fn res(cpu: Option<u32>, mem: Option<u64>, disk: Option<u64>) -> Resources {
        Resources {
            cpu_millis: cpu,
            memory_bytes: mem,
            disk_bytes: disk,
        }
    }

    fn rec(service: &str, r: Resources, start: u64, end: u64) -> UsageRecord {
        UsageRecord::new(
            "acme",
            "shop",
            service,
            format!("{service}-1"),
            r,
            start,
            end,
        )
    }

    fn period(start: u64, end: u64) -> BillingPeriod {
        BillingPeriod {
            start_ms: start,
            end_ms: end,
        }
    }

    #[test]
    fn one_core_hour_at_one_twenty_five() {
        let c = config(&[("cpu_core_hour", "1.25")]).unwrap();
        let inv = price(
            &c,
            period(0, 10 * H),
            &[rec("web", res(Some(1000), None, None), 0, H)],
        )
        .unwrap();
        assert_eq!(inv.lines.len(), 1);
        let line = &inv.lines[0];
        assert_eq!(line.description, "cpu core-hours for acme/shop/web");
        assert_eq!(line.unit, "core-hour");
        assert_eq!(line.quantity_micros, 1_000_000);
        // 1.25 rounds half-up... 1.25 minor units -> 1.
        assert_eq!(line.amount, Money::new(1, "EUR"));
        assert_eq!(inv.total, Money::new(1, "EUR"));
    }

    #[test]
    fn rounds_each_line_once_half_up() {
        let c = config(&[("cpu_core_hour", "1.5"), ("currency", "usd")]).unwrap();
        // Two records of half a core-hour each make one line: 1 core-hour x 1.5 = 1.5 -> 2.
        let usage = [
            rec("web", res(Some(500), None, None), 0, H),
            rec("web", res(Some(500), None, None), H, 2 * H),
        ];
        let inv = price(&c, period(0, 2 * H), &usage).unwrap();
        assert_eq!(inv.lines.len(), 1);
        assert_eq!(inv.lines[0].amount, Money::new(2, "USD"));

        // Three records of 1/3 core-hour at 1.5: exactly 1.5 -> 2, where rounding each record
        // (0.5 -> 1, three times) would give 3.
        let third = H / 3; // 1_200_000 ms, exact.
        let usage = [
            rec("web", res(Some(1000), None, None), 0, third),
            rec("web", res(Some(1000), None, None), third, 2 * third),
            rec("web", res(Some(1000), None, None), 2 * third, H),
        ];
        let inv = price(&c, period(0, H), &usage).unwrap();
        assert_eq!(inv.lines[0].quantity_micros, 1_000_000);
        assert_eq!(inv.lines[0].amount.minor, 2);
    }

    #[test]
    fn rounding_boundaries() {
        let c = config(&[("cpu_core_hour", "1")]).unwrap();
        let amount = |cpu_millis: u32, ms: u64| {
            price(
                &c,
                period(0, u64::MAX),
                &[rec("w", res(Some(cpu_millis), None, None), 0, ms)],
            )
            .unwrap()
            .total
            .minor
        };
        // Exactly half a minor unit rounds up.
        assert_eq!(amount(500, H), 1);
        // Just under half rounds down: 0.4999997 minor.
        assert_eq!(amount(1000, H / 2 - 1), 0);
        // Just over half rounds up.
        assert_eq!(amount(1000, H / 2 + 1), 1);
        // 2.5 -> 3, 3.5 -> 4 (half-up, not banker's).
        assert_eq!(amount(2500, H), 3);
        assert_eq!(amount(3500, H), 4);
        assert_eq!(amount(1000, 0), 0);
    }

    #[test]
    fn micro_rates_and_quantities() {
        // 0.000001 minor per core-hour over 500_000 core-hours = 0.5 -> 1.
        let c = config(&[("cpu_core_hour", "0.000001")]).unwrap();
        let inv = price(
            &c,
            period(0, u64::MAX),
            &[rec("w", res(Some(1000), None, None), 0, 500_000 * H)],
        )
        .unwrap();
        assert_eq!(inv.lines[0].quantity_micros, 500_000_000_000);
        assert_eq!(inv.total.minor, 1);
        // 1 ms of 1 milli-core: 1 / 3.6e9 core-hours -> 0.000000277 -> quantity 0 micros, amount 0,
        // but the line is kept (its exact quantity is not zero).
        let c = config(&[("cpu_core_hour", "100")]).unwrap();
        let inv = price(
            &c,
            period(0, 10),
            &[rec("w", res(Some(1), None, None), 0, 1)],
        )
        .unwrap();
        assert_eq!(inv.lines.len(), 1);
        assert_eq!(inv.lines[0].quantity_micros, 0);
        assert_eq!(inv.lines[0].amount.minor, 0);
        // 1800 ms of one core = 0.0005 core-hours: quantity 500 micros exactly.
        let inv = price(
            &c,
            period(0, H),
            &[rec("w", res(Some(1000), None, None), 0, 1800)],
        )
        .unwrap();
        assert_eq!(inv.lines[0].quantity_micros, 500);
        assert_eq!(inv.lines[0].amount.minor, 0); // 0.05 minor
        // Quantity display rounds half-up too: 1.8 ms of a core = 0.0000005 core-hours -> 1 micro.
        let inv = price(
            &c,
            period(0, H),
            &[rec("w", res(Some(1), None, None), 0, 1800)],
        )
        .unwrap();
        assert_eq!(inv.lines[0].quantity_micros, 1);
    }

    #[test]
    fn memory_and_disk_in_gib_hours() {
        let c = config(&[
            ("memory_gib_hour", "0.5"),
            ("disk_gib_hour", "0.01"),
            ("cpu_core_hour", "2"),
        ])
        .unwrap();
        let usage = [rec(
            "db",
            res(Some(250), Some(4 * GIB), Some(100 * GIB)),
            0,
            10 * H,
        )];
        let inv = price(&c, period(0, 10 * H), &usage).unwrap();
        let got: Vec<(&str, u64, &str, i64)> = inv
            .lines
            .iter()
            .map(|l| {
                (
                    l.description.as_str(),
                    l.quantity_micros,
                    l.unit.as_str(),
                    l.amount.minor,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("cpu core-hours for acme/shop/db", 2_500_000, "core-hour", 5),
                (
                    "memory GiB-hours for acme/shop/db",
                    40_000_000,
                    "GiB-hour",
                    20
                ),
                (
                    "disk GiB-hours for acme/shop/db",
                    1_000_000_000,
                    "GiB-hour",
                    10
                ),
            ]
        );
        assert_eq!(inv.total.minor, 35);
        // 512 MiB for 1 hour at 1 = 0.5 -> 1; a byte less -> 0.
        let c = config(&[("memory_gib_hour", "1")]).unwrap();
        let one = |bytes: u64| {
            price(
                &c,
                period(0, H),
                &[rec("w", res(None, Some(bytes), None), 0, H)],
            )
            .unwrap()
            .total
            .minor
        };
        assert_eq!(one(GIB / 2), 1);
        assert_eq!(one(GIB / 2 - 1), 0);
    }

    #[test]
    fn total_is_the_sum_of_rounded_lines() {
        let c = config(&[("cpu_core_hour", "1")]).unwrap();
        // Three services at 0.5 each: each line rounds to 1, total 3 (not round(1.5) = 2).
        let usage = [
            rec("a", res(Some(500), None, None), 0, H),
            rec("b", res(Some(500), None, None), 0, H),
            rec("c", res(Some(500), None, None), 0, H),
        ];
        let inv = price(&c, period(0, H), &usage).unwrap();
        assert_eq!(
            inv.lines.iter().map(|l| l.amount.minor).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        assert_eq!(inv.total.minor, 3);
    }

    #[test]
    fn lines_are_in_a_stable_order() {
        let c = config(&[("cpu_core_hour", "1"), ("memory_gib_hour", "1")]).unwrap();
        let mut usage = vec![
            rec("web", res(Some(1000), Some(GIB), None), 0, H),
            rec("api", res(Some(1000), Some(GIB), None), 0, H),
        ];
        let mut other = rec("api", res(Some(1000), None, None), 0, H);
        other.org = "aardvark".into();
        usage.push(other);
        let inv = price(&c, period(0, H), &usage).unwrap();
        let descriptions: Vec<&str> = inv.lines.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(
            descriptions,
            [
                "cpu core-hours for aardvark/shop/api",
                "cpu core-hours for acme/shop/api",
                "memory GiB-hours for acme/shop/api",
                "cpu core-hours for acme/shop/web",
                "memory GiB-hours for acme/shop/web",
            ]
        );
        usage.reverse();
        let again = price(&c, period(0, H), &usage).unwrap();
        assert_eq!(again, inv);
    }

    #[test]
    fn records_are_clipped_to_the_period() {
        let c = config(&[("cpu_core_hour", "10")]).unwrap();
        let usage = [
            rec("w", res(Some(1000), None, None), 0, 2 * H), // half inside
            rec("w", res(Some(1000), None, None), 5 * H, 7 * H), // half inside
            rec("w", res(Some(1000), None, None), 7 * H, 9 * H), // outside (after)
            rec("w", res(Some(1000), None, None), 0, H),     // outside (ends at start)
            rec("w", res(Some(1000), None, None), 3 * H, 2 * H), // backwards: nothing
        ];
        let inv = price(&c, period(H, 6 * H), &usage).unwrap();
        assert_eq!(inv.lines.len(), 1);
        assert_eq!(inv.lines[0].quantity_micros, 2_000_000);
        assert_eq!(inv.total.minor, 20);
        assert_eq!(inv.period, period(H, 6 * H));
    }

    #[test]
    fn unset_rates_bill_nothing_zero_rates_show_lines() {
        let usage = [rec("w", res(Some(1000), Some(GIB), Some(GIB)), 0, H)];
        let c = config(&[]).unwrap();
        let inv = price(&c, period(0, H), &usage).unwrap();
        assert!(inv.lines.is_empty());
        assert_eq!(inv.total, Money::new(0, "EUR"));
        let c = config(&[("disk_gib_hour", "0")]).unwrap();
        let inv = price(&c, period(0, H), &usage).unwrap();
        assert_eq!(inv.lines.len(), 1);
        assert_eq!(inv.lines[0].amount.minor, 0);
        assert_eq!(inv.lines[0].quantity_micros, 1_000_000);
    }

    #[test]
    fn huge_values_do_not_overflow_silently() {
        let c = config(&[("memory_gib_hour", "1")]).unwrap();
        // u64::MAX bytes for a long time: the exact amount exceeds i64::MAX.
        let usage = [rec("w", res(None, Some(u64::MAX), None), 0, u64::MAX)];
        let err = price(&c, period(0, u64::MAX), &usage).unwrap_err();
        assert_eq!(err.code, "overflow");
        // Large but representable: 1 TiB for a year at 0.000001.
        let c = config(&[("memory_gib_hour", "0.000001")]).unwrap();
        let year = 365 * 24 * H;
        let usage = [rec("w", res(None, Some(1024 * GIB), None), 0, year)];
        let inv = price(&c, period(0, year), &usage).unwrap();
        assert_eq!(inv.lines[0].quantity_micros, 1024 * 365 * 24 * 1_000_000);
        assert_eq!(inv.total.minor, 9); // 8.97024 -> 9
    }

    #[test]
    fn bad_config_names_the_key() {
        for (key, value) in [
            ("cpu_core_hour", "abc"),
            ("memory_gib_hour", "1.1234567"),
            ("disk_gib_hour", "-1"),
            ("currency", "euro"),
            ("currency", "E1R"),
        ] {
            let err = config(&[(key, value)]).unwrap_err();
            assert_eq!(err.code, "invalid-config");
            assert_eq!(err.field.as_deref(), Some(key));
            assert!(err.message.contains(key), "{}", err.message);
        }
        assert!(config(&[("memory_gib_hour", "1.123456")]).is_ok());
    }

    /// What was used: the 0.2.0 contract's `used` (the 0.1.0 build has none).
    #[cfg(feature = "measured-usage")]
    mod used {
        use super::*;

        /// A record of what `container` of `service` used, holding nothing.
        fn used(
            service: &str,
            container: &str,
            start: u64,
            end: u64,
            used: windlass_plugin_sdk::types::MeasuredUsage,
        ) -> UsageRecord {
            let mut r = UsageRecord::new(
                "acme",
                "shop",
                service,
                container,
                res(None, None, None),
                start,
                end,
            );
            r.used = used;
            r
        }

        fn measured(
            cpu_core_micros: u64,
            memory: u64,
            egress: u64,
            build: u64,
        ) -> windlass_plugin_sdk::types::MeasuredUsage {
            windlass_plugin_sdk::types::MeasuredUsage {
                cpu_core_micros,
                memory_byte_seconds: memory,
                storage_byte_seconds: 0,
                egress_bytes: egress,
                build_seconds: build,
            }
        }

        fn lines(inv: &Invoice) -> Vec<(&str, u64, &str, i64)> {
            inv.lines
                .iter()
                .map(|l| {
                    (
                        l.description.as_str(),
                        l.quantity_micros,
                        l.unit.as_str(),
                        l.amount.minor,
                    )
                })
                .collect()
        }

        #[test]
        fn what_was_used_is_priced_per_line_after_what_was_held() {
            let c = config(&[
                ("cpu_core_hour", "10"),
                ("cpu_used_core_hour", "100"),
                ("memory_used_gib_hour", "2"),
                ("egress_gib", "5"),
                ("build_minute", "0.5"),
            ])
            .unwrap();
            let usage = [
                // Held half a core for the hour; used 0.25 core-hours over two intervals, 1.5 GiB-hours
                // of memory, 1.5 GiB sent.
                rec("web", res(Some(500), None, None), 0, H),
                used(
                    "web",
                    "web-1",
                    0,
                    H / 2,
                    measured(450_000_000, 3 * GIB * 900, GIB, 0),
                ),
                used(
                    "web",
                    "web-1",
                    H / 2,
                    H,
                    measured(450_000_000, 3 * GIB * 900, GIB / 2, 0),
                ),
                // A build of 150 s (2.5 minutes at 0.5 = 1.25 -> 1), ended inside the period, begun
                // before it: counted whole, not clipped.
                used("web", "b-0123456789abcdef", 0, 10, measured(0, 0, 0, 150)),
            ];
            let inv = price(&c, period(0, H), &usage).unwrap();
            assert_eq!(
                lines(&inv),
                vec![
                    ("cpu core-hours for acme/shop/web", 500_000, "core-hour", 5),
                    (
                        "cpu core-hours used for acme/shop/web",
                        250_000,
                        "core-hour",
                        25
                    ),
                    (
                        "memory GiB-hours used for acme/shop/web",
                        1_500_000,
                        "GiB-hour",
                        3
                    ),
                    ("egress GiB for acme/shop/web", 1_500_000, "GiB", 8),
                    ("build minutes for acme/shop/web", 2_500_000, "minute", 1),
                ]
            );
            assert_eq!(inv.total.minor, 5 + 25 + 3 + 8 + 1);
        }

        #[test]
        fn used_lines_round_once_half_up_and_unset_rates_bill_nothing() {
            // 18 s of CPU = 0.005 core-hours at 100 = 0.5 -> 1 (half up); a microsecond less -> 0.
            let c = config(&[("cpu_used_core_hour", "100")]).unwrap();
            let cpu = |micros: u64| {
                price(
                    &c,
                    period(0, H),
                    &[used("w", "w-1", 0, H, measured(micros, 0, 0, 0))],
                )
                .unwrap()
            };
            assert_eq!(
                lines(&cpu(18_000_000)),
                [("cpu core-hours used for acme/shop/w", 5_000, "core-hour", 1)]
            );
            assert_eq!(cpu(17_999_999).total.minor, 0);
            // Many intervals of one service make one line, rounded once: 3 x 6 s at 100 is
            // 0.5 -> 1 (each alone would be 0.1666 -> 0).
            let three: Vec<UsageRecord> = (0..3)
                .map(|n| {
                    used(
                        "w",
                        "w-1",
                        n * 60_000,
                        (n + 1) * 60_000,
                        measured(6_000_000, 0, 0, 0),
                    )
                })
                .collect();
            let inv = price(&c, period(0, H), &three).unwrap();
            assert_eq!(inv.lines.len(), 1);
            assert_eq!(inv.total.minor, 1);
            // Egress: half a GiB at 1 -> 1, a byte less -> 0; 1 byte shows 0 micros but keeps its line.
            let c = config(&[("egress_gib", "1")]).unwrap();
            let egress = |bytes: u64| {
                price(
                    &c,
                    period(0, H),
                    &[used("w", "w-1", 0, H, measured(0, 0, bytes, 0))],
                )
                .unwrap()
            };
            assert_eq!(egress(GIB / 2).total.minor, 1);
            assert_eq!(egress(GIB / 2 - 1).total.minor, 0);
            assert_eq!(
                lines(&egress(1)),
                [("egress GiB for acme/shop/w", 0, "GiB", 0)]
            );
            // Build minutes: 30 s at 1 = 0.5 -> 1; 29 s -> 0; 40 s shows 666_667 micros.
            let c = config(&[("build_minute", "1")]).unwrap();
            let build = |seconds: u64| {
                price(
                    &c,
                    period(0, H),
                    &[used("w", "b-1", 0, H, measured(0, 0, 0, seconds))],
                )
                .unwrap()
            };
            assert_eq!(build(30).total.minor, 1);
            assert_eq!(build(29).total.minor, 0);
            assert_eq!(build(40).lines[0].quantity_micros, 666_667);
            // No rate for what was used: no such line, whatever was used.
            let c = config(&[("cpu_core_hour", "1")]).unwrap();
            let inv = price(
                &c,
                period(0, H),
                &[used(
                    "w",
                    "w-1",
                    0,
                    H,
                    measured(u64::MAX, u64::MAX, u64::MAX, u64::MAX),
                )],
            )
            .unwrap();
            assert!(inv.lines.is_empty());
            // Nothing used with a rate: no line either.
            let c = config(&[("egress_gib", "1"), ("build_minute", "1")]).unwrap();
            let inv = price(
                &c,
                period(0, H),
                &[rec("w", res(Some(1000), None, None), 0, H)],
            )
            .unwrap();
            assert!(inv.lines.is_empty());
        }

        #[test]
        fn used_overflow_is_an_error_and_bad_used_rates_name_the_key() {
            let c = config(&[("egress_gib", "1000000000000")]).unwrap();
            let huge: Vec<UsageRecord> = (0..4)
                .map(|_| used("w", "w-1", 0, H, measured(0, 0, u64::MAX, 0)))
                .collect();
            assert_eq!(price(&c, period(0, H), &huge).unwrap_err().code, "overflow");
            for key in [
                "cpu_used_core_hour",
                "memory_used_gib_hour",
                "egress_gib",
                "build_minute",
            ] {
                let err = config(&[(key, "-2")]).unwrap_err();
                assert_eq!(err.field.as_deref(), Some(key));
                assert!(err.message.contains(key), "{}", err.message);
            }
        }
    }

    #[test]
    fn backwards_period_is_an_error() {
        let c = config(&[]).unwrap();
        let err = price(&c, period(5, 4), &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("period"));
    }
}
