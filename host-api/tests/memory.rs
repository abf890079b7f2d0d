//! One memory budget per plugin instance, summed over every linear memory and table of every
//! core instance inside the component, the same with the pooling allocator and without it.
//! Shown with the hand-written WAT components of `plugins/hostile/wat/`.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::{component, load_spec};
use windlass_host_api::{
    CallError, Limits, LoadError, PluginEventKind, PluginHost, PluginSpec, Pooling,
};

/// A host on each allocator. The pool is small: tests run many hosts side by side.
fn hosts() -> Vec<(&'static str, PluginHost)> {
    let pooled = PluginHost::builder()
        .with_pooling(Pooling::On)
        .with_max_concurrent_instances(4)
        .build()
        .expect("the pooling allocator is available on the test machine");
    assert!(pooled.uses_pooling());
    let on_demand = PluginHost::builder()
        .with_pooling(Pooling::Off)
        .build()
        .unwrap();
    assert!(!on_demand.uses_pooling());
    vec![("pooling", pooled), ("on-demand", on_demand)]
}

fn spec(name: &str, memory_bytes: u64) -> PluginSpec {
    PluginSpec::from_file(name, component(name)).with_limits(Limits {
        memory_bytes,
        ..Limits::default()
    })
}

/// Renders `name` under `memory_bytes` and expects the budget to stop it.
async fn expect_memory_limit(allocator: &str, host: &PluginHost, name: &str, memory_bytes: u64) {
    let template = load_spec(host, spec(name, memory_bytes))
        .await
        .stack_template()
        .unwrap();
    match template.render(&[]).await {
        Err(CallError::MemoryLimit {
            plugin,
            limit_bytes,
            requested_bytes,
            ..
        }) => {
            assert_eq!(plugin, name);
            assert_eq!(limit_bytes, memory_bytes, "{allocator}");
            assert!(requested_bytes > memory_bytes, "{allocator}");
        }
        Err(other) => panic!("{allocator}: {name}: expected the memory budget, got {other}"),
        Ok(answer) => {
            panic!("{allocator}: {name} rendered past a {memory_bytes}-byte budget: {answer:?}")
        }
    }
    // The trapped instance is gone; the next call starts from a fresh budget.
    assert!(!template.describe().await.unwrap().name.is_empty());
}

#[tokio::test]
async fn four_modules_with_a_memory_each_share_one_budget_on_both_allocators() {
    // 4 × 40 MiB: each memory alone fits 64 MiB, the instance does not.
    for (allocator, host) in hosts() {
        expect_memory_limit(allocator, &host, "hostile-wat-modules", 64 << 20).await;
    }
}

#[tokio::test]
async fn one_module_with_four_memories_loads_and_shares_one_budget_on_both_allocators() {
    for (allocator, host) in hosts() {
        expect_memory_limit(allocator, &host, "hostile-wat-memories", 64 << 20).await;
    }
}

#[tokio::test]
async fn tables_count_towards_the_budget_on_both_allocators() {
    // Four tables of 100,000 elements (8 bytes each): 3.2 MB against 2 MiB.
    for (allocator, host) in hosts() {
        expect_memory_limit(allocator, &host, "hostile-wat-tables", 2 << 20).await;
    }
}

#[tokio::test]
async fn a_multi_memory_component_whose_total_fits_loads_and_answers_on_both_allocators() {
    // 4 × 10 MiB under 64 MiB.
    for (allocator, host) in hosts() {
        let plugin = match host.load(spec("wat-memories-fit", 64 << 20)).await {
            Ok(plugin) => plugin,
            Err(error) => panic!("{allocator}: a valid component that fits was refused: {error}"),
        };
        let answer = plugin.stack_template().unwrap().render(&[]).await;
        match answer {
            Ok(Err(error)) => assert_eq!(error.code, "done", "{allocator}"),
            other => panic!("{allocator}: expected its err(done) answer, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn too_many_memories_are_refused_with_the_true_reason() {
    let mut hosts = hosts().into_iter();
    let (_, pooled) = hosts.next().unwrap();
    let error = pooled
        .load(spec("hostile-wat-nine-memories", 64 << 20))
        .await
        .unwrap_err();
    assert!(matches!(error, LoadError::PoolLimit { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("does not fit the host's instance pool") && message.contains("memories"),
        "{message}"
    );
    assert!(!message.contains("not a valid component"), "{message}");

    // Without the pool the same limit holds when the instance is created.
    let (_, on_demand) = hosts.next().unwrap();
    let template = load_spec(&on_demand, spec("hostile-wat-nine-memories", 64 << 20))
        .await
        .stack_template()
        .unwrap();
    let error = template.render(&[]).await.unwrap_err();
    assert!(
        error.to_string().contains("memory count too high"),
        "{error}"
    );
}

#[tokio::test]
async fn when_the_pool_cannot_be_had_the_host_says_so_and_the_limits_hold() {
    // A pool this large cannot be reserved on any machine (as under `ulimit -v`).
    let host = PluginHost::builder()
        .with_pooling(Pooling::Auto)
        .with_max_concurrent_instances(10_000_000)
        .build()
        .expect("Auto falls back to on-demand allocation");
    assert!(!host.uses_pooling());
    let reason = host.pooling_unavailable().expect("the host says why");
    assert!(!reason.is_empty());

    let mut events = host.events();
    expect_memory_limit("fallback", &host, "hostile-wat-modules", 64 << 20).await;
    let loaded = events.recv().await.unwrap();
    match loaded.kind {
        PluginEventKind::Loaded {
            pool_unavailable, ..
        } => assert_eq!(pool_unavailable.as_deref(), Some(reason)),
        other => panic!("expected the loaded event first, got {other:?}"),
    }

    // A host told to use no pool has nothing to report.
    let off = PluginHost::builder()
        .with_pooling(Pooling::Off)
        .build()
        .unwrap();
    assert_eq!(off.pooling_unavailable(), None);
}
