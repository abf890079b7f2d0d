//! Names of the Docker objects the engine owns. One place, so recovery finds what an earlier
//! run created.
//!
//! Every name starts with `wl_<engine id>_` so engines sharing a Docker host never collide, and
//! joins engine id, org, stack and service with `_`, which none of them may contain (they are
//! validated to `[a-z0-9-]`, see `spec`): `a-b`/`c` and `a`/`b-c` never meet.

/// The container of replica `slot` of a service.
pub fn container_name(engine: &str, org: &str, stack: &str, service: &str, slot: u32) -> String {
    format!("wl_{engine}_{org}_{stack}_{service}_{slot}")
}

/// The network of a stack: every service of the stack joins it, reachable by its name; stacks
/// (and so orgs) do not share networks.
pub fn network_name(engine: &str, org: &str, stack: &str) -> String {
    format!("wl_{engine}_{org}_{stack}")
}

/// The Docker volume behind a stack's named volume.
pub fn volume_name(engine: &str, org: &str, stack: &str, volume: &str) -> String {
    format!("wl_{engine}_{org}_{stack}_{volume}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_scoped_by_engine_org_and_stack() {
        assert_eq!(
            container_name("dev-1", "acme", "shop", "web", 2),
            "wl_dev-1_acme_shop_web_2"
        );
        assert_eq!(network_name("dev-1", "acme", "shop"), "wl_dev-1_acme_shop");
        assert_eq!(
            volume_name("dev-1", "acme", "shop", "pgdata"),
            "wl_dev-1_acme_shop_pgdata"
        );
        assert_ne!(
            network_name("a", "acme", "shop"),
            network_name("b", "acme", "shop")
        );
        assert_ne!(network_name("e", "a-b", "c"), network_name("e", "a", "b-c"));
    }
}
