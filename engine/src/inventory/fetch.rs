//! One inventory run: list every target's groups page by page and fetch each wanted group's
//! containers as soon as its page is in — one pool of at most `concurrency` calls in flight for
//! listing pages and groups alike — through the cache, retrying rate-limited calls; then judge,
//! filter, sort and page. A failed listing page or group is an error in the statistics and the
//! rest is returned.
//!
//! Why pipelined: a listing's pages come one after another (each `next` link is in the page
//! before), so waiting for the whole listing before fetching leaves all but one slot idle for
//! as many round trips as there are pages.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{Semaphore, mpsc};

use super::cache::{Found, InventoryCache, Keyed};
use super::query::{Matcher, encode_cursor};
use super::report::{InventoryError, InventoryReport, InventoryStats, Progress, Stage};
use super::retry::{Attempts, RetryPolicy, with_retries};
use super::source::{InventorySource, SourceError};
use super::types::{Group, GroupPage, Health, InventoryContainer};

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

/// One listing page of a target (`source` indexes the run's sources).
struct Page {
    source: usize,
    cursor: Option<String>,
    result: Result<GroupPage, SourceError>,
    attempts: Attempts,
}

/// A group's outcome.
struct Fetched {
    target: String,
    group: Group,
    result: Result<Found, SourceError>,
    attempts: Attempts,
}

/// What a run has gathered so far.
#[derive(Default)]
struct Tally {
    stats: InventoryStats,
    found: Vec<Found>,
    /// Groups wanted so far (grows while listings go on), and of those done.
    groups: usize,
    groups_done: usize,
    /// Per source: the groups of the pages read so far (cached when the last page is in).
    listed: Vec<Vec<Group>>,
    targets_done: usize,
    fetching_reported: bool,
}

impl Tally {
    fn count_calls(&mut self, attempts: Attempts) {
        self.stats.calls += attempts.calls;
        self.stats.rate_limited += attempts.rate_limited;
    }

    fn error(&mut self, target: &str, group: Option<String>, error: &SourceError, calls: u64) {
        self.stats.errors.push(InventoryError {
            target: target.to_owned(),
            group,
            code: error.code().to_owned(),
            message: error.to_string(),
            attempts: calls,
        });
    }
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
        let permits = Semaphore::new(self.settings.concurrency.max(1));
        let query = self.matcher.query();
        let scope = query.scope.as_deref();
        let mut tally = Tally {
            stats: InventoryStats {
                targets: self.sources.len() as u64,
                ..InventoryStats::default()
            },
            listed: vec![Vec::new(); self.sources.len()],
            ..Tally::default()
        };
        let mut listings = FuturesUnordered::new();
        let mut fetches = FuturesUnordered::new();

        // Every target's listing: from the cache, or its first page.
        self.report(Stage::Listing, 0, self.sources.len());
        for (index, source) in self.sources.iter().enumerate() {
            let cached = (!query.refresh)
                .then(|| self.cache.listing(source.target(), scope))
                .flatten();
            match cached {
                Some(groups) => {
                    tally.stats.cache_hits += 1;
                    tally.targets_done += 1;
                    for group in self.admit(&mut tally, source.target(), &groups) {
                        fetches.push(self.fetch(source.clone(), group, &permits));
                    }
                }
                None => {
                    tally.stats.cache_misses += 1;
                    listings.push(self.list_page(index, None, &permits));
                }
            }
        }
        if tally.targets_done > 0 {
            self.report(Stage::Listing, tally.targets_done, self.sources.len());
        }
        if tally.groups > 0 || listings.is_empty() {
            self.report_fetching(&mut tally);
        }

