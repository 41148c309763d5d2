//! Steps 1–4 of a pass over a list of planned targets: each read
//! (`collect.rs`), and each complete one diffed and committed
//! (`apply.rs`), with what the rest of the pass needs from them. The
//! single-invocation pass runs it over every target; a fanned-out pass's
//! collect step over one batch (`fanout.rs`).

use std::collections::BTreeMap;

use chrono::Utc;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use super::deadline::FINISH_MARGIN;
use super::plan::Job;
use super::{collect, source_addresses, Pass, TargetOutcome, TargetResult};
use crate::domain::{Change, ChangeKind, Exemptions, Notice, TargetKey};

/// What reading and committing some targets gave.
#[derive(Debug, Default)]
pub(super) struct Gathered {
    pub targets: Vec<TargetOutcome>,
    /// `source_failed` of each target not read or not committed.
    pub failures: Vec<Change>,
    /// The notices committed (or, in a dry run, found).
    pub found: Vec<Notice>,
    /// "listing is not exact" lines, `TARGET: text`.
    pub warnings: Vec<String>,
    /// Per target, under the key it is configured by: whether it was read
    /// completely (`None`) or why not, for its source health.
    pub health_events: Vec<(TargetKey, Option<String>)>,
    /// Principal id → the address its source gave, from the targets read:
    /// who holds an account, where the people file is silent.
    pub addresses: BTreeMap<String, String>,
}

/// A target as the plan hands it to a collect step: its key and the label
/// its monitor reads it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTarget {
    /// `SOURCE:TARGET`, as in every log and message.
    #[serde(with = "key_text")]
    pub key: TargetKey,
    pub label: String,
}

mod key_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::TargetKey;

    pub fn serialize<S: Serializer>(key: &TargetKey, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(key)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TargetKey, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Commits in flight at once. Each target's commit is its own
/// conditional write to its own partition, so they are independent; one
/// at a time, a thousand targets at ~100 ms a commit outlasted the
/// deadline's reserve, and a baseline batch of 50 spent 22 of its 26 s
/// committing (bench/fanout.py).
const COMMIT_CONCURRENCY: usize = 8;

/// One target's part of [`Gathered`], merged in planned order.
struct Settled {
    target: TargetOutcome,
    failure: Option<Change>,
    /// Absent for a target another pass committed first: its health is
    /// that pass's to record.
    health: Option<(TargetKey, Option<String>)>,
    found: Vec<Notice>,
    addresses: BTreeMap<String, String>,
}

impl Settled {
    /// A target's part, its `source_failed` and health taken from its
    /// result: `configured` is the key its health is kept under, `key` the
    /// one its snapshot names.
    fn new(
        configured: TargetKey,
        key: &TargetKey,
        target: TargetOutcome,
        found: Vec<Notice>,
        addresses: BTreeMap<String, String>,
        now: chrono::DateTime<Utc>,
    ) -> Self {
        let (failure, health) = match target.result {
            TargetResult::Failed => {
                let text = target.error.clone().unwrap_or_default();
                (
                    Some(Change::of_target(
                        key,
                        ChangeKind::SourceFailed,
                        text.clone(),
                        now,
                    )),
                    Some((configured, Some(text))),
                )
            }
            TargetResult::Conflict => (None, None),
            _ => (None, Some((configured, None))),
        };
        Self {
            target,
            failure,
            health,
            found,
            addresses,
        }
    }
}

impl Pass<'_> {
    /// Reads the targets and commits each as soon as it is read, so
    /// commits overlap the reads still running (and a snapshot is dropped
    /// once committed, not held until the last read ends).
    pub(super) async fn gather(
        &self,
        jobs: Vec<Job<'_>>,
        exemptions: &Exemptions,
        dry_run: bool,
    ) -> Gathered {
        let settled: Vec<Settled> = collect::collect_each(self, jobs)
            .map(|collected| self.settle(collected, exemptions, dry_run))
            .buffered(COMMIT_CONCURRENCY)
            .collect()
            .await;
        let mut g = Gathered::default();
        for s in settled {
            for w in &s.target.warnings {
                g.warnings.push(format!("{}: {w}", s.target.target));
            }
            g.failures.extend(s.failure);
            g.health_events.extend(s.health);
            g.found.extend(s.found);
            g.addresses.extend(s.addresses);
            g.targets.push(s.target);
        }
        g
    }

    /// Diffs and commits one read target, or records why it failed.
    async fn settle(
        &self,
        collected: collect::Collected,
        exemptions: &Exemptions,
        dry_run: bool,
    ) -> Settled {
        let now = Utc::now();
        let snapshot = match collected.result {
            Ok(s) => s,
            Err(e) => {
                let target = TargetOutcome {
                    target: collected.key.to_string(),
                    source: collected.key.source,
                    result: TargetResult::Failed,
                    principals: 0,
                    non_compliant: 0,
                    changes: 0,
                    collect_ms: collected.elapsed_ms,
                    error: Some(e.to_string()),
                    warnings: Vec::new(),
                };
                return Settled::new(
                    collected.key.clone(),
                    &collected.key,
                    target,
                    Vec::new(),
                    BTreeMap::new(),
                    now,
                );
            }
        };
        let addresses: BTreeMap<String, String> = source_addresses(&snapshot).into_iter().collect();
        let mut found = Vec::new();
        let mut notes = snapshot.warnings.clone();
        let outcome = if !dry_run && self.deadline.remaining() < FINISH_MARGIN {
            let text = "the pass deadline came before this target's state could be committed; it is read again next pass".to_owned();
            error!(target = %snapshot.key, "{text}");
            Err((TargetResult::Failed, text))
        } else {
            self.apply(
                &snapshot, exemptions, &addresses, dry_run, now, &mut found, &mut notes,
            )
            .await
        };
        let non_compliant = snapshot
            .principals
            .iter()
            .filter(|p| p.status.is_non_compliant())
            .count();
        let (result, changes, error) = match outcome {
            Ok((result, changes)) => (result, changes, None),
            Err((result, text)) => (result, 0, Some(text)),
        };
        for w in &notes {
            warn!(target = %snapshot.key, warning = %w, "listing is not exact");
        }
        let target = TargetOutcome {
            target: snapshot.key.to_string(),
            source: snapshot.key.source,
            result,
            principals: snapshot.principals.len(),
            non_compliant,
            changes,
            collect_ms: collected.elapsed_ms,
            error,
            warnings: notes,
        };
        Settled::new(collected.key, &snapshot.key, target, found, addresses, now)
    }
}
