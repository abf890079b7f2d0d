//! One inventory run: list every target's groups, fetch each wanted group's containers with a
//! bounded number of calls in flight, through the cache, retrying rate-limited calls; then
//! judge, filter, sort and page. A failed listing or group is an error in the statistics and
//! the rest is returned.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{Semaphore, mpsc};

use super::cache::InventoryCache;
use super::query::{Matcher, encode_cursor};
use super::report::{InventoryError, InventoryReport, InventoryStats, Progress, Stage};
use super::retry::{Attempts, RetryPolicy, with_retries};
use super::source::{InventorySource, SourceError};
use super::types::{Group, Health, InventoryContainer, SourceContainer};

/// How runs fetch.
#[derive(Debug, Clone)]
pub(crate) struct FetchSettings {
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

/// Everything a run needs.
pub(crate) struct Run<'a> {
    pub sources: Vec<Arc<dyn InventorySource>>,
    pub cache: &'a InventoryCache,
    pub settings: &'a FetchSettings,
    pub matcher: Matcher,
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
}

/// A group's outcome.
struct Fetched {
    target: String,
    group: Group,
    result: Result<Vec<SourceContainer>, SourceError>,
    attempts: Attempts,
    cached: bool,
}

impl Run<'_> {
    fn report(&self, stage: Stage, done: usize, total: usize) {
        if let Some(tx) = &self.progress {
            let progress = Progress {
                stage,
                done: done as u64,
                total: total as u64,
            };
            tx.send(progress).ok();
        }
    }

    pub(crate) async fn run(self) -> InventoryReport {
        let started = Instant::now();
        let mut stats = InventoryStats {
            targets: self.sources.len() as u64,
            ..InventoryStats::default()
        };
        let permits = Semaphore::new(self.settings.concurrency.max(1));
        let query = self.matcher.query().clone();

        // 1. Every target's groups (pages in order within a target, targets in parallel).
        let total_targets = self.sources.len();
        self.report(Stage::Listing, 0, total_targets);
        let mut listings: FuturesUnordered<_> = self
            .sources
            .iter()
            .map(|source| self.list(source.as_ref(), &permits, query.scope.as_deref()))
            .collect();
        let mut groups: Vec<(Arc<dyn InventorySource>, Group)> = Vec::new();
        let mut done = 0;
        while let Some((target, result, attempts, cached)) = listings.next().await {
            done += 1;
            stats.calls += attempts.calls;
            stats.rate_limited += attempts.rate_limited;
            if cached {
                stats.cache_hits += 1;
            } else {
                stats.cache_misses += 1;
            }
            match result {
                Ok(listed) => {
                    let source = self.sources.iter().find(|s| s.target() == target).cloned();
                    if let Some(source) = source {
                        groups.extend(
                            listed
                                .into_iter()
                                .filter(|g| self.matcher.wants_group(g))
                                .map(|g| (source.clone(), g)),
                        );
                    }
                }
                Err(error) => stats.errors.push(InventoryError {
                    target,
                    group: None,
                    code: error.code().to_owned(),
                    message: error.to_string(),
                    attempts: attempts.calls,
                }),
            }
            self.report(Stage::Listing, done, total_targets);
        }
        drop(listings);

        // 2. Each wanted group's containers, at most `concurrency` calls in flight.
        let total_groups = groups.len();
        self.report(Stage::Fetching, 0, total_groups);
        let mut fetches: FuturesUnordered<_> = groups
            .into_iter()
            .map(|(source, group)| self.fetch(source, group, &permits, query.refresh))
            .collect();
        let mut containers = Vec::new();
        let mut done = 0;
        while let Some(fetched) = fetches.next().await {
            done += 1;
            stats.workloads_processed += 1;
            stats.calls += fetched.attempts.calls;
            stats.rate_limited += fetched.attempts.rate_limited;
            if fetched.cached {
                stats.cache_hits += 1;
            } else {
                stats.cache_misses += 1;
            }
            match fetched.result {
                Ok(found) => {
                    stats.workloads_succeeded += 1;
                    containers.extend(found.into_iter().map(|c| {
                        InventoryContainer::from_source(&fetched.target, &fetched.group, c)
                    }));
                }
                Err(error) => {
                    stats.workloads_failed += 1;
                    stats.errors.push(InventoryError {
                        target: fetched.target,
                        group: Some(fetched.group.name),
                        code: error.code().to_owned(),
                        message: error.to_string(),
                        attempts: fetched.attempts.calls,
                    });
                }
            }
            self.report(Stage::Fetching, done, total_groups);
        }
        drop(fetches);

        // 3. Judge, filter, sort, page.
        let visible = containers
            .into_iter()
            .filter(|c| query.include_system || !c.system);
        let mut matching = Vec::new();
        for c in visible {
            stats.containers_found += 1;
            match c.health {
                Health::Healthy => stats.containers_healthy += 1,
                Health::Unhealthy => stats.containers_unhealthy += 1,
                Health::Suspended => stats.containers_suspended += 1,
            }
            if self.matcher.wants(&c) {
                matching.push((c.sort_key(), c));
            }
        }
        matching.sort_by(|a, b| a.0.cmp(&b.0));
        stats
            .errors
            .sort_by(|a, b| (&a.target, &a.group).cmp(&(&b.target, &b.group)));
        let total = matching.len() as u64;
        let mut report = InventoryReport {
            total,
            ..InventoryReport::default()
        };
        if !query.count_only {
            let mut page = matching
                .into_iter()
                .filter(|(key, _)| self.matcher.after_cursor(key));
            let limit = query.limit.unwrap_or(usize::MAX);
            let mut last = None;
            for (key, c) in page.by_ref().take(limit) {
                last = Some(key);
                report.containers.push(c);
            }
            if page.next().is_some() {
                report.next_cursor = last.as_deref().map(encode_cursor);
            }
        }
        self.report(Stage::Done, total_groups, total_groups);
        stats.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.stats = stats;
        report
    }

    /// All pages of a target's groups, from the cache when it has them.
    async fn list(
        &self,
        source: &dyn InventorySource,
        permits: &Semaphore,
        scope: Option<&str>,
    ) -> (String, Result<Vec<Group>, SourceError>, Attempts, bool) {
        let target = source.target().to_owned();
        let refresh = self.matcher.query().refresh;
        if !refresh && let Some(groups) = self.cache.listing(&target, scope) {
            return (target, Ok(groups), Attempts::default(), true);
        }
        let mut total = Attempts::default();
        let mut groups = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, attempts) = with_retries(&self.settings.retry, || async {
                let _permit = permits.acquire().await;
                source.list_groups(scope, cursor.as_deref()).await
            })
            .await;
            total.calls += attempts.calls;
            total.rate_limited += attempts.rate_limited;
            match page {
                Ok(page) => {
                    groups.extend(page.groups);
                    match page.next_cursor {
                        Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                        _ => break,
                    }
                }
                Err(error) => return (target, Err(error), total, false),
            }
        }
        self.cache.put_listing(&target, scope, groups.clone());
        (target, Ok(groups), total, false)
    }

    /// One group's containers, from the cache when it has them.
    async fn fetch(
        &self,
        source: Arc<dyn InventorySource>,
        group: Group,
        permits: &Semaphore,
        refresh: bool,
    ) -> Fetched {
        let target = source.target().to_owned();
        if !refresh && let Some(found) = self.cache.group(&target, &group.id) {
            return Fetched {
                target,
                group,
                result: Ok(found),
                attempts: Attempts::default(),
                cached: true,
            };
        }
        let (result, attempts) = with_retries(&self.settings.retry, || async {
            let _permit = permits.acquire().await;
            source.list_group_containers(&group).await
        })
        .await;
        if let Ok(found) = &result {
            self.cache.put_group(&target, &group.id, found.clone());
        }
        Fetched {
            target,
            group,
            result,
            attempts,
            cached: false,
        }
    }
}
