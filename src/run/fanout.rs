//! The pass spread over many invocations (ARCHITECTURE.md §3, fan-out):
//! a plan step lists and batches the targets, one collect step per batch
//! reads, diffs and commits its targets exactly as a pass does, and a
//! deliver step sends each channel what is pending. The state machine in
//! `infra/statemachine/` runs them.
//!
//! The steps share nothing but the state store. Each records what it did
//! under the run id (`StateStore::record_run_part`), so the deliver step
//! knows every planned target's outcome without Step Functions carrying
//! principal lists; a planned target with no recorded outcome belongs to a
//! batch that failed and is `source_failed`. The deliver step alone takes
//! the pass lease, so two deliveries never send the same pending alerts.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use super::gather::PlannedTarget;
use super::plan::Job;
use super::{count_changes, Gathered, Pass, RunSummary, TargetOutcome, TargetResult};
use crate::domain::{Change, ChangeKind, Notice, Source, TargetKey};
use crate::state::StateError;

/// The plan step's record name.
const PLAN_PART: &str = "plan";

fn batch_part(batch: u32) -> String {
    format!("batch-{batch:05}")
}

/// One collect step's targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub batch: u32,
    pub targets: Vec<PlannedTarget>,
}

/// What the plan step found: the batches, and how many targets in all.
#[derive(Debug, Clone)]
pub struct Plan {
    pub batches: Vec<Batch>,
    pub targets: usize,
}

/// What one collect step returns to Step Functions: counts, never
/// principals, so it stays far below the 256 KiB a state may pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub batch: u32,
    pub targets: usize,
    pub committed: usize,
    pub failed: usize,
    pub changes: usize,
    /// The first few failed targets and why (`MAX_LISTED_FAILURES`).
    pub failures: Vec<BatchFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFailure {
    pub target: String,
    pub error: String,
}

const MAX_LISTED_FAILURES: usize = 10;
const MAX_ERROR_CHARS: usize = 300;

