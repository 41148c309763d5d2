//! The whole state as one value: what the state file holds and what the
//! in-memory store keeps. Both stores apply the same rules through these
//! methods, so they cannot drift apart (tests/state_store.rs runs one suite
//! on the file and DynamoDB stores; the pass unit tests run on memory).

use crate::domain::securityhub::Synced;
use crate::domain::trend::TrendRecord;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Health, Lease, OutboxEntry, StateError, TargetCommit};
use crate::domain::exemption::{Exemption, ExemptionNotice};
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub format: u32,
    /// Keyed by `SOURCE:TARGET`.
    pub targets: BTreeMap<String, StoredTarget>,
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Source health of failing targets, keyed by `SOURCE:TARGET`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health: BTreeMap<String, Health>,
    /// Members each discovery scope last found, keyed by `SOURCE:TARGET`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub discovered: BTreeMap<String, Vec<String>>,
    /// Exemptions of `mfa-monitor exempt`, keyed by principal id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exemptions: BTreeMap<String, Exemption>,
    /// Exemption changes not yet told by a pass, keyed by journal key
    /// (`AT#ID`, so that they sort oldest first).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exemption_log: BTreeMap<String, ExemptionNotice>,
    /// Trend records, keyed `SOURCE:TARGET#DAY`; those older than
    /// `trend::KEEP_DAYS` are dropped at each commit (DynamoDB: its TTL).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trend: BTreeMap<String, TrendRecord>,
    /// Security Hub findings accepted, by principal id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub securityhub: BTreeMap<String, Synced>,
    /// The step records of fanned-out passes, by run id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runs: BTreeMap<String, RunParts>,
}

/// One fanned-out pass's step records, and when the last was written (so
/// old runs can be dropped as DynamoDB's TTL drops them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunParts {
    pub at: Option<DateTime<Utc>>,
    pub parts: BTreeMap<String, String>,
}

impl Default for Document {
    fn default() -> Self {
        Self {
            format: FORMAT,
            targets: BTreeMap::new(),
            outbox: Vec::new(),
            lease: None,
            health: BTreeMap::new(),
            discovered: BTreeMap::new(),
            exemptions: BTreeMap::new(),
            exemption_log: BTreeMap::new(),
            trend: BTreeMap::new(),
            securityhub: BTreeMap::new(),
            runs: BTreeMap::new(),
        }
    }
}

impl Document {
    /// Applies a commit if the target's version is still the one read;
    /// returns the new version.
    pub fn commit(&mut self, commit: TargetCommit) -> Result<u64, StateError> {
        let name = commit.key.to_string();
        let current = self.targets.get(&name).map(|t| t.version);
        if current != commit.expected_version {
            return Err(StateError::Conflict {
                key: commit.key.clone(),
                expected: commit.expected_version,
            });
        }
        let target = self.targets.entry(name).or_insert_with(|| StoredTarget {
            key: commit.key.clone(),
            version: 0,
            settings: Default::default(),
            updated_at: commit.at,
            principals: BTreeMap::new(),
        });
        for gone in &commit.deletes {
            target.principals.remove(gone);
        }
        for record in commit.upserts {
            target.principals.insert(record.name.clone(), record);
        }
        target.settings = commit.settings;
        target.updated_at = commit.at;
        target.version += 1;
        let version = target.version;
        if let Some(entry) = commit.outbox {
            self.outbox.push(entry);
        }
        if let Some(record) = commit.trend {
            let oldest = record.day - chrono::Duration::days(crate::domain::trend::KEEP_DAYS);
            self.trend.retain(|_, r| r.day > oldest);
            self.trend.insert(record.key(), record);
        }
        Ok(version)
    }

