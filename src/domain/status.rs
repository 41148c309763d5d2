use std::fmt;

use serde::{Deserialize, Serialize};

/// MFA status is never a bool: the source may not tell (`unknown`), and some
/// accounts cannot log in interactively at all (`not_applicable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaStatus {
    Enabled,
    /// Enabled but weak: GitHub SMS, AWS `sms-mfa`.
    Insecure,
    Disabled,
    /// The source would not tell; never read as enabled or disabled.
    Unknown,
    NotApplicable,
}

impl MfaStatus {
    pub const ALL: [MfaStatus; 5] = [
        MfaStatus::Enabled,
        MfaStatus::Insecure,
        MfaStatus::Disabled,
        MfaStatus::Unknown,
        MfaStatus::NotApplicable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MfaStatus::Enabled => "enabled",
            MfaStatus::Insecure => "insecure",
            MfaStatus::Disabled => "disabled",
            MfaStatus::Unknown => "unknown",
            MfaStatus::NotApplicable => "not_applicable",
        }
    }

    /// Lacks MFA or has only a weak factor: what security teams must act on.
    pub fn is_non_compliant(self) -> bool {
        matches!(self, MfaStatus::Disabled | MfaStatus::Insecure)
    }

    pub fn is_known(self) -> bool {
        self != MfaStatus::Unknown
    }
}

impl fmt::Display for MfaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Facts about a principal that change how much a finding matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// GitHub org owner, IAM AdministratorAccess holder, AWS root,
    /// Snowflake ACCOUNTADMIN/SECURITYADMIN grantee.
    #[serde(default)]
    pub admin: bool,
    /// Can log in interactively (console password, web login).
    #[serde(default)]
    pub console_login: bool,
    /// Source-specific account type (Snowflake `PERSON`/`SERVICE`, GitHub
    /// `outside_collaborator`), when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// An MFA bypass is currently open (Snowflake `MINS_TO_BYPASS_MFA`).
    #[serde(default)]
    pub bypass_active: bool,
    /// Stable numeric id where the source has one (GitHub user id), so a
    /// renamed login is not read as a removal plus a new account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_id: Option<String>,
    /// What the status rests on, e.g. MFA device kinds (`virtual`, `u2f`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_devices: Vec<String>,
}