/// A step's record, read back by the deliver step.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RunPart {
    /// The plan step: when the pass started, and every batch's targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    planned: Vec<Vec<String>>,
    #[serde(default)]
    targets: Vec<TargetOutcome>,
    /// Counts per source and change kind of what the step committed.
    #[serde(default)]
    changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// Health alerts the step could not store pending: sent by the deliver
    /// step rather than lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unsaved: Vec<Change>,
    /// The addresses sources gave for the principals of the step's alerts,
    /// so the deliver step can tell their holders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    addresses: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("the stored exemptions could not be read, so the batch was not collected: {0}")]
    Exemptions(#[source] StateError),
    /// Nothing was delivered: the step fails, so the execution does (and
    /// its alarm fires); the alerts stay pending for the next execution.
    #[error("the pass lease could not be taken, so nothing was delivered: {0}")]
    Lease(#[source] StateError),
    #[error("the {part} record of run {run_id} could not be stored: {source}")]
    Record {
        run_id: String,
        part: String,
        #[source]
        source: StateError,
    },
}

impl Pass<'_> {
    /// The plan step: discovery, the retirement of targets no longer
    /// found, and every target in batches of `batch_targets`. Recorded for
    /// the deliver step before it is returned, so a plan that cannot be
    /// recorded fails the pass instead of leaving batches no one counts.
    pub async fn plan_batches(&self, batch_targets: usize) -> Result<Plan, FanoutError> {
        let started_at = Utc::now();
        let plan = self.plan().await;
        let mut g = Gathered::default();
        for scope in plan.scopes {
            self.settle_scope(
                scope,
                false,
                &mut g.found,
                &mut g.failures,
                &mut g.health_events,
                &mut g.targets,
            )
            .await;
        }
        let (_, unsaved) = self.health_notices(&g.health_events, false).await;
        let batches: Vec<Batch> = plan
            .jobs
            .chunks(batch_targets.max(1))
            .enumerate()
            .map(|(i, jobs)| Batch {
                batch: i as u32,
                targets: jobs
                    .iter()
                    .map(|j| PlannedTarget {
                        key: j.key.clone(),
                        label: j.label.clone(),
                    })
                    .collect(),
            })
            .collect();
        let part = RunPart {
            started_at: Some(started_at),
            planned: batches
                .iter()
                .map(|b| b.targets.iter().map(|t| t.key.to_string()).collect())
                .collect(),
            changes: count_changes(&g.found, &g.failures),
            targets: g.targets,
            unsaved,
            ..RunPart::default()
        };
        self.record(PLAN_PART, &part).await?;
        let targets = plan.jobs.len();
        info!(targets, batches = batches.len(), "pass planned");
        Ok(Plan { batches, targets })
    }

    /// The collect step of one batch: each target read, diffed and
    /// committed with its alerts pending, and its source health updated,
    /// exactly as in a single-invocation pass; then the batch's record.
    pub async fn collect_batch(&self, batch: &Batch) -> Result<BatchSummary, FanoutError> {
        let now = Utc::now();
        let exemptions = self
            .store
            .exemptions()
            .await
            .map_err(FanoutError::Exemptions)?;
        let exemptions = self.exemptions.with_stored(&exemptions, now);
        let mut unknown = Vec::new();
        let mut jobs = Vec::new();
        for t in &batch.targets {
            match self.monitors.iter().find(|m| m.source() == t.key.source) {
                Some(m) => jobs.push(Job {
                    monitor: m.as_ref(),
                    label: t.label.clone(),
                    key: t.key.clone(),
                }),
                None => unknown.push(t.key.clone()),
            }
        }
        let mut g = self.gather(jobs, &exemptions, false).await;
        for key in unknown {
            // The plan and this step run the same configuration; a source
            // missing here is a deployment caught between two versions.
            let text = format!(
                "no {} source is configured in this invocation; read again next pass",
                key.source
            );
            error!(target = %key, "{text}");
            g.failures.push(Change::of_target(
                &key,
                ChangeKind::SourceFailed,
                text.clone(),
                now,
            ));
            g.health_events.push((key.clone(), Some(text.clone())));
            g.targets.push(TargetOutcome::failed(&key, text));
        }
        let (raised, unsaved) = self.health_notices(&g.health_events, false).await;
        let mut changes = count_changes(&g.found, &g.failures);
        for c in raised
            .iter()
            .filter(|c| c.kind == ChangeKind::SourceRecovered)
        {
            *changes
                .entry(c.target.source)
                .or_default()
                .entry(c.kind)
                .or_insert(0) += 1;
        }
        let alerted: std::collections::BTreeSet<String> = g
            .found
            .iter()
            .filter_map(|n| match n {
                Notice::Change(c) => c.principal_id().map(|id| id.to_string()),
                Notice::Baseline(_) | Notice::Exemption(_) => None,
            })
            .collect();
        let summary = BatchSummary {
            batch: batch.batch,
            targets: g.targets.len(),
            committed: g
                .targets
                .iter()
                .filter(|t| t.result != TargetResult::Failed && t.result != TargetResult::Conflict)
                .count(),
            failed: g
                .targets
                .iter()
                .filter(|t| t.result == TargetResult::Failed)
                .count(),
            changes: g.targets.iter().map(|t| t.changes).sum(),
            failures: g
                .targets
                .iter()
                .filter(|t| t.result == TargetResult::Failed)
                .take(MAX_LISTED_FAILURES)
                .map(|t| BatchFailure {
                    target: t.target.clone(),
                    error: t
                        .error
                        .as_deref()
                        .unwrap_or_default()
                        .chars()
                        .take(MAX_ERROR_CHARS)
                        .collect(),
                })
                .collect(),
        };
        let part = RunPart {
            changes,
            targets: g.targets,
            warnings: g.warnings,
            unsaved,
            addresses: g
                .addresses
                .into_iter()
                .filter(|(id, _)| alerted.contains(id))
                .collect(),
            ..RunPart::default()
        };
        self.record(&batch_part(batch.batch), &part).await?;
        info!(
            batch = batch.batch,
            targets = summary.targets,
            failed = summary.failed,
            changes = summary.changes,
            "batch collected"
        );
        Ok(summary)
    }

    /// The deliver step: every planned target's outcome gathered from the
    /// step records (those of a failed batch `source_failed`), then the
    /// same finish as a single-invocation pass: exemption lines, delivery
    /// to every channel under the lease, Security Hub.
    pub async fn deliver_run(&self) -> Result<RunSummary, FanoutError> {
        let started = Instant::now();
        let now = Utc::now();
        match self
            .store
            .acquire_lease(self.run_id, self.deadline.lease_until())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                warn!("another pass holds the lease; this delivery stops, its alerts stay pending");
                let mut s = self.empty_summary(false, started, now);
                s.skipped = Some("another pass holds the lease".into());
                return Ok(s);
            }
            Err(e) => {
                error!(error = %e, "the pass lease could not be taken; nothing sent");
                return Err(FanoutError::Lease(e));
            }
        }
        let summary = self.deliver_leased(started, now).await;
        if let Err(e) = self.store.release_lease(self.run_id).await {
            warn!(error = %e, "the pass lease could not be released");
        }
        Ok(summary)
    }

    async fn deliver_leased(&self, started: Instant, now: DateTime<Utc>) -> RunSummary {
        let mut problem: Option<String> = None;
        let parts = match self.store.run_parts(self.run_id).await {
            Ok(p) => p,
            Err(e) => {
                // The pending alerts are in the outbox whatever the records
                // say: they still go out.
                error!(error = %e, "the run's step records could not be read; pending alerts are delivered without them");
                problem = Some(format!(
                    "the step records of run {} could not be read: {e}",
                    self.run_id
                ));
                Vec::new()
            }
        };
        let mut plan: Option<RunPart> = None;
        let mut batches: Vec<RunPart> = Vec::new();
        for (name, body) in parts {
            match serde_json::from_str::<RunPart>(&body) {
                Ok(p) if name == PLAN_PART => plan = Some(p),
                Ok(p) => batches.push(p),
                Err(e) => {
                    error!(part = %name, error = %e, "a step record is malformed; its targets count as failed");
                    problem.get_or_insert(format!(
                        "the {name} record of run {} is malformed: {e}",
                        self.run_id
                    ));
                }
            }
        }
        if plan.is_none() && problem.is_none() {
            error!("no plan is recorded for this run; pending alerts are delivered, no target is counted");
            problem = Some(format!("no plan is recorded for run {}", self.run_id));
        }
        let started_at = plan.as_ref().and_then(|p| p.started_at).unwrap_or(now);

        let mut targets = Vec::new();
        let mut changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>> = BTreeMap::new();
        let mut warnings = Vec::new();
        let mut unsaved = Vec::new();
        let mut addresses = BTreeMap::new();
        let planned: Vec<Vec<String>> =
            plan.as_ref().map(|p| p.planned.clone()).unwrap_or_default();
        for part in plan.into_iter().chain(batches) {
            for (source, kinds) in part.changes {
                for (kind, n) in kinds {
                    *changes.entry(source).or_default().entry(kind).or_insert(0) += n;
                }
            }
            targets.extend(part.targets);
            warnings.extend(part.warnings);
            unsaved.extend(part.unsaved);
            addresses.extend(part.addresses);
        }
        // A planned target no batch reported: its collect invocation failed
        // or timed out. Its state is whatever the last commit left, which
        // may be this pass's; counting it failed can only delay an alert's
        // all-clear, never fake one.
        let reported: std::collections::BTreeSet<String> =
            targets.iter().map(|t| t.target.clone()).collect();
        let mut missing = Vec::new();
        for key in planned.iter().flatten() {
            if reported.contains(key) {
                continue;
            }
            match key.parse::<TargetKey>() {
                Ok(k) => missing.push(k),
                Err(e) => error!(target = %key, error = %e, "a planned target's key is malformed"),
            }
        }
        if !missing.is_empty() {
            let text = "its batch did not complete (the collect invocation failed or timed out); read again next pass".to_owned();
            error!(targets = missing.len(), "{text}");
            let events: Vec<(TargetKey, Option<String>)> = missing
                .iter()
                .map(|k| (k.clone(), Some(text.clone())))
                .collect();
            for key in &missing {
                *changes
                    .entry(key.source)
                    .or_default()
                    .entry(ChangeKind::SourceFailed)
                    .or_insert(0) += 1;
                targets.push(TargetOutcome::failed(key, text.clone()));
            }
            let (_, lost) = self.health_notices(&events, false).await;
            unsaved.extend(lost);
        }

        self.announce_exemptions().await;
        let (mut channels, pending) = self.deliver(&unsaved, &warnings, &addresses).await;
        match self.store.exemptions().await {
            Ok(stored) => {
                let exemptions = self.exemptions.with_stored(&stored, now);
                if let Some(o) = self.sync_securityhub(&exemptions).await {
                    channels.push(o);
                }
            }
            Err(e) if self.securityhub.is_some() => {
                error!(error = %e, "the stored exemptions could not be read; Security Hub is synced next pass");
                problem.get_or_insert(format!("state store unavailable: {e}"));
            }
            Err(_) => {}
        }
        let mut summary = RunSummary {
            run_id: self.run_id.to_owned(),
            ok: true,
            dry_run: false,
            started_at,
            duration_ms: (Utc::now() - started_at)
                .num_milliseconds()
                .max(started.elapsed().as_millis() as i64) as u64,
            targets,
            changes,
            channels,
            would_send: Vec::new(),
            skipped: None,
            error: problem,
            pending,
        };
        summary.ok = !summary.failed() && summary.error.is_none();
        summary
    }

    async fn record(&self, part: &str, body: &RunPart) -> Result<(), FanoutError> {
        let json = serde_json::to_string(body).expect("step records serialize");
        self.store
            .record_run_part(self.run_id, part, &json)
            .await
            .map_err(|source| {
                error!(part, error = %source, "the step record could not be stored");
                FanoutError::Record {
                    run_id: self.run_id.to_owned(),
                    part: part.to_owned(),
                    source,
                }
            })
    }
}