        // Pages and groups as they come in.
        loop {
            tokio::select! {
                Some(page) = listings.next() => {
                    let source = &self.sources[page.source];
                    tally.count_calls(page.attempts);
                    let before = tally.groups;
                    let listed = match page.result {
                        Ok(GroupPage { groups, next_cursor }) => {
                            for group in self.admit(&mut tally, source.target(), &groups) {
                                fetches.push(self.fetch(source.clone(), group, &permits));
                            }
                            tally.listed[page.source].extend(groups);
                            match next_cursor {
                                Some(next) if Some(&next) != page.cursor.as_ref() => {
                                    let next = self.list_page(page.source, Some(next), &permits);
                                    listings.push(next);
                                    false
                                }
                                _ => {
                                    let groups = std::mem::take(&mut tally.listed[page.source]);
                                    self.cache.put_listing(source.target(), scope, groups.into());
                                    true
                                }
                            }
                        }
                        Err(error) => {
                            // The pages before stay in the answer; the listing is not cached.
                            tally.error(source.target(), None, &error, page.attempts.calls);
                            true
                        }
                    };
                    if listed {
                        tally.targets_done += 1;
                        self.report(Stage::Listing, tally.targets_done, self.sources.len());
                    }
                    if tally.groups > before || (listings.is_empty() && !tally.fetching_reported) {
                        self.report_fetching(&mut tally);
                    }
                }
                Some(fetched) = fetches.next() => {
                    tally.count_calls(fetched.attempts);
                    tally.stats.cache_misses += 1;
                    tally.groups_done += 1;
                    match fetched.result {
                        Ok(found) => {
                            tally.stats.workloads_succeeded += 1;
                            tally.found.push(found);
                        }
                        Err(error) => {
                            tally.stats.workloads_failed += 1;
                            let calls = fetched.attempts.calls;
                            tally.error(&fetched.target, Some(fetched.group.name), &error, calls);
                        }
                    }
                    self.report(Stage::Fetching, tally.groups_done, tally.groups);
                }
                else => break,
            }
        }
        drop((listings, fetches));
        let total_groups = tally.groups;
        let mut report = self.answer(tally);
        self.report(Stage::Done, total_groups, total_groups);
        report.stats.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        report
    }

    /// Where fetching stands (its total grows while listing pages come in).
    fn report_fetching(&self, tally: &mut Tally) {
        tally.fetching_reported = true;
        self.report(Stage::Fetching, tally.groups_done, tally.groups);
    }

    /// Takes a page's wanted groups: the cached ones are done at once; returns those to fetch.
    fn admit(&self, tally: &mut Tally, target: &str, groups: &[Group]) -> Vec<Group> {
        let refresh = self.matcher.query().refresh;
        let wanted: Vec<&Group> = groups
            .iter()
            .filter(|g| self.matcher.wants_group(g))
            .collect();
        tally.groups += wanted.len();
        tally.stats.workloads_processed += wanted.len() as u64;
        let cached = if refresh {
            vec![None; wanted.len()]
        } else {
            self.cache.groups(target, wanted.iter().copied())
        };
        let mut to_fetch = Vec::new();
        for (group, cached) in wanted.into_iter().zip(cached) {
            match cached {
                Some(found) => {
                    tally.stats.cache_hits += 1;
                    tally.stats.workloads_succeeded += 1;
                    tally.groups_done += 1;
                    tally.found.push(found);
                }
                None => to_fetch.push(group.clone()),
            }
        }
        to_fetch
    }

    /// Judges, counts, filters, sorts and pages what the run found. Only the page's containers
    /// are copied out of what the cache shares.
    fn answer(&self, mut tally: Tally) -> InventoryReport {
        let query = self.matcher.query();
        let stats = &mut tally.stats;
        let mut matching: Vec<&Keyed> = Vec::new();
        for keyed in tally.found.iter().flat_map(|found| found.iter()) {
            let c = &keyed.container;
            if c.system && !query.include_system {
                continue;
            }
            stats.containers_found += 1;
            match c.health {
                Health::Healthy => stats.containers_healthy += 1,
                Health::Unhealthy => stats.containers_unhealthy += 1,
                Health::Suspended => stats.containers_suspended += 1,
            }
            if self.matcher.wants(c) {
                matching.push(keyed);
            }
        }
        matching.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        stats
            .errors
            .sort_by(|a, b| (&a.target, &a.group).cmp(&(&b.target, &b.group)));
        let mut report = InventoryReport {
            total: matching.len() as u64,
            ..InventoryReport::default()
        };
        if !query.count_only {
            // Sorted, so what comes after the cursor is a suffix.
            let start = matching.partition_point(|k| !self.matcher.after_cursor(&k.key));
            let rest = &matching[start..];
            let page = &rest[..rest.len().min(query.limit.unwrap_or(usize::MAX))];
            report.containers = page.iter().map(|k| k.container.clone()).collect();
            if page.len() < rest.len() {
                report.next_cursor = page.last().map(|k| encode_cursor(&k.key));
            }
        }
        report.stats = std::mem::take(&mut tally.stats);
        report
    }

    /// One page of a target's groups.
    async fn list_page(&self, source: usize, cursor: Option<String>, permits: &Semaphore) -> Page {
        let scope = self.matcher.query().scope.as_deref();
        let s = self.sources[source].as_ref();
        let (result, attempts) = with_retries(&self.settings.retry, || async {
            let _permit = permits.acquire().await;
            s.list_groups(scope, cursor.as_deref()).await
        })
        .await;
        Page {
            source,
            cursor,
            result,
            attempts,
        }
    }

    /// One group's containers from the source; what it found is cached, judged and keyed.
    async fn fetch(
        &self,
        source: Arc<dyn InventorySource>,
        group: Group,
        permits: &Semaphore,
    ) -> Fetched {
        let target = source.target().to_owned();
        let (result, attempts) = with_retries(&self.settings.retry, || async {
            let _permit = permits.acquire().await;
            source.list_group_containers(&group).await
        })
        .await;
        let result = result.map(|containers| {
            let found: Found = containers
                .into_iter()
                .map(|c| Keyed::new(InventoryContainer::from_source(&target, &group, c)))
                .collect();
            self.cache.put_group(&target, &group.id, found.clone());
            found
        });
        Fetched {
            target,
            group,
            result,
            attempts,
        }
    }
}
