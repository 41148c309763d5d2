//! Step 5 of a pass: each target's source health updated from how this
//! pass read it (the rule is `domain::health::next_health`), with the
//! alert it raises stored pending beside it.

use chrono::Utc;
use tracing::{error, info};

use super::Pass;
use crate::domain::health::next_health;
use crate::domain::{Change, ChangeKind, Notice, TargetKey};

impl Pass<'_> {
    /// Updates each target's source health and returns the alerts it
    /// raises: `source_failed` once a target has failed `failure_threshold`
    /// passes in a row, `source_recovered` when such a target reads again.
    /// Outside a dry run they are stored pending with the health record;
    /// the second list holds those that could not be stored, to be sent
    /// right away rather than lost.
    pub(super) async fn health_notices(
        &self,
        events: &[(TargetKey, Option<String>)],
        dry_run: bool,
    ) -> (Vec<Change>, Vec<Change>) {
        let stored = match self.store.health().await {
            Ok(h) => Some(h),
            Err(e) => {
                error!(error = %e, "source health could not be read; failing targets are alerted on now");
                None
            }
        };
        let mut raised = Vec::new();
        let mut unsaved = Vec::new();
        for (key, error) in events {
            let now = Utc::now();
            let Some(stored) = &stored else {
                // Without the stored health the threshold cannot be
                // counted: a failure is alerted now rather than never.
                if let Some(text) = error {
                    let change =
                        Change::of_target(key, ChangeKind::SourceFailed, text.clone(), now);
                    raised.push(change.clone());
                    unsaved.push(change);
                }
                continue;
            };
            let before = stored.get(&key.to_string()).cloned().unwrap_or_default();
            let Some(step) =
                next_health(key, &before, error.as_deref(), self.failure_threshold, now)
            else {
                continue;
            };
            let (after, notice) = (step.after, step.alert);
            if let Some(n) = &notice {
                info!(target = %key, kind = %n.kind, failures = after.failures, "source health alert");
            }
            raised.extend(notice.clone());
            if dry_run {
                continue;
            }
            let outbox = notice.clone().map(|n| {
                self.outbox_entry(
                    format!("{}/{}#health", self.run_id, key),
                    now,
                    &[Notice::Change(n)],
                )
            });
            if let Err(e) = self.store.record_health(key, &after, outbox).await {
                error!(target = %key, error = %e, "source health could not be stored");
                unsaved.extend(notice);
            }
        }
        (raised, unsaved)
    }
}
