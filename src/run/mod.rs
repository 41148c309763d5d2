//! One pass (ARCHITECTURE.md §3): collect every target concurrently
//! (`collect.rs`), diff each complete one against its stored state and
//! commit the new state together with the alerts it implies, pending per
//! channel (`apply.rs`), update each target's source health
//! (`health.rs`), then deliver pending alerts to each channel and
//! acknowledge what each channel accepted (`deliver.rs`).
//!
//! Committing before notifying is what makes "no alert lost, none twice"
//! hold: a pass that crashes after its commit leaves the alerts pending for
//! the next pass, and a pass that loses the commit race sends nothing.

mod apply;
mod collect;
mod deadline;
mod deliver;
mod exemptions;
mod fanout;
#[cfg(test)]
mod fanout_tests;
mod gather;
#[cfg(test)]
mod gather_tests;
mod health;
mod plan;
#[cfg(test)]
mod plan_tests;
mod securityhub;
mod summary;
mod tell;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{error, warn};

pub use deadline::Deadline;
pub use fanout::{Batch, BatchFailure, BatchSummary, FanoutError, Plan as FanoutPlan};
use gather::Gathered;
pub use gather::PlannedTarget;
pub use summary::{
    ChannelOutcome, ChannelResult, PendingAlerts, RunSummary, TargetOutcome, TargetResult,
};

use crate::domain::route::Router;
use crate::domain::{Change, ChangeKind, Exemptions, Notice, Source, TargetKey};
use crate::monitors::Monitor;
use crate::notifiers::Notifier;
use crate::state::StateStore;

pub struct Pass<'a> {
    pub monitors: &'a [Box<dyn Monitor>],
    pub store: &'a dyn StateStore,
    pub notifiers: &'a [Box<dyn Notifier>],
    /// Which of `notifiers` each notice is pending for (the routing file,
    /// or every default channel).
    pub router: &'a Router,
    /// Principal id → the address of the person holding it
    /// (`MFA_PEOPLE_FILE`): named beside the account in every message, and
    /// preferred to the address the source gives.
    pub people: &'a BTreeMap<String, String>,
    /// The permanent exemptions (`MFA_EXEMPT`); the store's are added to
    /// them at the start of each pass.
    pub exemptions: &'a Exemptions,
    /// How long a new account without MFA may enrol (`MFA_GRACE_DAYS`).
    pub grace: chrono::Duration,
    pub target_timeout: Duration,
    /// Targets read at once across all monitors.
    pub target_concurrency: usize,
    pub run_id: &'a str,
    pub deadline: Deadline,
    /// Failed passes in a row before a target's `source_failed` alert.
    pub failure_threshold: u32,
    /// Pending alerts older than this are marked delayed.
    pub delayed_after: Duration,
    /// Where findings are kept in step with the stored state, if anywhere.
    pub securityhub: Option<&'a crate::securityhub::SecurityHub>,
    /// How account holders are told of their own account
    /// (`MFA_NOTIFY_PEOPLE=true`; `None`: they are not, `tell.rs`).
    pub teller: Option<&'a crate::notifiers::teller::PeopleTeller>,
}

