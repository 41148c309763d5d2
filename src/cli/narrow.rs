//! Applying a [`Selection`] to what a command prints: a dry run's summary,
//! and the stored state `status` and `report` are built from.

use crate::domain::securityhub::Synced;
use crate::domain::trend::TrendRecord;
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::scope::Selection;
use crate::domain::exemption::ExemptionNotice;
use crate::domain::snapshot::StoredTarget;
use crate::domain::{ChangeKind, Notice, TargetKey};
use crate::run::{RunSummary, TargetResult};
use crate::state::{Health, OutboxEntry, StateError, StateStore, TargetCommit};

/// A dry run's summary narrowed to the selected targets. A target that
/// could not be read stays whatever the selection: it is reported under
/// the label it was configured by (`self`), so it cannot be told to be
/// outside the selection, and a failure is never hidden.
pub fn summary(mut s: RunSummary, selection: &Selection) -> RunSummary {
    if selection.is_everything() {
        return s;
    }
    let keeps = |target: &str| {
        target
            .parse::<TargetKey>()
            .map_or(true, |k| selection.keeps(&k))
    };
    s.targets
        .retain(|t| t.result == TargetResult::Failed || keeps(&t.target));
    s.would_send.retain(|n| match n {
        Notice::Change(c) if c.kind == ChangeKind::SourceFailed => true,
        n => selection.keeps(&n.target()),
    });
    // As the pass counts them: each change found, and each failed target.
    let mut changes: BTreeMap<_, BTreeMap<ChangeKind, usize>> = BTreeMap::new();
    for c in s.would_send.iter().filter_map(|n| match n {
        Notice::Change(c)
            if !matches!(
                c.kind,
                ChangeKind::SourceFailed | ChangeKind::SourceRecovered
            ) =>
        {
            Some(c)
        }
        _ => None,
    }) {
        *changes
            .entry(c.target.source)
            .or_default()
            .entry(c.kind)
            .or_insert(0) += 1;
    }
    for t in s
        .targets
        .iter()
        .filter(|t| t.result == TargetResult::Failed)
    {
        *changes
            .entry(t.source)
            .or_default()
            .entry(ChangeKind::SourceFailed)
            .or_insert(0) += 1;
    }
    s.changes = changes;
    s
}

/// The state store as the CLI read it once, narrowed to the selection:
/// `status` and `report` are built from these targets (so what the CLI
/// counts for `--fail-on-findings` is what it prints or sends), and see
/// only the selected targets' pending alerts and source health. Anything
/// else goes to the store itself.
pub struct ReadOnce {
    pub inner: Box<dyn StateStore>,
    pub selection: Selection,
    /// The selected targets.
    pub targets: Vec<StoredTarget>,
}

impl ReadOnce {
    pub async fn read(
        inner: Box<dyn StateStore>,
        selection: Selection,
    ) -> Result<(ReadOnce, Vec<TargetKey>), (Box<dyn StateStore>, StateError)> {
        match inner.targets().await {
            Ok(all) => {
                let keys = all.iter().map(|t| t.key.clone()).collect();
                let targets = all
                    .into_iter()
                    .filter(|t| selection.keeps(&t.key))
                    .collect();
                Ok((
                    ReadOnce {
                        inner,
                        selection,
                        targets,
                    },
                    keys,
                ))
            }
            Err(e) => Err((inner, e)),
        }
    }
}

#[async_trait]
impl StateStore for ReadOnce {
    fn location(&self) -> String {
        self.inner.location()
    }

    async fn load(&self, key: &TargetKey) -> Result<Option<StoredTarget>, StateError> {
        self.inner.load(key).await
    }

    async fn commit(&self, commit: TargetCommit) -> Result<u64, StateError> {
        self.inner.commit(commit).await
    }

