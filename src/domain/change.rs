use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::exemption::ExemptionNotice;
use super::principal::{PrincipalId, TargetKey};
use super::status::MfaStatus;

/// Change kinds (contract: used in messages, logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    MfaDisabled,
    MfaEnabled,
    MfaWeakened,
    NewWithoutMfa,
    NewWithMfa,
    Removed,
    RequirementDisabled,
    RequirementEnabled,
    BypassActive,
    StatusUnknown,
    SourceFailed,
    /// A target that had failed long enough to alert reads again.
    SourceRecovered,
    /// An exemption ended while its principal still lacks MFA.
    ExemptionExpired,
    /// A new account's grace to enrol ended without MFA.
    GraceEnded,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 14] = [
        ChangeKind::MfaDisabled,
        ChangeKind::MfaEnabled,
        ChangeKind::MfaWeakened,
        ChangeKind::NewWithoutMfa,
        ChangeKind::NewWithMfa,
        ChangeKind::Removed,
        ChangeKind::RequirementDisabled,
        ChangeKind::RequirementEnabled,
        ChangeKind::BypassActive,
        ChangeKind::StatusUnknown,
        ChangeKind::SourceFailed,
        ChangeKind::SourceRecovered,
        ChangeKind::ExemptionExpired,
        ChangeKind::GraceEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::MfaDisabled => "mfa_disabled",
            ChangeKind::MfaEnabled => "mfa_enabled",
            ChangeKind::MfaWeakened => "mfa_weakened",
            ChangeKind::NewWithoutMfa => "new_without_mfa",
            ChangeKind::NewWithMfa => "new_with_mfa",
            ChangeKind::Removed => "removed",
            ChangeKind::RequirementDisabled => "requirement_disabled",
            ChangeKind::RequirementEnabled => "requirement_enabled",
            ChangeKind::BypassActive => "bypass_active",
            ChangeKind::StatusUnknown => "status_unknown",
            ChangeKind::SourceFailed => "source_failed",
            ChangeKind::SourceRecovered => "source_recovered",
            ChangeKind::ExemptionExpired => "exemption_expired",
            ChangeKind::GraceEnded => "grace_ended",
        }
    }

    /// Short human phrase for messages.
    pub fn phrase(self) -> &'static str {
        match self {
            ChangeKind::MfaDisabled => "lost MFA",
            ChangeKind::MfaEnabled => "enabled MFA",
            ChangeKind::MfaWeakened => "MFA weakened to an insecure factor",
            ChangeKind::NewWithoutMfa => "new account without MFA",
            ChangeKind::NewWithMfa => "new account with MFA",
            ChangeKind::Removed => "account removed",
            ChangeKind::RequirementDisabled => "MFA requirement switched off",
            ChangeKind::RequirementEnabled => "MFA requirement switched on",
            ChangeKind::BypassActive => "MFA bypass active",
            ChangeKind::StatusUnknown => "MFA status can no longer be read",
            ChangeKind::SourceFailed => "source could not be read",
            ChangeKind::SourceRecovered => "source readable again",
            ChangeKind::ExemptionExpired => "exemption ended, still without MFA",
            ChangeKind::GraceEnded => "grace to enrol ended, still without MFA",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severities, most urgent first so that sorting puts them on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alertable change. Target-level changes (requirement switched,
/// source failed) carry no principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub target: TargetKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub kind: ChangeKind,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<MfaStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<MfaStatus>,
    #[serde(default)]
    pub admin: bool,
    /// Extra words for people (an error cause, a device kind, a rename).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub detected_at: DateTime<Utc>,
}

impl Change {
    /// A change about a whole target (its source failing or reading again),
    /// not one principal.
    pub fn of_target(
        key: &TargetKey,
        kind: ChangeKind,
        detail: String,
        now: DateTime<Utc>,
    ) -> Change {
        Change {
            target: key.clone(),
            principal: None,
            kind,
            severity: super::policy::severity(kind, false),
            previous: None,
            current: None,
            admin: false,
            detail: Some(detail),
            detected_at: now,
        }
    }

    pub fn principal_id(&self) -> Option<PrincipalId> {
        self.principal
            .as_ref()
            .map(|n| self.target.principal(n.clone()))
    }

    /// What a person reads first: the principal id or the target.
    pub fn subject(&self) -> String {
        match self.principal_id() {
            Some(id) => id.to_string(),
            None => self.target.to_string(),
        }
    }
}

/// One entry of a first-run summary's non-compliant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub name: String,
    pub status: MfaStatus,
    #[serde(default)]
    pub admin: bool,
}

/// The first pass over a target: one summary instead of one alert per
/// account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineSummary {
    pub target: TargetKey,
    pub principals: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub exempt: usize,
    /// Non-compliant and unknown principals, admins first, capped so that
    /// the stored alert stays small at any organization size.
    pub listed: Vec<BaselineEntry>,
    /// How many were left out of `listed` by the cap.
    pub omitted: usize,
    #[serde(default)]
    pub mfa_required: Option<bool>,
    pub detected_at: DateTime<Utc>,
}

/// What a pass tells the channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    Change(Change),
    Baseline(BaselineSummary),
    /// An exemption added, changed or removed with `mfa-monitor exempt`
    /// (an `info` line, counted apart from the change kinds).
    Exemption(ExemptionNotice),
}

impl Notice {
    pub fn target(&self) -> TargetKey {
        match self {
            Notice::Change(c) => c.target.clone(),
            Notice::Baseline(b) => b.target.clone(),
            Notice::Exemption(e) => e.principal.target_key(),
        }
    }
}
