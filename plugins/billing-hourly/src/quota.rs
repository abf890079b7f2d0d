//! Quotas: `projected = current + requested` against the configured limits.

use windlass_plugin_sdk::types::{QuotaDecision, Resources, UsageSummary};

/// A quota dimension: its configuration key, its name in reasons, its unit and its value.
struct Dim {
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    value: fn(&Resources) -> u128,
}

const DIMS: [Dim; 3] = [
    Dim {
        key: "quota_cpu_millis",
        name: "cpu",
        unit: "cpu-millis",
        value: |r| r.cpu_millis.map_or(0, u128::from),
    },
    Dim {
        key: "quota_memory_bytes",
        name: "memory",
        unit: "bytes",
        value: |r| r.memory_bytes.map_or(0, u128::from),
    },
    Dim {
        key: "quota_disk_bytes",
        name: "disk",
        unit: "bytes",
        value: |r| r.disk_bytes.map_or(0, u128::from),
    },
];

/// Decides whether `requested` fits `current`'s organisation's quota (read through `get`).
pub(crate) fn check(
    get: &dyn Fn(&str) -> Option<String>,
    current: &UsageSummary,
    requested: &Resources,
) -> QuotaDecision {
    let mut denials = Vec::new();
    let mut warn90 = Vec::new();
    let mut warn80 = Vec::new();
    for dim in &DIMS {
        let Some(text) = get(dim.key) else { continue };
        let Ok(limit) = text.trim().parse::<u64>() else {
            return QuotaDecision::Deny(format!(
                "quota configuration `{}` is not a whole number (`{text}`); denying until it is fixed",
                dim.key
            ));
        };
        let limit = u128::from(limit);
        let projected = (dim.value)(&current.allocated) + (dim.value)(requested);
        if projected > limit {
            denials.push(format!(
                "{} quota exceeded for {}: projected {projected} {unit} > limit {limit} {unit}",
                dim.name,
                current.org,
                unit = dim.unit
            ));
        } else if projected == 0 {
            // 0 of 0: nothing used, nothing to warn about.
        } else {
            let percent = projected * 100 / limit;
            let detail = format!(
                "{} at {percent} % of quota ({projected} of {limit} {})",
                dim.name, dim.unit
            );
            if projected * 100 >= limit * 90 {
                warn90.push(detail);
            } else if projected * 100 >= limit * 80 {
                warn80.push(detail);
            }
        }
    }
    if !denials.is_empty() {
        QuotaDecision::Deny(denials.join("; "))
    } else if !warn90.is_empty() {
        QuotaDecision::Warn(format!("over 90 % of quota: {}", warn90.join("; ")))
    } else if !warn80.is_empty() {
        QuotaDecision::Warn(format!("over 80 % of quota: {}", warn80.join("; ")))
    } else {
        QuotaDecision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpu: Option<u32>, mem: Option<u64>, disk: Option<u64>) -> Resources {
        Resources {
            cpu_millis: cpu,
            memory_bytes: mem,
            disk_bytes: disk,
        }
    }

    fn decide(config: &[(&str, &str)], current: Resources, requested: Resources) -> QuotaDecision {
        let get = |k: &str| {
            config
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let current = UsageSummary {
            org: "acme".into(),
            allocated: current,
        };
        check(&get, &current, &requested)
    }

    #[test]
    fn unlimited_without_config() {
        assert_eq!(
            decide(
                &[],
                res(Some(u32::MAX), Some(u64::MAX), None),
                res(Some(u32::MAX), Some(u64::MAX), Some(1))
            ),
            QuotaDecision::Allow
        );
    }

    #[test]
    fn thresholds() {
        let q = [("quota_cpu_millis", "1000")];
        let cpu = |now: u32, more: u32| {
            decide(&q, res(Some(now), None, None), res(Some(more), None, None))
        };
        assert_eq!(cpu(0, 0), QuotaDecision::Allow);
        assert_eq!(cpu(500, 299), QuotaDecision::Allow); // 79.9 %
        let QuotaDecision::Warn(w) = cpu(500, 300) else {
            panic!("80 % warns")
        };
        assert!(w.contains("80 %") && w.contains("cpu"), "{w}");
        let QuotaDecision::Warn(w) = cpu(500, 399) else {
            panic!("89.9 % warns")
        };
        assert!(w.contains("80 %"), "{w}");
        let QuotaDecision::Warn(w) = cpu(500, 400) else {
            panic!("90 % warns")
        };
        assert!(w.contains("90 %"), "{w}");
        let QuotaDecision::Warn(w) = cpu(1000, 0) else {
            panic!("100 % warns")
        };
        assert!(w.contains("90 %") && w.contains("100 %"), "{w}");
        let QuotaDecision::Deny(d) = cpu(1000, 1) else {
            panic!("over 100 % denies")
        };
        assert!(
            d.contains("cpu") && d.contains("1000") && d.contains("1001"),
            "{d}"
        );
    }

    #[test]
    fn unset_values_count_as_zero() {
        let q = [("quota_memory_bytes", "100")];
        assert_eq!(
            decide(&q, res(None, None, None), res(None, None, None)),
            QuotaDecision::Allow
        );
        let QuotaDecision::Deny(d) =
            decide(&q, res(None, Some(60), None), res(None, Some(41), None))
        else {
            panic!("101 of 100 denies")
        };
        assert!(
            d.contains("memory")
                && d.contains("limit 100 bytes")
                && d.contains("projected 101 bytes"),
            "{d}"
        );
    }

    #[test]
    fn deny_beats_warn_and_names_every_dimension() {
        let q = [
            ("quota_cpu_millis", "1000"),
            ("quota_memory_bytes", "1000"),
            ("quota_disk_bytes", "1000"),
        ];
        let QuotaDecision::Deny(d) = decide(
            &q,
            res(Some(950), Some(2000), Some(3000)),
            res(None, None, None),
        ) else {
            panic!("denies")
        };
        assert!(
            d.contains("memory") && d.contains("disk") && !d.contains("cpu"),
            "{d}"
        );
        let QuotaDecision::Warn(w) =
            decide(&q, res(Some(950), Some(850), None), res(None, None, None))
        else {
            panic!("warns")
        };
        assert!(
            w.contains("90 %") && w.contains("cpu") && !w.contains("memory"),
            "{w}"
        );
    }

    #[test]
    fn zero_quota() {
        let q = [("quota_disk_bytes", "0")];
        assert_eq!(
            decide(&q, res(None, None, None), res(None, None, Some(0))),
            QuotaDecision::Allow
        );
        assert!(matches!(
            decide(&q, res(None, None, None), res(None, None, Some(1))),
            QuotaDecision::Deny(_)
        ));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let q = [("quota_memory_bytes", "18446744073709551615")];
        let QuotaDecision::Deny(d) = decide(
            &q,
            res(None, Some(u64::MAX), None),
            res(None, Some(u64::MAX), None),
        ) else {
            panic!("denies")
        };
        assert!(d.contains("36893488147419103230"), "{d}");
    }

    #[test]
    fn bad_quota_config_fails_closed() {
        let QuotaDecision::Deny(d) = decide(
            &[("quota_cpu_millis", "lots")],
            res(None, None, None),
            res(None, None, None),
        ) else {
            panic!("denies")
        };
        assert!(d.contains("quota_cpu_millis"), "{d}");
    }
}
