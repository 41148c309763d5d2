use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::principal::TargetKey;
use super::status::{Attributes, MfaStatus};

/// One principal as a monitor saw it in this pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub name: String,
    pub status: MfaStatus,
    #[serde(default)]
    pub attributes: Attributes,
}

impl Observation {
    pub fn new(name: impl Into<String>, status: MfaStatus, attributes: Attributes) -> Self {
        Self {
            name: name.into(),
            status,
            attributes,
        }
    }
}

/// Target-level switches. `None` means the source would not tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSettings {
    /// An org-wide MFA requirement (GitHub `two_factor_requirement_enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
    /// AWS `AccountMFAEnabled` (root MFA). Recorded for reports; the alert
    /// for it comes from the `<root>` principal, so it is not diffed twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_mfa_enabled: Option<bool>,
    /// Further named switches of a target's MFA policy (a Snowflake
    /// authentication policy's enrolment, a GitHub enterprise's
    /// requirement), `true` being the tighter setting. Diffed like
    /// `mfa_required`; a switch the source could not read this pass is
    /// absent here and keeps its last known value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requirements: BTreeMap<String, bool>,
    /// What reports show of the policy without diffing it (e.g. the allowed
    /// MFA methods).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// Set when the target stopped being discovered (an AWS account that
    /// left the organization): its principals were dropped, and its return
    /// is a baseline, not a storm of new accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
    /// The UTC day of this target's last trend record (`domain::trend`):
    /// the store's, not the source's, so it is carried across passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_day: Option<chrono::NaiveDate>,
}

/// A complete listing of one target. Monitors return this only when every
/// page arrived; anything less is an error, never a shorter snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSnapshot {
    pub key: TargetKey,
    pub principals: Vec<Observation>,
    pub settings: TargetSettings,
    /// What an operator must fix for the listing to be exact (e.g. a token
    /// without owner rights made every status `unknown`).
    pub warnings: Vec<String>,
}

/// What the state store keeps per principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRecord {
    pub name: String,
    pub status: MfaStatus,
    #[serde(default)]
    pub attributes: Attributes,
    pub first_seen: DateTime<Utc>,
    /// When `status` last changed (or first seen): "lacking MFA since".
    pub status_since: DateTime<Utc>,
    /// Set while the principal is missing from its listing as part of a
    /// large removal: kept dormant (out of reports) for a few days, so
    /// that the listing coming back whole is no storm of new accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_since: Option<DateTime<Utc>>,
    /// Exempt when last diffed: an exemption that ends while the principal
    /// still lacks MFA is told once (`exemption_expired`), by this moving.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exempt: bool,
    /// A new account without MFA may enrol until then (`MFA_GRACE_DAYS`);
    /// still without MFA after it is told once (`grace_ended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<DateTime<Utc>>,
}

impl PrincipalRecord {
    /// Same observed facts, ignoring bookkeeping times.
    pub fn same_facts(&self, obs: &Observation) -> bool {
        self.name == obs.name && self.status == obs.status && self.attributes == obs.attributes
    }
}

/// The stored state of one target, with the version the commit is
/// conditional on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTarget {
    pub key: TargetKey,
    pub version: u64,
    #[serde(default)]
    pub settings: TargetSettings,
    pub updated_at: DateTime<Utc>,
    pub principals: BTreeMap<String, PrincipalRecord>,
}

impl StoredTarget {
    /// The principals still listed (dormant ones left out).
    pub fn present(&self) -> impl Iterator<Item = &PrincipalRecord> {
        self.principals
            .values()
            .filter(|p| p.absent_since.is_none())
    }

    pub fn count_by_status(&self) -> BTreeMap<MfaStatus, usize> {
        let mut counts = BTreeMap::new();
        for p in self.present() {
            *counts.entry(p.status).or_insert(0) += 1;
        }
        counts
    }
}
