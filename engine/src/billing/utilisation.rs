//! Quota utilisation: recalculated every 30 s while the engine runs; crossing 80 % or 90 % of a
//! limit (the month's spend included) upward is announced once (`quota-threshold-crossed`),
//! and again only after the org has fallen back below that level. The levels are kept in memory: a restarted engine announces a
//! level the org is still above once more.

use std::collections::BTreeMap;

use serde_json::json;

use super::quota::allocations;
use crate::NewEvent;
use crate::engine::Ctx;
use crate::store::Scope;
use crate::{EngineError, engine::Engine};

/// How often utilisation is recalculated.
pub(crate) const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The levels last announced, by (org, resource): 0, 80 or 90.
#[derive(Debug, Default)]
pub(crate) struct Levels(BTreeMap<(String, &'static str), u8>);

fn level(held: u64, limit: u64) -> u8 {
    let held = u128::from(held) * 100;
    let limit = u128::from(limit);
    if limit == 0 || held >= limit * 90 {
        90
    } else if held >= limit * 80 {
        80
    } else {
        0
    }
}

/// Recalculates every org's utilisation and announces new crossings; returns how many.
pub(crate) async fn recalculate(
    engine: &Engine,
    levels: &mut Levels,
) -> Result<usize, EngineError> {
    let ctx: &Ctx = &engine.inner().ctx;
    let billing = &engine.inner().billing;
    let mut orgs: Vec<String> = ctx
        .store
        .list_desired_services(Scope::All)
        .await?
        .into_iter()
        .map(|s| s.org)
        .collect();
    orgs.dedup();
    let mut announced = 0;
    for org in orgs {
        let quotas = super::quota::quotas_of(ctx, billing, &org).await?;
        let (held, _) = allocations(ctx, &org, &[]).await?;
        let spent = match quotas.monthly_spend_minor {
            Some(_) => ctx
                .store
                .charged_since(&org, super::quota::month_start_ms(ctx.now_ms()))
                .await
                .map(|s| u64::try_from(s).unwrap_or(0))?,
            None => 0,
        };
        for (resource, limit, now) in [
            ("monthly_spend_minor", quotas.monthly_spend_minor, spent),
            ("cpu_millis", quotas.cpu_millis, held.cpu_millis),
            ("memory_bytes", quotas.memory_bytes, held.memory_bytes),
            ("containers", quotas.containers, held.containers),
            ("services", quotas.services, held.services),
        ] {
            let Some(limit) = limit else { continue };
            let new = if now == 0 { 0 } else { level(now, limit) };
            let old = levels.0.insert((org.clone(), resource), new).unwrap_or(0);
            if new > old {
                ctx.emit(
                    NewEvent::new("quota-threshold-crossed")
                        .with_org(&org)
                        .with_payload(json!({
                            "resource": resource,
                            "percent": new,
                            "held": now,
                            "limit": limit,
                        })),
                )
                .await;
                announced += 1;
            }
        }
    }
    Ok(announced)
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn levels_are_exact_integers() {
        assert_eq!(level(79, 100), 0);
        assert_eq!(level(80, 100), 80);
        assert_eq!(level(89, 100), 80);
        assert_eq!(level(90, 100), 90);
        assert_eq!(level(u64::MAX, u64::MAX), 90);
    }
}
