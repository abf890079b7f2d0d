//! `billing-hourly`: a billing rule charging per hour for the CPU, memory and disk held, and
//! (built against `windlass:plugin@0.2.0`) for the CPU, memory, egress and build time used, in
//! exact integer arithmetic, with simple quotas.
//!
//! # Configuration
//!
//! | key               | meaning                                                          | default   |
//! |-------------------|------------------------------------------------------------------|-----------|
//! | `cpu_core_hour`   | minor units per core-hour (e.g. `1.25`: 1.25 cents per core-hour) | not billed |
//! | `memory_gib_hour` | minor units per GiB-hour (GiB = 2³⁰ bytes)                        | not billed |
//! | `disk_gib_hour`   | minor units per GiB-hour of disk                                  | not billed |
//! | `cpu_used_core_hour` | minor units per core-hour actually used (`used.cpu-core-micros`) | not billed |
//! | `memory_used_gib_hour` | minor units per GiB-hour of memory actually used (`used.memory-byte-seconds`) | not billed |
//! | `egress_gib`      | minor units per GiB sent (`used.egress-bytes`)                   | not billed |
//! | `build_minute`    | minor units per minute of building (`used.build-seconds`)        | not billed |
//! | `currency`        | ISO 4217 code, three letters                                     | `EUR`     |
//! | `quota_cpu_millis`   | CPU quota, thousandths of a core                              | unlimited |
//! | `quota_memory_bytes` | memory quota, bytes                                           | unlimited |
//! | `quota_disk_bytes`   | disk quota, bytes                                             | unlimited |
//!
//! Rates are non-negative decimals with at most six decimals (`3`, `0.000125`). A rate that is
//! not set bills nothing and produces no lines; `0` produces lines with a zero amount. A bad
//! rate or currency makes `price` fail with `invalid-config`, `field` = the key.
//!
//! The four rates for what was used need the 0.2.0 contract's `usage-record.used`: the 0.1.0
//! build of this source (`plugins/v0_1/billing-hourly`, without the `measured-usage` feature)
//! never reads them and prices allocation only.
//!
//! # Pricing and rounding
//!
//! Each usage record is first clipped to the billing period (records outside it count for
//! nothing). Its exact quantity is an integer numerator over a fixed denominator:
//!
//! - CPU: `cpu-millis × ms` over `1000 × 3 600 000` (core-hours);
//! - memory and disk: `bytes × ms` over `2³⁰ × 3 600 000` (GiB-hours).
//!
//! What a record used is not clipped (a use cannot be split by time; the host hands each in one
//! period only: an interval's in the period holding its start, a build's in the period it ended
//! in). Its quantities are:
//!
//! - CPU used: `cpu-core-micros` over `1 000 000 × 3 600` (core-hours);
//! - memory used: `memory-byte-seconds` over `2³⁰ × 3 600` (GiB-hours);
//! - egress: `egress-bytes` over `2³⁰` (GiB);
//! - builds: `build-seconds` over `60` (minutes).
//!
//! Records are summed per (org, stack, service, resource) into one invoice line (a build's
//! record, container = the build's id, joins its service's lines); lines are ordered by org,
//! stack, service, then cpu, memory, disk held, then cpu used, memory used, egress, build.
//! Descriptions: `cpu core-hours for ORG/STACK/SERVICE`, `memory GiB-hours …`,
//! `disk GiB-hours …`, `cpu core-hours used …` (unit `core-hour`), `memory GiB-hours used …`
//! (`GiB-hour`), `egress GiB …` (`GiB`), `build minutes …` (`minute`). For each line:
//!
//! - `amount = round_half_up(Σ numerator × rate / denominator)`, computed exactly (256-bit
//!   intermediate), so the line is rounded **once**, half up (a half minor unit or more rounds
//!   up), to the minor unit;
//! - `quantity-micros = round_half_up(Σ numerator × 1 000 000 / denominator)`, for display; the
//!   amount comes from the exact quantity, not from this rounded one;
//! - lines whose quantity is zero are left out.
//!
//! The total is the sum of the rounded line amounts, so it always equals what the lines show.
//! An amount beyond `i64::MAX` minor units is an `overflow` error.
//!
//! # Quotas
//!
//! `check-quota` computes, per dimension with a quota, `projected = current + requested` (an
//! unset value counts as 0). If any projected value exceeds its quota the answer is `deny`,
//! naming the dimension, the limit and the projected value. Otherwise, if any reaches 90 % of
//! its quota the answer is `warn` with a reason containing `90 %`; else if any reaches 80 %,
//! `warn` with `80 %`; else `allow`. A quota that does not parse as a whole number denies every
//! request (fail closed), saying which key is wrong.

mod arith;
mod pricing;
mod quota;

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, PluginError, QuotaDecision, Resources, UsageRecord, UsageSummary,
};

/// The billing rule.
struct Hourly;

impl windlass_plugin_sdk::BillingRule for Hourly {
    fn price(period: BillingPeriod, usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
        let config = pricing::PriceConfig::load(&windlass_plugin_sdk::config::get)?;
        pricing::price(&config, period, &usage)
    }

    fn check_quota(current: UsageSummary, requested: Resources) -> QuotaDecision {
        quota::check(&windlass_plugin_sdk::config::get, &current, &requested)
    }
}

windlass_plugin_sdk::export_billing_rule!(Hourly);