    async fn discovered(&self) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        self.inner.discovered().await
    }

    async fn record_run_part(
        &self,
        run_id: &str,
        part: &str,
        body: &str,
    ) -> Result<(), StateError> {
        self.inner.record_run_part(run_id, part, body).await
    }

    async fn run_parts(&self, run_id: &str) -> Result<Vec<(String, String)>, StateError> {
        self.inner.run_parts(run_id).await
    }

    async fn record_discovered(
        &self,
        scope: &TargetKey,
        members: &[String],
    ) -> Result<(), StateError> {
        self.inner.record_discovered(scope, members).await
    }

    async fn exemptions(&self) -> Result<Vec<crate::domain::exemption::Exemption>, StateError> {
        self.inner.exemptions().await
    }

    async fn put_exemption(
        &self,
        exemption: &crate::domain::exemption::Exemption,
        notice: &ExemptionNotice,
    ) -> Result<(), StateError> {
        self.inner.put_exemption(exemption, notice).await
    }

    async fn remove_exemption(&self, notice: &ExemptionNotice) -> Result<bool, StateError> {
        self.inner.remove_exemption(notice).await
    }

    async fn exemption_notices(&self) -> Result<Vec<(String, ExemptionNotice)>, StateError> {
        self.inner.exemption_notices().await
    }

    async fn announce_exemptions(
        &self,
        keys: &[String],
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.inner.announce_exemptions(keys, outbox).await
    }

    async fn targets(&self) -> Result<Vec<StoredTarget>, StateError> {
        Ok(self.targets.clone())
    }

    async fn pending(&self) -> Result<Vec<OutboxEntry>, StateError> {
        let mut entries = self.inner.pending().await?;
        if !self.selection.is_everything() {
            for e in &mut entries {
                e.notices.retain(|n| self.selection.keeps(&n.target()));
            }
            entries.retain(|e| !e.notices.is_empty());
        }
        Ok(entries)
    }

    async fn acknowledge(&self, id: &str, channel: &str) -> Result<(), StateError> {
        self.inner.acknowledge(id, channel).await
    }

    async fn acknowledge_each(
        &self,
        entries: &[&OutboxEntry],
        channel: &str,
    ) -> Vec<Result<(), StateError>> {
        self.inner.acknowledge_each(entries, channel).await
    }

    async fn acquire_lease(&self, holder: &str, until: DateTime<Utc>) -> Result<bool, StateError> {
        self.inner.acquire_lease(holder, until).await
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StateError> {
        self.inner.release_lease(holder).await
    }

    async fn health(&self) -> Result<BTreeMap<String, Health>, StateError> {
        let mut health = self.inner.health().await?;
        if !self.selection.is_everything() {
            health.retain(|k, _| {
                k.parse::<TargetKey>()
                    .is_ok_and(|k| self.selection.keeps(&k))
            });
        }
        Ok(health)
    }

    async fn record_health(
        &self,
        key: &TargetKey,
        health: &Health,
        outbox: Option<OutboxEntry>,
    ) -> Result<(), StateError> {
        self.inner.record_health(key, health, outbox).await
    }

    async fn securityhub_synced(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Synced>, StateError> {
        self.inner.securityhub_synced().await
    }

    async fn record_securityhub(
        &self,
        updates: &[(String, Option<Synced>)],
    ) -> Result<(), StateError> {
        self.inner.record_securityhub(updates).await
    }

    /// Only the selected targets' records: the trend of what is reported.
    async fn trend(&self) -> Result<Vec<TrendRecord>, StateError> {
        let mut records = self.inner.trend().await?;
        records.retain(|r| {
            r.target
                .parse::<TargetKey>()
                .is_ok_and(|key| self.selection.keeps(&key))
        });
        Ok(records)
    }

    async fn check(&self) -> Result<String, StateError> {
        self.inner.check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::fixtures::sample;
    use crate::domain::{Change, Source};
    use crate::run::TargetOutcome;
    use crate::state::memory::MemoryStore;

    fn outcome(target: &str, result: TargetResult) -> TargetOutcome {
        let key: TargetKey = target.parse().unwrap();
        TargetOutcome {
            target: target.into(),
            source: key.source,
            result,
            principals: 1,
            non_compliant: 0,
            changes: 0,
            collect_ms: 1,
            error: None,
            warnings: Vec::new(),
        }
    }

    fn change(target: &str, kind: ChangeKind) -> Notice {
        Notice::Change(Change::of_target(
            &target.parse().unwrap(),
            kind,
            String::new(),
            Utc::now(),
        ))
    }

    fn dry_run() -> RunSummary {
        RunSummary {
            run_id: "r".into(),
            ok: false,
            dry_run: true,
            started_at: Utc::now(),
            duration_ms: 1,
            targets: vec![
                outcome("github:acme", TargetResult::Changed),
                outcome("github:beta", TargetResult::Changed),
                outcome("aws:self", TargetResult::Failed),
            ],
            changes: BTreeMap::new(),
            channels: Vec::new(),
            would_send: vec![
                change("github:acme", ChangeKind::RequirementDisabled),
                change("github:beta", ChangeKind::RequirementDisabled),
                change("aws:self", ChangeKind::SourceFailed),
            ],
            skipped: None,
            error: None,
            pending: None,
        }
    }

    #[test]
    fn a_dry_run_keeps_the_selected_targets_and_every_failure() {
        let selection = Selection::new(vec![], vec!["acme".parse().unwrap()]);
        let s = summary(dry_run(), &selection);
        let targets: Vec<&str> = s.targets.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(targets, ["github:acme", "aws:self"]);
        let notices: Vec<String> = s
            .would_send
            .iter()
            .map(|n| n.target().to_string())
            .collect();
        assert_eq!(notices, ["github:acme", "aws:self"]);
        assert_eq!(
            s.changes[&Source::Github][&ChangeKind::RequirementDisabled],
            1
        );
        assert_eq!(s.changes[&Source::Aws][&ChangeKind::SourceFailed], 1);
    }

    #[test]
    fn no_selection_leaves_a_dry_run_as_the_pass_made_it() {
        let s = summary(dry_run(), &Selection::default());
        assert_eq!(s.targets.len(), 3);
        assert!(s.changes.is_empty(), "untouched");
    }

    #[tokio::test]
    async fn the_state_read_once_holds_only_the_selected_targets() {
        let store = MemoryStore::new();
        for t in sample() {
            let commit = TargetCommit {
                key: t.key.clone(),
                expected_version: None,
                upserts: t.principals.into_values().collect(),
                deletes: Vec::new(),
                settings: t.settings,
                outbox: None,
                trend: None,
                at: t.updated_at,
            };
            store.commit(commit).await.unwrap();
        }
        let selection = Selection::new(vec![Source::Github], vec![]);
        let (narrowed, keys) = ReadOnce::read(Box::new(store), selection)
            .await
            .ok()
            .unwrap();
        assert_eq!(keys.len(), 2);
        let kept: Vec<String> = narrowed
            .targets()
            .await
            .unwrap()
            .iter()
            .map(|t| t.key.to_string())
            .collect();
        assert_eq!(kept, ["github:acme"]);
    }
}