    /// Applies accepted Security Hub imports; whether anything changed.
    /// Stores a step record of run `run_id`, dropping runs last written
    /// more than `RUN_KEEP_DAYS` before `now`.
    pub fn record_run_part(&mut self, run_id: &str, part: &str, body: &str, now: DateTime<Utc>) {
        let keep_after = now - chrono::Duration::days(super::RUN_KEEP_DAYS);
        self.runs
            .retain(|_, r| r.at.is_some_and(|at| at >= keep_after));
        let run = self.runs.entry(run_id.to_owned()).or_default();
        run.at = Some(now);
        run.parts.insert(part.to_owned(), body.to_owned());
    }

    pub fn run_parts(&self, run_id: &str) -> Vec<(String, String)> {
        self.runs
            .get(run_id)
            .map(|r| r.parts.clone().into_iter().collect())
            .unwrap_or_default()
    }

    pub fn record_securityhub(&mut self, updates: &[(String, Option<Synced>)]) -> bool {
        let mut changed = false;
        for (id, record) in updates {
            changed |= match record {
                Some(r) => self.securityhub.insert(id.clone(), r.clone()).as_ref() != Some(r),
                None => self.securityhub.remove(id).is_some(),
            };
        }
        changed
    }

    /// Entries still pending for at least one channel, oldest first.
    pub fn pending(&self) -> Vec<OutboxEntry> {
        let mut entries: Vec<OutboxEntry> = self
            .outbox
            .iter()
            .filter(|e| !e.channels.is_empty())
            .cloned()
            .collect();
        entries.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        entries
    }

    /// Records `channel`'s acceptance of entry `id`; returns whether
    /// anything changed.
    pub fn acknowledge(&mut self, id: &str, channel: &str) -> bool {
        let before = self.outbox.len();
        let mut dirty = false;
        for entry in self.outbox.iter_mut().filter(|e| e.id == id) {
            dirty |= entry.channels.remove(channel);
        }
        self.outbox.retain(|e| !e.channels.is_empty());
        dirty || self.outbox.len() != before
    }

    /// Takes the lease unless another holder's has not expired at `now`.
    pub fn acquire_lease(
        &mut self,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        match &self.lease {
            Some(l) if l.holder != holder && l.until > now => false,
            _ => {
                self.lease = Some(Lease {
                    holder: holder.to_owned(),
                    until,
                });
                true
            }
        }
    }

    /// Gives the lease back if `holder` still has it; returns whether it did.
    pub fn release_lease(&mut self, holder: &str) -> bool {
        if self.lease.as_ref().is_some_and(|l| l.holder == holder) {
            self.lease = None;
            true
        } else {
            false
        }
    }

    pub fn record_health(&mut self, key: &TargetKey, health: &Health, outbox: Option<OutboxEntry>) {
        if health.is_healthy() {
            self.health.remove(&key.to_string());
        } else {
            self.health.insert(key.to_string(), health.clone());
        }
        if let Some(entry) = outbox.filter(|e| !e.channels.is_empty()) {
            self.outbox.push(entry);
        }
    }

    pub fn put_exemption(&mut self, exemption: &Exemption, notice: &ExemptionNotice) {
        self.exemptions
            .insert(exemption.principal.to_string(), exemption.clone());
        self.exemption_log
            .insert(journal_key(notice), notice.clone());
    }

    pub fn remove_exemption(&mut self, notice: &ExemptionNotice) -> bool {
        let gone = self
            .exemptions
            .remove(&notice.principal.to_string())
            .is_some();
        if gone {
            self.exemption_log
                .insert(journal_key(notice), notice.clone());
        }
        gone
    }

    pub fn announce_exemptions(&mut self, keys: &[String], outbox: Option<OutboxEntry>) {
        for k in keys {
            self.exemption_log.remove(k);
        }
        if let Some(entry) = outbox.filter(|e| !e.channels.is_empty()) {
            self.outbox.push(entry);
        }
    }
}

/// A journal key that sorts by time and cannot collide.
pub fn journal_key(notice: &ExemptionNotice) -> String {
    format!(
        "{}#{}",
        notice
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        uuid::Uuid::new_v4().simple()
    )
}
