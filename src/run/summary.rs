//! What a pass reports: per target, per channel and in all. The CLI
//! prints it, the Lambda returns it, `metrics.rs` turns it into the run
//! summary log record and EMF metrics.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ChangeKind, Notice, Source, TargetKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetResult {
    /// Read completely; nothing changed, nothing written.
    Unchanged,
    /// Read completely; changes committed (or, in a dry run, found).
    Changed,
    /// First pass over the target: baseline recorded.
    Baseline,
    /// Another pass committed first; this one stays silent for the target.
    Conflict,
    /// Not read completely, or its state could not be read or written:
    /// stored state untouched, `source_failed` sent.
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetOutcome {
    pub target: String,
    pub source: Source,
    pub result: TargetResult,
    pub principals: usize,
    pub non_compliant: usize,
    pub changes: usize,
    /// How long reading the source took: which source slows a pass.
    pub collect_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the operator must fix for the listing to be exact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TargetOutcome {
    /// A target that could not be read or committed, with why.
    pub fn failed(key: &TargetKey, error: String) -> Self {
        Self {
            target: key.to_string(),
            source: key.source,
            result: TargetResult::Failed,
            principals: 0,
            non_compliant: 0,
            changes: 0,
            collect_ms: 0,
            error: (!error.is_empty()).then_some(error),
            warnings: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelResult {
    Sent,
    Failed,
    NothingToSend,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelOutcome {
    pub channel: String,
    pub result: ChannelResult,
    pub notices: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    /// False when a source or channel failed.
    pub ok: bool,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub targets: Vec<TargetOutcome>,
    /// Counts per source and change kind (contract names).
    pub changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>>,
    pub channels: Vec<ChannelOutcome>,
    /// In a dry run: what would have been sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_send: Vec<Notice>,
    /// Set when another pass held the lease and this one did nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Set when the pass could not run at all (the state store is down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What is still undelivered after this pass's delivery, for the
    /// `PendingAlerts` metrics; `None` when the pass delivered nothing
    /// (dry run, lost race, lease held).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingAlerts>,
}

/// Alerts still pending for a configured channel once the pass delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PendingAlerts {
    pub alerts: usize,
    /// Age of the oldest, in whole minutes; 0 when none.
    pub oldest_minutes: u64,
    /// Alerts kept for a channel that is no longer configured (dropped
    /// after `ORPHAN_DAYS`).
    pub orphaned: usize,
}

impl RunSummary {
    /// A source or channel failed: exit code 1, Lambda error.
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .targets
                .iter()
                .any(|t| t.result == TargetResult::Failed)
            || self
                .channels
                .iter()
                .any(|c| c.result == ChannelResult::Failed)
    }

    pub fn failure_text(&self) -> String {
        let mut parts: Vec<String> = self.error.iter().cloned().collect();
        parts.extend(
            self.targets
                .iter()
                .filter(|t| t.result == TargetResult::Failed)
                .map(|t| format!("{}: {}", t.target, t.error.as_deref().unwrap_or("failed"))),
        );
        parts.extend(
            self.channels
                .iter()
                .filter(|c| c.result == ChannelResult::Failed)
                .map(|c| {
                    format!(
                        "channel {}: {}",
                        c.channel,
                        c.error.as_deref().unwrap_or("failed")
                    )
                }),
        );
        parts.join("; ")
    }
}
