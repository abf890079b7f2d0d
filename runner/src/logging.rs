//! What the runner's log may contain, whatever `RUST_LOG` asks for.
//!
//! bollard (the Docker client) logs every request body it serialises at DEBUG and the raw
//! request at TRACE, through the `log` crate that the subscriber bridges into tracing. A
//! container's create request carries its environment, so a secret injected as a variable
//! (`env = "VAR"`, or a template parameter bound to a secret) would be written to the log by
//! `RUST_LOG=debug`. The runner therefore never passes bollard's records above INFO — nothing
//! at INFO or below carries a body — and the same for hyper and h2, which carry the bytes
//! underneath. The engine's own spans and events (`windlass=trace`) say what bollard was asked
//! to do without a value.

use tracing::Level;
use tracing::Metadata;

/// Crates whose records above INFO may carry request or response bodies.
const BODY_LOGGING_CRATES: &[&str] = &["bollard", "hyper", "hyper_util", "h2"];

/// Whether a record may be logged at all, whatever the level filter allows: false for the
/// DEBUG and TRACE records of crates that log request bodies.
pub fn may_log(meta: &Metadata<'_>) -> bool {
    if *meta.level() <= Level::INFO {
        return true;
    }
    let target = meta.target();
    !BODY_LOGGING_CRATES.iter().any(|krate| {
        target == *krate
            || target
                .strip_prefix(krate)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

/// [`may_log`] as a filter for a subscriber's layer.
pub fn body_filter() -> tracing_subscriber::filter::FilterFn<fn(&Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(may_log as fn(&Metadata<'_>) -> bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodies_of_docker_requests_are_never_logged() {
        let cases = [
            ("bollard::docker", Level::DEBUG, false),
            ("bollard", Level::TRACE, false),
            ("hyper::proto::h1::io", Level::TRACE, false),
            ("bollard::docker", Level::INFO, true),
            ("bollard_stubs", Level::DEBUG, true),
            ("windlass::runtime", Level::TRACE, true),
        ];
        for (target, level, allowed) in cases {
            let meta = tracing::Metadata::new(
                "test",
                target,
                level,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
                tracing::metadata::Kind::EVENT,
            );
            assert_eq!(may_log(&meta), allowed, "{target} at {level}");
        }
    }

    struct Callsite;
    impl tracing::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unreachable!()
        }
    }
    static CALLSITE: Callsite = Callsite;
}
