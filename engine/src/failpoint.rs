//! Named pauses for crash tests: the only way a test can `kill -9` the engine at an exact
//! point of a multi-step operation (a billing cycle before pricing, after it, inside its store
//! transaction) rather than at a random moment.
//!
//! `WINDLASS_FAILPOINTS=name[@n][,name[@n]…]` in the environment of the process arms the
//! points named: the `n`-th time (default 1) the engine reaches one, it writes
//! `windlass failpoint <name> reached` to standard error and waits forever at that point — the
//! test kills the process there. Without the variable (always, outside tests) a point is one
//! load of an initialised `OnceLock` and an empty-slice check.
//!
//! Points: `billing.before-pricing`, `billing.after-pricing`, `billing.in-transaction`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms failpoints.
pub const FAILPOINTS_ENV: &str = "WINDLASS_FAILPOINTS";

struct Armed {
    name: String,
    nth: u64,
    hits: AtomicU64,
}

fn armed() -> &'static [Armed] {
    static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var(FAILPOINTS_ENV)
            .map(|spec| parse(&spec))
            .unwrap_or_default()
    })
}

fn parse(spec: &str) -> Vec<Armed> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (name, nth) = match entry.split_once('@') {
                Some((name, n)) => (name, n.trim().parse().unwrap_or(1)),
                None => (entry, 1),
            };
            Armed {
                name: name.trim().to_owned(),
                nth: nth.max(1),
                hits: AtomicU64::new(0),
            }
        })
        .collect()
}

/// Pauses forever here when `name` is armed and this is its `n`-th hit.
pub(crate) async fn point(name: &str) {
    let Some(armed) = armed().iter().find(|a| a.name == name) else {
        return;
    };
    if armed.hits.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth {
        eprintln!("windlass failpoint {name} reached");
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_a_count() {
        let armed = parse("billing.after-pricing@3, billing.before-pricing,,x@0");
        let got: Vec<(&str, u64)> = armed.iter().map(|a| (a.name.as_str(), a.nth)).collect();
        assert_eq!(
            got,
            [
                ("billing.after-pricing", 3),
                ("billing.before-pricing", 1),
                ("x", 1)
            ]
        );
    }
}
