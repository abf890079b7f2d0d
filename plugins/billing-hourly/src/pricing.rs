//! Pricing: rates from configuration, exact quantities, one rounding per invoice line.

use std::collections::BTreeMap;

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, InvoiceLine, Money, PluginError, Resources, UsageRecord,
};

use crate::arith::{mul_div_half_up, parse_micros};

/// Milliseconds in an hour.
const HOUR_MS: u128 = 3_600_000;
/// Bytes in a GiB.
const GIB: u128 = 1 << 30;

/// A metered resource. The order of the variants is the order of an org/stack/service's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dimension {
    Cpu,
    Memory,
    Disk,
}

impl Dimension {
    const ALL: [Self; 3] = [Self::Cpu, Self::Memory, Self::Disk];

    /// The configuration key of the rate.
    pub(crate) fn rate_key(self) -> &'static str {
        match self {
            Self::Cpu => "cpu_core_hour",
            Self::Memory => "memory_gib_hour",
            Self::Disk => "disk_gib_hour",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Cpu => "core-hour",
            Self::Memory | Self::Disk => "GiB-hour",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Cpu => "cpu core-hours",
            Self::Memory => "memory GiB-hours",
            Self::Disk => "disk GiB-hours",
        }
    }

    /// The numerator units (milli-core-ms or byte-ms) in one unit (core-hour or GiB-hour).
    fn denominator(self) -> u128 {
        match self {
            Self::Cpu => 1_000 * HOUR_MS,
            Self::Memory | Self::Disk => GIB * HOUR_MS,
        }
    }

    /// How much of this resource `r` holds (unset: none).
    fn held(self, r: &Resources) -> u128 {
        match self {
            Self::Cpu => r.cpu_millis.map_or(0, u128::from),
            Self::Memory => r.memory_bytes.map_or(0, u128::from),
            Self::Disk => r.disk_bytes.map_or(0, u128::from),
        }
    }
}

/// Rates (millionths of a minor unit per unit-hour; none = not billed) and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PriceConfig {
    rates: [Option<u64>; 3],
    currency: String,
}

impl PriceConfig {
    /// Reads and checks the configuration through `get`.
    pub(crate) fn load(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, PluginError> {
        let mut rates = [None; 3];
        for (slot, dim) in rates.iter_mut().zip(Dimension::ALL) {
            let key = dim.rate_key();
            if let Some(text) = get(key) {
                let micros = parse_micros(&text).map_err(|why| {
                    PluginError::invalid_config(
                        key,
                        format!("config `{key}` must be a rate in minor units per hour: {why}"),
                    )
                })?;
                *slot = Some(micros);
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
        if end <= start {
            continue;
        }
        let ms = u128::from(end - start);
        for (dim, rate) in Dimension::ALL.into_iter().zip(config.rates) {
            if rate.is_none() {
                continue;
            }
            // At most (2^64-1)^2 < 2^128: never overflows; the sum is checked.
            let numerator = dim.held(&record.resources) * ms;
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

    #[test]
    fn backwards_period_is_an_error() {
        let c = config(&[]).unwrap();
        let err = price(&c, period(5, 4), &[]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("period"));
    }
}
