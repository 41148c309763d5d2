//! Where the last known state lives: DynamoDB in Lambda, a JSON file on a
//! laptop. Both behave the same (tests/state_store.rs runs one suite on both).

pub mod document;
pub mod dynamodb;
pub mod file;
pub mod memory;

use crate::domain::securityhub::Synced;
use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::exemption::{Exemption, ExemptionNotice};
pub use crate::domain::health::Health;
use crate::domain::snapshot::StoredTarget;
use crate::domain::trend::TrendRecord;
use crate::domain::{Notice, PrincipalRecord, TargetKey, TargetSettings};

/// Exemption changes a pass tells at most (the rest the next pass): with
/// their outbox entry they fit one DynamoDB transaction.
pub const ANNOUNCE_MAX: usize = 90;

/// Alerts recorded in the same commit as the state they describe, pending
/// for each channel until that channel accepted them (ARCHITECTURE.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Unique per pass and target: `RUN_ID/TARGET`.
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Channels that have not yet accepted these notices.
    pub channels: BTreeSet<String>,
    pub notices: Vec<Notice>,
    /// Routing (ARCHITECTURE.md §3): for a channel given only some of
    /// `notices`, their indices. A channel not named here is given all of
    /// them, as every entry was before routing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Vec<usize>>,
}

impl OutboxEntry {
    /// The notices meant for `channel`.
    pub fn notices_for(&self, channel: &str) -> Vec<&Notice> {
        match self.routes.get(channel) {
            None => self.notices.iter().collect(),
            Some(indices) => indices
                .iter()
                .filter_map(|i| self.notices.get(*i))
                .collect(),
        }
    }
}

/// Everything one pass writes for one target, applied all-or-nothing as far
/// as readers can tell, and only if the stored version is still
/// `expected_version` (`None`: the target must not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCommit {
    pub key: TargetKey,
    pub expected_version: Option<u64>,
    pub upserts: Vec<PrincipalRecord>,
    pub deletes: Vec<String>,
    pub settings: TargetSettings,
    pub outbox: Option<OutboxEntry>,
    /// The target's trend record of the day, on the day's first commit.
    pub trend: Option<TrendRecord>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another pass committed this target first; this pass must not alert.
    #[error("state of {key} changed since it was read (version {expected:?}); another pass committed first")]
    Conflict {
        key: TargetKey,
        expected: Option<u64>,
    },
    /// A stored item that cannot be read: nothing is overwritten.
    #[error("stored state {location} is malformed: {reason}")]
    Malformed { location: String, reason: String },
    #[error("{operation} on {location} failed: {message}")]
    Backend {
        operation: &'static str,
        location: String,
        message: String,
        #[source]
        source: Option<crate::error::BoxError>,
    },
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Human-readable location (table name or file path).
    fn location(&self) -> String;

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError>;

    /// Applies the commit if the target's version is still the one read.
    /// Returns the new version.
    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError>;

    /// Every stored target, for `mfa-monitor status` and reports.
    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError>;

    /// Outbox entries still pending for at least one channel, oldest first.
    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError>;

    /// Records that `channel` accepted entry `id`; the entry goes when no
    /// channel is left.
    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError>;

    /// [`Self::acknowledge`] for each entry, one result per entry in order;
    /// a store that can runs them at once.
    async fn acknowledge_each(
        &self,
        entries: &[&OutboxEntry],
        channel: &str,
    ) -> Vec<Result<(), StateError>> {
        let mut results = Vec::with_capacity(entries.len());
        for entry in entries {
            results.push(self.acknowledge(&entry.id, channel).await);
        }
        results
    }

    /// Takes the one-pass-at-a-time lease for `holder` until `until`
    /// (ARCHITECTURE.md §4). `false` when another holder's lease has not
    /// expired: that pass is running, this one must not. A crashed pass's
    /// lease simply expires.
    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError>;

    /// Gives the lease back early; a lease already taken over is left alone.
    async fn release_lease(&self, holder: &str) -> Result<(), StateError>;

    /// Every target's source health, keyed by `SOURCE:TARGET`; healthy
    /// targets have no record.
    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError>;

    /// Stores a target's source health (a healthy one is removed) together
    /// with the alert it raises, if any, pending for its channels. Kept
    /// apart from the target's state, which a failing pass never touches.
    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError>;

    /// The members each discovery scope found when it last completed
    /// (target ids, keyed by the scope's `SOURCE:TARGET`), so that a member
    /// no longer found can be retired and a failed discovery can still
    /// read every member it knew (ARCHITECTURE.md §3, discovery).
    async fn discovered(&self) -> Result<BTreeMap<String, Vec<String>>, StateError>;

    /// Replaces the members a discovery scope found.
    async fn record_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError>;

    /// Every stored exemption (`mfa-monitor exempt`), expired ones too
    /// until removed: the pass needs them to tell an expiry.
    async fn exemptions(&self) -> Result<Vec<Exemption>, StateError>;

    /// Adds an exemption, or replaces the one for the same principal, and
    /// journals `notice` in the same write, so that the next pass tells
    /// every channel (nobody exempts quietly).
    async fn put_exemption(
        &self,
        exemption: &Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError>;

    /// Removes the exemption of `notice.principal` and journals `notice`
    /// in the same write; `false`, and nothing journaled, when there was
    /// none.
    async fn remove_exemption(&self, notice: &ExemptionNotice) -> Result<bool, StateError>;

    /// The journaled exemption changes not yet told, oldest first, each
    /// with its journal key.
    async fn exemption_notices(&self) -> Result<Vec<(String, ExemptionNotice)>, StateError>;

    /// Marks journaled changes as told, in one write with the outbox entry
    /// that tells them (so a crash neither loses nor repeats the line).
    async fn announce_exemptions(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError>;

    /// Reachability, for `mfa-monitor check`.
    /// The Security Hub findings accepted so far, by principal id.
    async fn securityhub_synced(&self) -> Result<BTreeMap<String, Synced>, StateError>;

    /// Records accepted imports: `Some` puts the record, `None` removes it
    /// (an archived finding).
    async fn record_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError>;

    /// The trend records kept (at most `trend::KEEP_DAYS` old), any order.
    async fn trend(&self) -> Result<Vec<TrendRecord>, StateError>;

    /// Stores one step's record of a fanned-out pass (the plan, a batch),
    /// under `part`, replacing one of the same name: what the deliver step
    /// reads to tell what every batch did (ARCHITECTURE.md §3, fan-out).
    /// `body` is JSON the store does not read; records expire after
    /// [`RUN_KEEP_DAYS`].
    async fn record_run_part(&self, run_id: &str, part: &str, body: &str)
        -> Result<(), StateError>;

    /// Every record of run `run_id`, as `(part, body)`, by part name.
    async fn run_parts(&self, run_id: &str) -> Result<Vec<(String, String)>, StateError>;

    async fn check(&self) -> Result<String, StateError>;
}

/// How long a fanned-out pass's step records are kept: long past its
/// deliver step, short enough to stay out of the way.
pub const RUN_KEEP_DAYS: i64 = 7;

/// Who holds the pass lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}
