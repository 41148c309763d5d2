//! Step 1 of a pass: every configured target read concurrently, each
//! bounded by its own timeout or by what the deadline leaves.

use std::time::Instant;

use futures::future::join_all;
use tracing::{error, info};

use super::Pass;
use crate::domain::{TargetKey, TargetSnapshot};
use crate::monitors::MonitorError;

pub(super) struct Collected {
    pub key: TargetKey,
    pub result: Result<TargetSnapshot, MonitorError>,
    pub elapsed_ms: u64,
}

pub(super) async fn collect_all(pass: &Pass<'_>) -> Vec<Collected> {
    // Every target starts now, so the bound is the same for all: its own
    // timeout, or what the deadline leaves after the commit reserve.
    let left = pass
        .deadline
        .remaining()
        .saturating_sub(pass.deadline.reserve());
    let (bound, cut_short) = if left < pass.target_timeout {
        (left, true)
    } else {
        (pass.target_timeout, false)
    };
    let jobs = pass.monitors.iter().flat_map(|m| {
        m.targets().into_iter().map(move |label| async move {
            let key = m.provisional_key(&label);
            let started = Instant::now();
            let result = match tokio::time::timeout(bound, m.collect(&label)).await {
                Ok(r) => r,
                Err(_) if cut_short => Err(MonitorError::Deadline(bound)),
                Err(_) => Err(MonitorError::Timeout(bound)),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(s) => info!(target = %s.key, principals = s.principals.len(), elapsed_ms, "target collected"),
                Err(e) => error!(target = %key, error = %e, elapsed_ms, "target failed"),
            }
            Collected { key, result, elapsed_ms }
        })
    });
    join_all(jobs).await
}
