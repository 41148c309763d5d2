//! Step 1 of a pass: the planned targets read, at most
//! `target_concurrency` at once across all sources, each bounded by its own
//! timeout or by what the deadline leaves when it starts.

use std::time::Instant;

use futures::StreamExt;
use tracing::{error, info};

use super::plan::Job;
use super::Pass;
use crate::domain::{TargetKey, TargetSnapshot};
use crate::monitors::MonitorError;

pub(super) struct Collected {
    pub key: TargetKey,
    pub result: Result<TargetSnapshot, MonitorError>,
    pub elapsed_ms: u64,
}

/// Each target as its read ends, in planned order.
pub(super) fn collect_each<'a>(
    pass: &'a Pass<'_>,
    jobs: Vec<Job<'a>>,
) -> impl futures::Stream<Item = Collected> + 'a {
    // `buffered` keeps the planned order in the summary while never more
    // than the bound are in flight: an organization of a thousand accounts
    // must not open a thousand STS sessions at once.
    futures::stream::iter(jobs)
        .map(move |job| async move {
            let (bound, cut_short) = pass.bound_now();
            let started = Instant::now();
            let result = match tokio::time::timeout(bound, job.monitor.collect(&job.label)).await
            {
                Ok(r) => r,
                Err(_) if cut_short => Err(MonitorError::Deadline(bound)),
                Err(_) => Err(MonitorError::Timeout(bound)),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(s) => info!(target = %s.key, principals = s.principals.len(), elapsed_ms, "target collected"),
                Err(e) => error!(target = %job.key, error = %e, elapsed_ms, "target failed"),
            }
            Collected {
                key: job.key,
                result,
                elapsed_ms,
            }
        })
        .buffered(pass.target_concurrency.max(1))
}

impl Pass<'_> {
    /// The bound for a read starting now: its own timeout, or what the
    /// deadline leaves after the commit reserve (then `true`: cut short).
    pub(super) fn bound_now(&self) -> (std::time::Duration, bool) {
        let left = self
            .deadline
            .remaining()
            .saturating_sub(self.deadline.reserve());
        if left < self.target_timeout {
            (left, true)
        } else {
            (self.target_timeout, false)
        }
    }
}