impl Pass<'_> {
    /// One pass under the store's lease (a dry run writes nothing and takes
    /// none): a pass that finds the lease held logs and stops cleanly.
    pub async fn run(&self, dry_run: bool) -> RunSummary {
        let started = Instant::now();
        let started_at = Utc::now();
        if dry_run {
            return self.run_leased(true, started, started_at).await;
        }
        match self
            .store
            .acquire_lease(self.run_id, self.deadline.lease_until())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                warn!(
                    "another pass holds the lease; this one stops without collecting or alerting"
                );
                let mut s = self.empty_summary(false, started, started_at);
                s.skipped = Some("another pass holds the lease".into());
                return s;
            }
            Err(e) => {
                error!(error = %e, "the pass lease could not be taken; nothing collected or sent");
                let mut s = self.empty_summary(false, started, started_at);
                s.error = Some(format!("state store unavailable: {e}"));
                s.ok = false;
                return s;
            }
        }
        let summary = self.run_leased(false, started, started_at).await;
        if let Err(e) = self.store.release_lease(self.run_id).await {
            // It expires on its own; the next pass waits at most until then.
            warn!(error = %e, "the pass lease could not be released");
        }
        summary
    }

    fn empty_summary(
        &self,
        dry_run: bool,
        started: Instant,
        started_at: DateTime<Utc>,
    ) -> RunSummary {
        RunSummary {
            run_id: self.run_id.to_owned(),
            ok: true,
            dry_run,
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            targets: Vec::new(),
            changes: BTreeMap::new(),
            channels: Vec::new(),
            would_send: Vec::new(),
            skipped: None,
            error: None,
            pending: None,
        }
    }

    async fn run_leased(
        &self,
        dry_run: bool,
        started: Instant,
        started_at: DateTime<Utc>,
    ) -> RunSummary {
        // Without the stored exemptions every exempt account would alert:
        // a storm, not a finding. The pass stops and says why instead.
        let exemptions = match self.store.exemptions().await {
            Ok(stored) => self.exemptions.with_stored(&stored, started_at),
            Err(e) => {
                error!(error = %e, "the stored exemptions could not be read; nothing collected or sent");
                let mut s = self.empty_summary(dry_run, started, started_at);
                s.error = Some(format!("state store unavailable: {e}"));
                s.ok = false;
                return s;
            }
        };
        let plan = self.plan().await;
        let scopes = plan.scopes;
        let Gathered {
            mut targets,
            mut failures,
            mut found,
            warnings,
            mut health_events,
            addresses,
        } = self.gather(plan.jobs, &exemptions, dry_run).await;

        for scope in scopes {
            self.settle_scope(
                scope,
                dry_run,
                &mut found,
                &mut failures,
                &mut health_events,
                &mut targets,
            )
            .await;
        }

        // Every failed read counts in the summary; the channels hear of a
        // target only once it has failed `failure_threshold` passes in a row.
        let mut changes = count_changes(&found, &failures);

        let lost_race = targets.iter().any(|t| t.result == TargetResult::Conflict);
        let (channel_outcomes, would_send, pending) = if dry_run {
            let mut would = found;
            let (raised, _) = self.health_notices(&health_events, true).await;
            would.extend(raised.into_iter().map(Notice::Change));
            would.extend(self.exemption_notices().await);
            (Vec::new(), would, None)
        } else if lost_race {
            // The pass that won is delivering the same pending alerts right
            // now; delivering them here too would send them twice. The
            // health of this pass's targets still counts (a failure here is
            // one the winner may not have seen), so the threshold does not
            // slip; an alert it raises stays pending for the next delivery.
            warn!("another pass committed first; leaving delivery to it");
            self.health_notices(&health_events, false).await;
            (Vec::new(), Vec::new(), None)
        } else {
            let (raised, unsaved) = self.health_notices(&health_events, false).await;
            for c in &raised {
                if c.kind == ChangeKind::SourceRecovered {
                    *changes
                        .entry(c.target.source)
                        .or_default()
                        .entry(c.kind)
                        .or_insert(0) += 1;
                }
            }
            self.announce_exemptions().await;
            let (mut outcomes, pending) = self.deliver(&unsaved, &warnings, &addresses).await;
            // After the alerts: Security Hub follows the committed state.
            if let Some(o) = self.sync_securityhub(&exemptions).await {
                outcomes.push(o);
            }
            (outcomes, Vec::new(), pending)
        };

        let mut summary = RunSummary {
            run_id: self.run_id.to_owned(),
            ok: true,
            dry_run,
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            targets,
            changes,
            channels: channel_outcomes,
            would_send,
            skipped: None,
            error: None,
            pending,
        };
        summary.ok = !summary.failed();
        summary
    }

    /// A discovery scope after its targets were read: a failed one counts
    /// against its health like a target; a complete one retires the
    /// members it no longer finds, and its members are written only once
    /// every retirement is committed (a failed one is retried next pass).
    #[allow(clippy::too_many_arguments)]
    async fn settle_scope(
        &self,
        scope: plan::Scope,
        dry_run: bool,
        found: &mut Vec<Notice>,
        failures: &mut Vec<Change>,
        health_events: &mut Vec<(TargetKey, Option<String>)>,
        targets: &mut Vec<TargetOutcome>,
    ) {
        let now = Utc::now();
        let members = match scope.found {
            Err(text) => {
                failures.push(Change::of_target(
                    &scope.key,
                    ChangeKind::SourceFailed,
                    text.clone(),
                    now,
                ));
                health_events.push((scope.key.clone(), Some(text.clone())));
                targets.push(TargetOutcome::failed(&scope.key, text));
                return;
            }
            Ok(members) => members,
        };
        health_events.push((scope.key.clone(), None));
        let mut all_retired = true;
        for key in &scope.gone {
            let outcome = self.retire_target(key, &scope.key, dry_run, found).await;
            match outcome {
                Ok(0) => {}
                Ok(changes) => targets.push(TargetOutcome {
                    result: TargetResult::Changed,
                    changes,
                    ..TargetOutcome::failed(key, String::new())
                }),
                Err((result, text)) => {
                    all_retired = false;
                    if result == TargetResult::Failed {
                        failures.push(Change::of_target(
                            key,
                            ChangeKind::SourceFailed,
                            text.clone(),
                            now,
                        ));
                    }
                    targets.push(TargetOutcome {
                        result,
                        ..TargetOutcome::failed(key, text)
                    });
                }
            }
        }
        if dry_run || !scope.moved || !all_retired {
            return;
        }
        if let Err(e) = self.store.record_discovered(&scope.key, &members).await {
            // The next pass compares with the older members again: what
            // joined is still read, what left is retired then.
            error!(scope = %scope.key, error = %e, "the discovered members could not be stored");
        }
    }
}

/// The changes found and the failed reads, counted per source and kind.
fn count_changes(
    found: &[Notice],
    failures: &[Change],
) -> BTreeMap<Source, BTreeMap<ChangeKind, usize>> {
    let mut changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>> = BTreeMap::new();
    for c in found
        .iter()
        .filter_map(|n| match n {
            Notice::Change(c) => Some(c),
            Notice::Baseline(_) | Notice::Exemption(_) => None,
        })
        .chain(failures)
    {
        *changes
            .entry(c.target.source)
            .or_default()
            .entry(c.kind)
            .or_insert(0) += 1;
    }
    changes
}

/// The addresses `snapshot`'s source gave its principals, by principal id.
fn source_addresses(snapshot: &crate::domain::TargetSnapshot) -> Vec<(String, String)> {
    snapshot
        .principals
        .iter()
        .filter_map(|o| {
            let email = o.attributes.email.clone()?;
            Some((snapshot.key.principal(o.name.clone()).to_string(), email))
        })
        .collect()
}
