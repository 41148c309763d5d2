//! One message model for a pass (`Digest`), built from its notices, that
//! every channel renders (`email.rs`, `slack_blocks.rs`). Pure, so wording
//! is unit- and snapshot-tested apart from any channel.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::exemption::ExemptionNotice;
use crate::domain::{BaselineSummary, Change, ChangeKind, Notice, Severity, Source};

/// One line of a message: who, what happened, what else to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub subject: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ChangeKind>,
    pub since: DateTime<Utc>,
    /// Found by an earlier pass and not delivered then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delayed: bool,
}

/// The items of one source at one severity, or one baseline summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    pub heading: String,
    pub items: Vec<Item>,
    /// Items a cap left out (baselines list at most a few hundred).
    pub omitted: usize,
    pub remediation: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// "2 lost MFA, 1 new account without MFA": what happened, counted.
    pub title: String,
    pub critical: usize,
    pub high: usize,
    pub warnings: Vec<String>,
    pub groups: Vec<Group>,
}

impl Digest {
    /// Marks what was detected before `cutoff` as delayed: alerts a channel
    /// could not take when they were found, delivered late but never
    /// dropped. Says so at the top of the message too.
    pub fn mark_delayed(&mut self, cutoff: DateTime<Utc>) {
        let mut delayed = 0;
        let mut oldest: Option<DateTime<Utc>> = None;
        for item in self.groups.iter_mut().flat_map(|g| g.items.iter_mut()) {
            if item.since < cutoff {
                item.delayed = true;
                delayed += 1;
                oldest = Some(oldest.map_or(item.since, |o| o.min(item.since)));
            }
        }
        if let Some(oldest) = oldest {
            self.warnings.insert(
                0,
                format!(
                    "{} delayed: detected as early as {} but not delivered then (a channel or the pass failed); each is marked",
                    plural(delayed, "alert is", "alerts are"),
                    oldest.format("%Y-%m-%d %H:%M UTC")
                ),
            );
        }
    }
}

/// What to do when all a message says of a source is that it could not be
/// read, or reads again.
pub const HEALTH_REMEDIATION: &str = "Run `mfa-monitor check` (or read the run summary in the logs): it names what is wrong — credentials, permissions or reachability.";

/// What to do on reading that an exemption changed.
pub const EXEMPTION_REMEDIATION: &str =
    "Review every exemption with `mfa-monitor exempt list`; end one with `mfa-monitor exempt remove ID`.";

fn is_health(kind: ChangeKind) -> bool {
    matches!(kind, ChangeKind::SourceFailed | ChangeKind::SourceRecovered)
}

pub fn remediation(source: Source) -> &'static str {
    match source {
        Source::Aws => "Assign an MFA device: IAM console › Users › Security credentials, or `aws iam enable-mfa-device`.",
        Source::Github => "Ask the member to enable 2FA (Settings › Password and authentication); require it in the organization's Authentication security settings.",
        Source::Snowflake => "Enrol the user in MFA (Snowsight › Profile › Multi-factor authentication); close a bypass with `ALTER USER … UNSET MINS_TO_BYPASS_MFA`.",
    }
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn title_phrase(kind: ChangeKind, n: usize) -> String {
    match kind {
        ChangeKind::MfaDisabled => format!("{} lost MFA", plural(n, "account", "accounts")),
        ChangeKind::MfaEnabled => format!("{} enabled MFA", plural(n, "account", "accounts")),
        ChangeKind::MfaWeakened => format!("{} weakened to SMS", plural(n, "account", "accounts")),
        ChangeKind::NewWithoutMfa => {
            format!("{} without MFA", plural(n, "new account", "new accounts"))
        }
        ChangeKind::NewWithMfa => format!("{} with MFA", plural(n, "new account", "new accounts")),
        ChangeKind::Removed => format!("{} removed", plural(n, "account", "accounts")),
        ChangeKind::RequirementDisabled => format!(
            "{} switched off",
            plural(n, "MFA requirement", "MFA requirements")
        ),
        ChangeKind::RequirementEnabled => format!(
            "{} switched on",
            plural(n, "MFA requirement", "MFA requirements")
        ),
        ChangeKind::BypassActive => format!("{} open", plural(n, "MFA bypass", "MFA bypasses")),
        ChangeKind::StatusUnknown => {
            format!("{} no longer readable", plural(n, "status", "statuses"))
        }
        ChangeKind::SourceFailed => format!("{} could not be read", plural(n, "source", "sources")),
        ChangeKind::SourceRecovered => {
            format!("{} readable again", plural(n, "source", "sources"))
        }
        ChangeKind::ExemptionExpired => format!(
            "{} without MFA",
            plural(n, "exemption ended", "exemptions ended")
        ),
        ChangeKind::GraceEnded => format!(
            "{} without MFA",
            plural(n, "grace to enrol ended", "graces to enrol ended")
        ),
    }
}

