//! One pass (DESIGN.md §3): collect every target concurrently, diff each
//! complete one against its stored state, commit the new state together
//! with the alerts it implies (pending per channel), then deliver pending
//! alerts to each channel and acknowledge what each channel accepted.
//!
//! Committing before notifying is what makes "no alert lost, none twice"
//! hold: a pass that crashes after its commit leaves the alerts pending for
//! the next pass, and a pass that loses the commit race sends nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::domain::{
    diff, Change, ChangeKind, Exemptions, Notice, Source, TargetKey, TargetSnapshot,
};
use crate::monitors::{Monitor, MonitorError};
use crate::notifiers::{digest, Notifier};
use crate::state::{Health, OutboxEntry, StateError, StateStore, TargetCommit};

/// Time a commit or a delivery needs at least; with less left the pass
/// does not start one (it would be cut off by the Lambda mid-way).
const FINISH_MARGIN: Duration = Duration::from_secs(3);
/// How long past its deadline a pass's lease still keeps others out.
const LEASE_SLACK: Duration = Duration::from_secs(10);

/// When a pass must be done: the Lambda invocation's deadline, or the CLI's
/// budget.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    wall: DateTime<Utc>,
}

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            wall: Utc::now() + chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// A Lambda deadline, in milliseconds since the epoch.
    pub fn at_epoch_millis(ms: i64) -> Self {
        let wall = DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now);
        let left = (wall - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Self {
            at: Instant::now() + left,
            wall,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// When the pass lease lapses: shortly after the deadline, so a crashed
    /// or timed-out pass never blocks the next one for long.
    pub fn lease_until(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(LEASE_SLACK).expect("small")
    }

    /// Time kept back from collection for committing and delivering:
    /// a fifth of what is left, between 5 s and a minute.
    fn reserve(&self) -> Duration {
        (self.remaining() / 5).clamp(Duration::from_secs(5), Duration::from_secs(60))
    }
}

pub struct Pass<'a> {
    pub monitors: &'a [Box<dyn Monitor>],
    pub store: &'a dyn StateStore,
    pub notifiers: &'a [Box<dyn Notifier>],
    pub exemptions: &'a Exemptions,
    pub target_timeout: Duration,
    pub run_id: &'a str,
    pub deadline: Deadline,
    /// Failed passes in a row before a target's `source_failed` alert.
    pub failure_threshold: u32,
    /// Pending alerts older than this are marked delayed.
    pub delayed_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct TargetOutcome {
    pub target: String,
    pub source: Source,
    pub result: TargetResult,
    pub principals: usize,
    pub non_compliant: usize,
    pub changes: usize,
    /// How long reading the source took: which source slows a pass.
    pub collect_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the operator must fix for the listing to be exact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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

struct Collected {
    key: TargetKey,
    result: Result<TargetSnapshot, MonitorError>,
    elapsed_ms: u64,
}

async fn collect_all(pass: &Pass<'_>) -> Vec<Collected> {
    // Every target starts now, so the bound is the same for all: its own
    // timeout, or what the deadline leaves after the commit reserve.
    let left = pass
        .deadline
        .remaining()
        .saturating_sub(pass.deadline.reserve());
    let (bound, cut_short) = if left < pass.target_timeout {
        (left, true)
    } else {
        (pass.target_timeout, false)
    };
    let jobs = pass.monitors.iter().flat_map(|m| {
        m.targets().into_iter().map(move |label| async move {
            let key = m.provisional_key(&label);
            let started = Instant::now();
            let result = match tokio::time::timeout(bound, m.collect(&label)).await {
                Ok(r) => r,
                Err(_) if cut_short => Err(MonitorError::Deadline(bound)),
                Err(_) => Err(MonitorError::Timeout(bound)),
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(s) => info!(target = %s.key, principals = s.principals.len(), elapsed_ms, "target collected"),
                Err(e) => error!(target = %key, error = %e, elapsed_ms, "target failed"),
            }
            Collected { key, result, elapsed_ms }
        })
    });
    join_all(jobs).await
}

fn target_change(key: &TargetKey, kind: ChangeKind, detail: String, now: DateTime<Utc>) -> Change {
    Change {
        target: key.clone(),
        principal: None,
        kind,
        severity: crate::domain::policy::severity(kind, false),
        previous: None,
        current: None,
        admin: false,
        detail: Some(detail),
        detected_at: now,
    }
}

fn failure(key: &TargetKey, detail: String, now: DateTime<Utc>) -> Change {
    target_change(key, ChangeKind::SourceFailed, detail, now)
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
        }
    }

    async fn run_leased(
        &self,
        dry_run: bool,
        started: Instant,
        started_at: DateTime<Utc>,
    ) -> RunSummary {
        let channels: Vec<&'static str> = self.notifiers.iter().map(|n| n.channel()).collect();

        let mut targets = Vec::new();
        let mut failures: Vec<Change> = Vec::new();
        let mut found: Vec<Notice> = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        // Per target, under the key it is configured by: whether it was read
        // completely (`None`) or why not, for its source health.
        let mut health_events: Vec<(TargetKey, Option<String>)> = Vec::new();

        for collected in collect_all(self).await {
            let now = Utc::now();
            let snapshot = match collected.result {
                Ok(s) => s,
                Err(e) => {
                    let text = e.to_string();
                    failures.push(failure(&collected.key, text.clone(), now));
                    health_events.push((collected.key.clone(), Some(text.clone())));
                    targets.push(TargetOutcome {
                        target: collected.key.to_string(),
                        source: collected.key.source,
                        result: TargetResult::Failed,
                        principals: 0,
                        non_compliant: 0,
                        changes: 0,
                        collect_ms: collected.elapsed_ms,
                        error: Some(text),
                        warnings: Vec::new(),
                    });
                    continue;
                }
            };
            let outcome = if !dry_run && self.deadline.remaining() < FINISH_MARGIN {
                let text = "the pass deadline came before this target's state could be committed; it is read again next pass".to_owned();
                error!(target = %snapshot.key, "{text}");
                Err((TargetResult::Failed, text))
            } else {
                self.apply(&snapshot, dry_run, &channels, now, &mut found)
                    .await
            };
            match &outcome {
                Err((TargetResult::Failed, text)) => {
                    failures.push(failure(&snapshot.key, text.clone(), now));
                    health_events.push((collected.key.clone(), Some(text.clone())));
                }
                Err(_) => {}
                Ok(_) => health_events.push((collected.key.clone(), None)),
            }
            let non_compliant = snapshot
                .principals
                .iter()
                .filter(|p| p.status.is_non_compliant())
                .count();
            let (result, changes, error) = match outcome {
                Ok((result, changes)) => (result, changes, None),
                Err((result, text)) => (result, 0, Some(text)),
            };
            for w in &snapshot.warnings {
                warn!(target = %snapshot.key, warning = %w, "listing is not exact");
                warnings.push(format!("{}: {w}", snapshot.key));
            }
            targets.push(TargetOutcome {
                target: snapshot.key.to_string(),
                source: snapshot.key.source,
                result,
                principals: snapshot.principals.len(),
                non_compliant,
                changes,
                collect_ms: collected.elapsed_ms,
                error,
                warnings: snapshot.warnings,
            });
        }

        // Every failed read counts in the summary; the channels hear of a
        // target only once it has failed `failure_threshold` passes in a row.
        let mut changes: BTreeMap<Source, BTreeMap<ChangeKind, usize>> = BTreeMap::new();
        for c in found
            .iter()
            .filter_map(|n| match n {
                Notice::Change(c) => Some(c),
                Notice::Baseline(_) => None,
            })
            .chain(&failures)
        {
            *changes
                .entry(c.target.source)
                .or_default()
                .entry(c.kind)
                .or_insert(0) += 1;
        }

        let lost_race = targets.iter().any(|t| t.result == TargetResult::Conflict);
        let (channel_outcomes, would_send) = if dry_run {
            let mut would = found;
            let (raised, _) = self.health_notices(&health_events, &channels, true).await;
            would.extend(raised.into_iter().map(Notice::Change));
            (Vec::new(), would)
        } else if lost_race {
            // The pass that won is delivering the same pending alerts right
            // now; delivering them here too would send them twice.
            warn!("another pass committed first; leaving delivery to it");
            (Vec::new(), Vec::new())
        } else {
            let (raised, unsaved) = self.health_notices(&health_events, &channels, false).await;
            for c in &raised {
                if c.kind == ChangeKind::SourceRecovered {
                    *changes
                        .entry(c.target.source)
                        .or_default()
                        .entry(c.kind)
                        .or_insert(0) += 1;
                }
            }
            (self.deliver(&unsaved, &warnings).await, Vec::new())
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
        };
        summary.ok = !summary.failed();
        summary
    }

    /// Updates each target's source health and returns the alerts it
    /// raises: `source_failed` once a target has failed `failure_threshold`
    /// passes in a row, `source_recovered` when such a target reads again.
    /// Outside a dry run they are stored pending with the health record;
    /// the second list holds those that could not be stored, to be sent
    /// right away rather than lost.
    async fn health_notices(
        &self,
        events: &[(TargetKey, Option<String>)],
        channels: &[&'static str],
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
            let before = stored
                .as_ref()
                .map(|h| h.get(&key.to_string()).cloned().unwrap_or_default());
            let (after, notice) = match (error, before) {
                (Some(text), None) => {
                    let change = target_change(key, ChangeKind::SourceFailed, text.clone(), now);
                    raised.push(change.clone());
                    unsaved.push(change);
                    continue;
                }
                (Some(text), Some(mut h)) => {
                    h.failures += 1;
                    let since = *h.since.get_or_insert(now);
                    h.last_error = Some(text.clone());
                    let notice = (h.failures >= self.failure_threshold && !h.alerted).then(|| {
                        h.alerted = true;
                        let detail = if h.failures == 1 {
                            text.clone()
                        } else {
                            format!(
                                "{} passes in a row since {}: {text}",
                                h.failures,
                                since.format("%Y-%m-%d %H:%M UTC")
                            )
                        };
                        target_change(key, ChangeKind::SourceFailed, detail, now)
                    });
                    (h, notice)
                }
                (None, None) => continue,
                (None, Some(h)) if h.is_healthy() => continue,
                (None, Some(h)) => {
                    let notice = h.alerted.then(|| {
                        let detail = format!(
                            "read completely again after {} failed passes since {}",
                            h.failures,
                            h.since.unwrap_or(now).format("%Y-%m-%d %H:%M UTC")
                        );
                        target_change(key, ChangeKind::SourceRecovered, detail, now)
                    });
                    (Health::default(), notice)
                }
            };
            if let Some(n) = &notice {
                info!(target = %key, kind = %n.kind, failures = after.failures, "source health alert");
            }
            raised.extend(notice.clone());
            if dry_run {
                continue;
            }
            let outbox = notice.clone().map(|n| OutboxEntry {
                id: format!("{}/{}#health", self.run_id, key),
                created_at: now,
                channels: channels.iter().map(|c| (*c).to_owned()).collect(),
                notices: vec![Notice::Change(n)],
            });
            if let Err(e) = self.store.record_health(key, &after, outbox).await {
                error!(target = %key, error = %e, "source health could not be stored");
                unsaved.extend(notice);
            }
        }
        (raised, unsaved)
    }

    /// Diffs one complete snapshot and commits it. Returns the result and
    /// the number of changes, or the result and the reason it failed.
    async fn apply(
        &self,
        snapshot: &TargetSnapshot,
        dry_run: bool,
        channels: &[&'static str],
        now: DateTime<Utc>,
        found: &mut Vec<Notice>,
    ) -> Result<(TargetResult, usize), (TargetResult, String)> {
        let key = &snapshot.key;
        let stored = self.store.load(key).await.map_err(|e| {
            error!(target = %key, error = %e, "state could not be read; target left untouched");
            (TargetResult::Failed, e.to_string())
        })?;
        let outcome = diff(stored.as_ref(), snapshot, self.exemptions, now);
        let result = if outcome.baseline {
            TargetResult::Baseline
        } else if outcome.writes_nothing() {
            TargetResult::Unchanged
        } else {
            TargetResult::Changed
        };
        let change_count = outcome.changes().count();
        for c in outcome.changes() {
            info!(
                target = %c.target,
                principal = c.principal.as_deref().unwrap_or(""),
                kind = %c.kind,
                severity = %c.severity,
                "change detected"
            );
        }
        if outcome.writes_nothing() || dry_run {
            found.extend(outcome.notices);
            return Ok((result, change_count));
        }
        let outbox = (!outcome.notices.is_empty()).then(|| OutboxEntry {
            id: format!("{}/{}", self.run_id, key),
            created_at: now,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            notices: outcome.notices.clone(),
        });
        let commit = TargetCommit {
            key: key.clone(),
            expected_version: stored.as_ref().map(|s| s.version),
            upserts: outcome.upserts,
            deletes: outcome.deletes,
            settings: outcome.settings,
            outbox,
            at: now,
        };
        match self.store.commit(commit).await {
            Ok(version) => {
                info!(target = %key, version, "state committed");
                found.extend(outcome.notices);
                Ok((result, change_count))
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

    /// Sends each channel everything pending for it, plus `unsaved`: alerts
    /// that could not be stored pending and so go out now or never.
    async fn deliver(&self, unsaved: &[Change], warnings: &[String]) -> Vec<ChannelOutcome> {
        let fail_all = |text: String, notices: usize| {
            self.notifiers
                .iter()
                .map(|n| ChannelOutcome {
                    channel: n.channel().to_owned(),
                    result: ChannelResult::Failed,
                    notices,
                    error: Some(text.clone()),
                })
                .collect::<Vec<_>>()
        };
        if self.deadline.remaining() < FINISH_MARGIN {
            error!("the pass deadline came before delivery; pending alerts go out next pass");
            return fail_all(
                "not attempted: the pass deadline came first; alerts stay pending for the next pass"
                    .into(),
                unsaved.len(),
            );
        }
        let pending = match self.store.pending().await {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "pending alerts could not be read");
                return fail_all(e.to_string(), 0);
            }
        };
        let configured: Vec<&str> = self.notifiers.iter().map(|n| n.channel()).collect();
        for entry in &pending {
            for ch in entry
                .channels
                .iter()
                .filter(|c| !configured.contains(&c.as_str()))
            {
                warn!(entry = %entry.id, channel = %ch, "alerts pending for a channel that is no longer configured");
            }
        }
        let delayed_before = Utc::now()
            - chrono::Duration::from_std(self.delayed_after).unwrap_or(chrono::Duration::MAX);
        let mut outcomes = Vec::new();
        for notifier in self.notifiers {
            let channel = notifier.channel();
            let mine: Vec<&OutboxEntry> = pending
                .iter()
                .filter(|e| e.channels.contains(channel))
                .collect();
            let mut notices: Vec<Notice> = mine
                .iter()
                .flat_map(|e| e.notices.iter().cloned())
                .collect();
            notices.extend(unsaved.iter().cloned().map(Notice::Change));
            let Some(mut message) = digest::digest(&notices, warnings) else {
                outcomes.push(ChannelOutcome {
                    channel: channel.to_owned(),
                    result: ChannelResult::NothingToSend,
                    notices: 0,
                    error: None,
                });
                continue;
            };
            message.mark_delayed(delayed_before);
            match notifier.send(&message).await {
                Ok(()) => {
                    info!(channel, notices = notices.len(), "alert sent");
                    let mut ack_error = None;
                    for entry in &mine {
                        if let Err(e) = self.store.acknowledge(&entry.id, channel).await {
                            // The alert went out; at worst it is repeated.
                            error!(channel, entry = %entry.id, error = %e, "sent alert could not be marked delivered");
                            ack_error = Some(e.to_string());
                        }
                    }
                    outcomes.push(ChannelOutcome {
                        channel: channel.to_owned(),
                        result: ChannelResult::Sent,
                        notices: notices.len(),
                        error: ack_error,
                    });
                }
                Err(e) => {
                    error!(channel, error = %e, "alert not delivered; kept pending for the next pass");
                    outcomes.push(ChannelOutcome {
                        channel: channel.to_owned(),
                        result: ChannelResult::Failed,
                        notices: notices.len(),
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        outcomes
    }
}
