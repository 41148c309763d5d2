//! Steps 2–4 of a pass for one complete target: diff against the stored
//! state, then commit the new state together with the alerts it implies,
//! conditional on the version read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::{Pass, TargetResult};
use crate::domain::trend::{record_after, TrendRecord};
use crate::domain::{
    diff_with_grace, retire, DiffOutcome, Exemptions, Notice, TargetKey, TargetSnapshot,
};
use crate::state::{OutboxEntry, StateError, TargetCommit};

impl Pass<'_> {
    /// Diffs one complete snapshot and commits it (`addresses`: the
    /// holders' addresses its source gave). Returns the result and the
    /// number of changes, or the result and the reason it failed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply(
        &self,
        snapshot: &TargetSnapshot,
        exemptions: &Exemptions,
        addresses: &BTreeMap<String, String>,
        dry_run: bool,
        now: DateTime<Utc>,
        found: &mut Vec<Notice>,
        notes: &mut Vec<String>,
    ) -> Result<(TargetResult, usize), (TargetResult, String)> {
        let key = &snapshot.key;
        let stored = self.store.load(key).await.map_err(|e| {
            error!(target = %key, error = %e, "state could not be read; target left untouched");
            (TargetResult::Failed, e.to_string())
        })?;
        // Every target lists someone (a GitHub org its owner, an AWS account
        // its root, Snowflake the monitor's own user): nobody at all where
        // principals were stored is a listing that failed, not a mass
        // departure.
        if let Some(prev) = &stored {
            let before = prev.present().count();
            if snapshot.principals.is_empty() && before > 0 {
                let text = format!(
                    "the listing came back empty where {before} principals were stored: read as a failed listing, not as everyone leaving; state left untouched"
                );
                error!(target = %key, "{text}");
                return Err((TargetResult::Failed, text));
            }
        }
        let mut outcome = diff_with_grace(stored.as_ref(), snapshot, exemptions, self.grace, now);
        notes.extend(outcome.warnings.iter().cloned());
        let result = if outcome.baseline {
            TargetResult::Baseline
        } else if outcome.writes_nothing() {
            TargetResult::Unchanged
        } else {
            TargetResult::Changed
        };
        let change_count = outcome.changes().count();
        // The day's trend record rides on the first commit of the UTC day,
        // which a pass without changes then makes for it: one write per
        // target per day, in the same commit as the state it counts.
        let today = now.date_naive();
        let trend = (!dry_run && outcome.settings.trend_day != Some(today)).then(|| {
            outcome.settings.trend_day = Some(today);
            outcome.settings_changed = true;
            record_after(
                key,
                stored.as_ref(),
                &outcome.upserts,
                &outcome.deletes,
                today,
            )
        });
        for c in outcome.changes() {
            info!(
                target = %c.target,
                principal = c.principal.as_deref().unwrap_or(""),
                kind = %c.kind,
                severity = %c.severity,
                "change detected"
            );
        }
        self.commit_outcome(
            key,
            stored.as_ref().map(|s| s.version),
            outcome,
            trend,
            addresses,
            dry_run,
            now,
            found,
        )
        .await
        .map(|()| (result, change_count))
    }

    /// Retires a target its discovery no longer finds: one notice, its
    /// principals dropped, committed like any other change. A target never
    /// stored or already retired needs nothing.
    pub(super) async fn retire_target(
        &self,
        key: &TargetKey,
        scope: &TargetKey,
        dry_run: bool,
        found: &mut Vec<Notice>,
    ) -> Result<usize, (TargetResult, String)> {
        let now = Utc::now();
        let stored = self.store.load(key).await.map_err(|e| {
            error!(target = %key, error = %e, "state could not be read; target not retired this pass");
            (TargetResult::Failed, e.to_string())
        })?;
        let Some(prev) = stored.filter(|p| p.settings.retired_at.is_none()) else {
            return Ok(0);
        };
        let outcome = retire(
            &prev,
            &format!("no longer found in {scope} (left, suspended or closed)"),
            now,
        );
        info!(target = %key, scope = %scope, principals = prev.present().count(), "target retired");
        let none = BTreeMap::new();
        self.commit_outcome(
            key,
            Some(prev.version),
            outcome,
            None,
            &none,
            dry_run,
            now,
            found,
        )
        .await
        .map(|()| 1)
    }

    /// An outbox entry of `notices`, each pending for the channels the
    /// router gives it; a channel given only some of them is told which.
    pub(super) fn outbox_entry(
        &self,
        id: String,
        now: DateTime<Utc>,
        notices: &[Notice],
    ) -> OutboxEntry {
        let mut per_channel: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, notice) in notices.iter().enumerate() {
            for channel in self.router.channels(notice) {
                per_channel.entry(channel).or_default().push(i);
            }
        }
        let channels = per_channel.keys().cloned().collect();
        per_channel.retain(|_, indices| indices.len() < notices.len());
        OutboxEntry {
            id,
            created_at: now,
            channels,
            notices: notices.to_vec(),
            routes: per_channel,
        }
    }

    /// Commits a diff's outcome with its notices pending for their channels,
    /// and for their holders (`tell.rs`; `addresses` are the ones the
    /// source gave) (nothing to write: nothing done; a dry run: notices
    /// only).
    #[allow(clippy::too_many_arguments)]
    async fn commit_outcome(
        &self,
        key: &TargetKey,
        expected_version: Option<u64>,
        outcome: DiffOutcome,
        trend: Option<TrendRecord>,
        addresses: &BTreeMap<String, String>,
        dry_run: bool,
        now: DateTime<Utc>,
        found: &mut Vec<Notice>,
    ) -> Result<(), (TargetResult, String)> {
        if outcome.writes_nothing() || dry_run {
            found.extend(outcome.notices);
            return Ok(());
        }
        let outbox = (!outcome.notices.is_empty()).then(|| {
            let mut entry =
                self.outbox_entry(format!("{}/{}", self.run_id, key), now, &outcome.notices);
            self.route_people(&mut entry, addresses);
            entry
        });
        let commit = TargetCommit {
            key: key.clone(),
            expected_version,
            upserts: outcome.upserts,
            deletes: outcome.deletes,
            settings: outcome.settings,
            outbox,
            trend,
            at: now,
        };
        match self.store.commit(commit).await {
            Ok(version) => {
                info!(target = %key, version, "state committed");
                found.extend(outcome.notices);
                Ok(())
            }
            Err(e @ StateError::Conflict { .. }) => {
                warn!(target = %key, error = %e, "another pass committed first; not alerting for this target");
                Err((TargetResult::Conflict, e.to_string()))
            }
            Err(e) => {
                error!(target = %key, error = %e, "state commit failed; changes will be found again next pass");
                Err((TargetResult::Failed, e.to_string()))
            }
        }
    }
}
