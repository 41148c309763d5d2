//! A state store held in memory, for unit tests of the pass: the same
//! rules as the state file (`document.rs`), no disk, and faults that a
//! test can inject into any operation (a backend error, or another pass
//! committing first) to drive each branch of the pass without an emulator.

use crate::domain::securityhub::Synced;
use crate::domain::trend::TrendRecord;
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::document::Document;
use super::{Health, OutboxEntry, StateError, StateStore, TargetCommit};
use crate::domain::exemption::{Exemption, ExemptionNotice};
use crate::domain::snapshot::StoredTarget;
use crate::domain::TargetKey;

/// A store operation a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Load,
    Commit,
    Pending,
    Acknowledge,
    AcquireLease,
    Health,
    RecordHealth,
    Discovered,
    RecordDiscovered,
    Exemptions,
    PutExemption,
    RemoveExemption,
    ExemptionNotices,
    AnnounceExemptions,
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The backend fails (throttled, unreachable).
    Backend,
    /// Another pass committed the target first (commits only).
    Conflict,
}

#[derive(Default)]
struct Inner {
    doc: Document,
    /// Faults still to fire, per operation, in order.
    faults: BTreeMap<Operation, Vec<Fault>>,
    calls: BTreeMap<Operation, usize>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// How long each commit takes, as a remote store's round trip would.
    commit_delay: Mutex<Option<std::time::Duration>>,
    commits_in_flight: std::sync::atomic::AtomicUsize,
    most_commits_in_flight: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `times` calls of `operation` fail with `fault`.
    pub fn fail_next(&self, operation: Operation, fault: Fault, times: usize) {
        let mut inner = self.lock();
        let queue = inner.faults.entry(operation).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Each commit from now on waits `delay` before it applies.
    pub fn delay_commits(&self, delay: std::time::Duration) {
        *self.commit_delay.lock().unwrap_or_else(|e| e.into_inner()) = Some(delay);
    }

    /// The most commits that were under way at one time.
    pub fn most_commits_in_flight(&self) -> usize {
        self.most_commits_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How often `operation` was called: a test states what it expects.
    pub fn calls(&self, operation: Operation) -> usize {
        self.lock().calls.get(&operation).copied().unwrap_or(0)
    }

    /// A copy of everything stored, for assertions.
    pub fn snapshot(&self) -> Document {
        self.lock().doc.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call and fires the next fault queued for it, if any.
    fn enter(
        &self,
        operation: Operation,
        key: Option<&TargetKey>,
    ) -> Result<std::sync::MutexGuard<'_, Inner>, StateError> {
        let mut inner = self.lock();
        *inner.calls.entry(operation).or_insert(0) += 1;
        let fault = inner.faults.get_mut(&operation).and_then(|q| {
            if q.is_empty() {
                None
            } else {
                Some(q.remove(0))
            }
        });
        match fault {
            None => Ok(inner),
            Some(Fault::Conflict) => Err(StateError::Conflict {
                key: key
                    .cloned()
                    .unwrap_or_else(|| TargetKey::new(crate::domain::Source::Aws, "memory")),
                expected: None,
            }),
            Some(Fault::Backend) => Err(StateError::Backend {
                operation: "memory",
                location: "memory".into(),
                message: format!("injected fault in {operation:?}"),
                source: None,
            }),
        }
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
    }

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError> {
        let inner = self.enter(Operation::Load, Some(key))?;
        Ok(inner.doc.targets.get(&key.to_string()).cloned())
    }

    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError> {
        use std::sync::atomic::Ordering::SeqCst;
        let delay = *self.commit_delay.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(delay) = delay {
            let now = self.commits_in_flight.fetch_add(1, SeqCst) + 1;
            self.most_commits_in_flight.fetch_max(now, SeqCst);
            tokio::time::sleep(delay).await;
            self.commits_in_flight.fetch_sub(1, SeqCst);
        }
        let mut inner = self.enter(Operation::Commit, Some(&commit.key))?;
        inner.doc.commit(commit)
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        Ok(self.lock().doc.targets.values().cloned().collect())
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        Ok(self.enter(Operation::Pending, None)?.doc.pending())
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        self.enter(Operation::Acknowledge, None)?
            .doc
            .acknowledge(id, channel);
        Ok(())
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        let mut inner = self.enter(Operation::AcquireLease, None)?;
        Ok(inner.doc.acquire_lease(holder, until, Utc::now()))
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        self.lock().doc.release_lease(holder);
        Ok(())
    }

    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        Ok(self.enter(Operation::Health, None)?.doc.health.clone())
    }

    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.enter(Operation::RecordHealth, Some(key))?
            .doc
            .record_health(key, health, outbox);
        Ok(())
    }

    async fn discovered(&self) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        Ok(self
            .enter(Operation::Discovered, None)?
            .doc
            .discovered
            .clone())
    }

    async fn record_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        self.enter(Operation::RecordDiscovered, Some(scope))?
            .doc
            .discovered
            .insert(scope.to_string(), members.to_vec());
        Ok(())
    }

    async fn exemptions(&self) -> Result<Vec<Exemption>, StateError> {
        Ok(self
            .enter(Operation::Exemptions, None)?
            .doc
            .exemptions
            .values()
            .cloned()
            .collect())
    }

    async fn put_exemption(
        &self,
        exemption: &Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError> {
        self.enter(Operation::PutExemption, None)?
            .doc
            .put_exemption(exemption, notice);
        Ok(())
    }

    async fn remove_exemption(&self, notice: &ExemptionNotice) -> Result<bool, StateError> {
        Ok(self
            .enter(Operation::RemoveExemption, None)?
            .doc
            .remove_exemption(notice))
    }

    async fn exemption_notices(&self) -> Result<Vec<(String, ExemptionNotice)>, StateError> {
        Ok(self
            .enter(Operation::ExemptionNotices, None)?
            .doc
            .exemption_log
            .iter()
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect())
    }

    async fn announce_exemptions(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.enter(Operation::AnnounceExemptions, None)?
            .doc
            .announce_exemptions(keys, outbox);
        Ok(())
    }

    async fn securityhub_synced(&self) -> Result<BTreeMap<String, Synced>, StateError> {
        Ok(self.lock().doc.securityhub.clone())
    }

    async fn record_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError> {
        self.lock().doc.record_securityhub(updates);
        Ok(())
    }

    async fn trend(&self) -> Result<Vec<TrendRecord>, StateError> {
        Ok(self.lock().doc.trend.values().cloned().collect())
    }

    async fn record_run_part(
        &self,
        run_id: &str,
        part: &str,
        body: &str,
    ) -> Result<(), StateError> {
        self.lock()
            .doc
            .record_run_part(run_id, part, body, chrono::Utc::now());
        Ok(())
    }

    async fn run_parts(&self, run_id: &str) -> Result<Vec<(String, String)>, StateError> {
        Ok(self.lock().doc.run_parts(run_id))
    }

    async fn check(&self) -> Result<String, StateError> {
        Ok("memory".into())
    }
}