fn change_summary(c: &Change) -> String {
    let phrase = c.kind.phrase();
    match (c.previous, c.current) {
        (Some(p), Some(n)) if p != n => format!("{phrase} ({p} → {n})"),
        (None, Some(n)) => format!("{phrase} ({n})"),
        _ => phrase.to_owned(),
    }
}

fn baseline_group(b: &BaselineSummary) -> Group {
    Group {
        source: b.target.source,
        severity: None,
        heading: format!(
            "First pass over {}: {} recorded, {} without MFA or with a weak factor, {} unknown, {} exempt",
            b.target,
            plural(b.principals, "principal", "principals"),
            b.non_compliant,
            b.unknown,
            b.exempt
        ),
        items: b
            .listed
            .iter()
            .map(|e| Item {
                subject: b.target.principal(e.name.clone()).to_string(),
                summary: e.status.to_string(),
                detail: None,
                admin: e.admin,
                kind: None,
                since: b.detected_at,
                delayed: false,
            })
            .collect(),
        omitted: b.omitted,
        remediation: remediation(b.target.source),
    }
}

/// The model of one message, or `None` when there is nothing to send.
/// `warnings` (what the operator must fix) ride along with a message but
/// never cause one: a standing warning would otherwise mail every hour.
pub fn digest(notices: &[Notice], warnings: &[String]) -> Option<Digest> {
    if notices.is_empty() {
        return None;
    }
    let mut changes: Vec<&Change> = Vec::new();
    let mut baselines: Vec<&BaselineSummary> = Vec::new();
    let mut exemptions: Vec<&ExemptionNotice> = Vec::new();
    for n in notices {
        match n {
            Notice::Change(c) => changes.push(c),
            Notice::Baseline(b) => baselines.push(b),
            Notice::Exemption(e) => exemptions.push(e),
        }
    }
    exemptions.sort_by(|a, b| (&a.principal, a.at).cmp(&(&b.principal, b.at)));
    changes.sort_by(|a, b| {
        (a.target.source, a.severity, a.subject(), a.kind).cmp(&(
            b.target.source,
            b.severity,
            b.subject(),
            b.kind,
        ))
    });

    let mut by_kind: BTreeMap<ChangeKind, usize> = BTreeMap::new();
    for c in &changes {
        *by_kind.entry(c.kind).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = by_kind.iter().map(|(k, n)| title_phrase(*k, *n)).collect();
    if !baselines.is_empty() {
        let nc: usize = baselines.iter().map(|b| b.non_compliant).sum();
        parts.push(format!(
            "baseline of {} with {} without MFA",
            plural(baselines.len(), "target", "targets"),
            nc
        ));
    }
    if !exemptions.is_empty() {
        parts.push(plural(
            exemptions.len(),
            "exemption changed",
            "exemptions changed",
        ));
    }
    let mut groups = Vec::new();
    for source in Source::ALL {
        let health_only = baselines.iter().all(|b| b.target.source != source)
            && changes
                .iter()
                .filter(|c| c.target.source == source)
                .all(|c| is_health(c.kind));
        let advice = if health_only {
            HEALTH_REMEDIATION
        } else {
            remediation(source)
        };
        for sev in [Severity::Critical, Severity::High, Severity::Info] {
            let items: Vec<Item> = changes
                .iter()
                .filter(|c| c.target.source == source && c.severity == sev)
                .map(|c| Item {
                    subject: c.subject(),
                    summary: change_summary(c),
                    detail: c.detail.clone(),
                    admin: c.admin,
                    kind: Some(c.kind),
                    since: c.detected_at,
                    delayed: false,
                })
                .collect();
            if !items.is_empty() {
                groups.push(Group {
                    source,
                    severity: Some(sev),
                    heading: format!("{} — {} ({})", source.display_name(), sev, items.len()),
                    items,
                    omitted: 0,
                    remediation: advice,
                });
            }
        }
        groups.extend(
            baselines
                .iter()
                .filter(|b| b.target.source == source)
                .map(|b| baseline_group(b)),
        );
        let mine: Vec<&&ExemptionNotice> = exemptions
            .iter()
            .filter(|e| e.principal.source == source)
            .collect();
        if !mine.is_empty() {
            groups.push(Group {
                source,
                severity: Some(Severity::Info),
                heading: format!(
                    "{} — info: exemptions changed ({})",
                    source.display_name(),
                    mine.len()
                ),
                items: mine
                    .iter()
                    .map(|e| Item {
                        subject: e.principal.to_string(),
                        summary: e.summary(),
                        detail: None,
                        admin: false,
                        kind: None,
                        since: e.at,
                        delayed: false,
                    })
                    .collect(),
                omitted: 0,
                remediation: EXEMPTION_REMEDIATION,
            });
        }
    }
    Some(Digest {
        title: parts.join(", "),
        critical: changes
            .iter()
            .filter(|c| c.severity == Severity::Critical)
            .count(),
        high: changes
            .iter()
            .filter(|c| c.severity == Severity::High)
            .count(),
        warnings: warnings.to_vec(),
        groups,
    })
}
