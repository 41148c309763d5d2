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
    pub kind: Option<AccountKind>,
    /// An MFA bypass is currently open (Snowflake `MINS_TO_BYPASS_MFA`).
    #[serde(default)]
    pub bypass_active: bool,
    /// Stable numeric id where the source has one (GitHub user id), so a
    /// renamed login is not read as a removal plus a new account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_id: Option<String>,
    /// What the status rests on: the MFA device kinds the source listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mfa_devices: Vec<MfaDevice>,
    /// Why a `not_applicable` principal cannot sign in with a factor of
    /// this source (contract attribute `reason`): a report that says only
    /// "not applicable" cannot be checked by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NaReason>,
}

/// Why MFA does not apply to a principal (contract attribute `reason`),
/// stored and shown by its snake_case name; a reason a source adds later
/// is kept as it reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum NaReason {
    /// An IAM user without a console password (access keys at most).
    NoConsolePassword,
    /// A service account (Snowflake `SERVICE`): no password, no MFA.
    ServiceUser,
    /// A disabled user cannot sign in at all.
    DisabledUser,
    /// A person without a password who signs in through the identity
    /// provider (SSO, OAuth) or a key pair: MFA is the provider's job.
    SsoOnly,
    /// An account the identity provider owns (GitHub Enterprise Managed
    /// User): no password or 2FA of the source's own.
    IdpManaged,
    /// An AWS member account's root without credentials (centralized root
    /// access): it cannot sign in.
    NoRootCredentials,
    Other(String),
}

impl NaReason {
    pub fn as_str(&self) -> &str {
        match self {
            NaReason::NoConsolePassword => "no_console_password",
            NaReason::ServiceUser => "service_user",
            NaReason::DisabledUser => "disabled_user",
            NaReason::SsoOnly => "sso_only",
            NaReason::IdpManaged => "idp_managed",
            NaReason::NoRootCredentials => "no_root_credentials",
            NaReason::Other(s) => s,
        }
    }

    /// The phrase a report shows beside `not_applicable`.
    pub fn describe(&self) -> &str {
        match self {
            NaReason::NoConsolePassword => "no console password",
            NaReason::ServiceUser => "service user",
            NaReason::DisabledUser => "disabled user",
            NaReason::SsoOnly => "signs in through SSO only",
            NaReason::IdpManaged => "managed by the identity provider",
            NaReason::NoRootCredentials => "no root credentials",
            NaReason::Other(s) => s,
        }
    }
}

impl From<String> for NaReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "no_console_password" => NaReason::NoConsolePassword,
            "service_user" => NaReason::ServiceUser,
            "disabled_user" => NaReason::DisabledUser,
            "sso_only" => NaReason::SsoOnly,
            "idp_managed" => NaReason::IdpManaged,
            "no_root_credentials" => NaReason::NoRootCredentials,
            _ => NaReason::Other(s),
        }
    }
}

impl From<NaReason> for String {
    fn from(r: NaReason) -> String {
        r.as_str().to_owned()
    }
}

impl fmt::Display for NaReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of account a source says a principal is, stored and shown by
/// its lower-case name; a kind a source adds later is kept as it reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AccountKind {
    /// Snowflake `PERSON` (also a `NULL` type).
    Person,
    /// Snowflake `SERVICE`: no password, no MFA.
    Service,
    /// Snowflake `LEGACY_SERVICE`: may still have a password.
    LegacyService,
    /// A GitHub outside collaborator (not an org member).
    OutsideCollaborator,
    Other(String),
}

impl AccountKind {
    pub fn as_str(&self) -> &str {
        match self {
            AccountKind::Person => "person",
            AccountKind::Service => "service",
            AccountKind::LegacyService => "legacy_service",
            AccountKind::OutsideCollaborator => "outside_collaborator",
            AccountKind::Other(s) => s,
        }
    }
}

impl From<&str> for AccountKind {
    fn from(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "person" => AccountKind::Person,
            "service" => AccountKind::Service,
            "legacy_service" => AccountKind::LegacyService,
            "outside_collaborator" => AccountKind::OutsideCollaborator,
            other => AccountKind::Other(other.to_owned()),
        }
    }
}

impl From<String> for AccountKind {
    fn from(s: String) -> Self {
        AccountKind::from(s.as_str())
    }
}

impl From<AccountKind> for String {
    fn from(k: AccountKind) -> String {
        k.as_str().to_owned()
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of an MFA device (AWS tells them apart by serial number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaDevice {
    /// An authenticator app (TOTP).
    Virtual,
    /// A FIDO security key or passkey.
    U2f,
    /// A text message: a weak factor (`insecure`).
    Sms,
    /// A hardware TOTP token.
    Hardware,
}

impl MfaDevice {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaDevice::Virtual => "virtual",
            MfaDevice::U2f => "u2f",
            MfaDevice::Sms => "sms",
            MfaDevice::Hardware => "hardware",
        }
    }

    /// Only SMS counts as weak: it can be intercepted or SIM-swapped.
    pub fn is_weak(self) -> bool {
        self == MfaDevice::Sms
    }
}

impl fmt::Display for MfaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for MfaDevice {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_kinds_keep_the_stored_names_and_unknown_kinds_as_read() {
        for name in [
            "person",
            "service",
            "legacy_service",
            "outside_collaborator",
            "user",
        ] {
            let k = AccountKind::from(name);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<AccountKind>(&format!("\"{name}\"")).unwrap(),
                k
            );
        }
        assert_eq!(
            AccountKind::from("LEGACY_SERVICE"),
            AccountKind::LegacyService
        );
    }

    #[test]
    fn reasons_keep_their_contract_names_and_unknown_ones_as_read() {
        for name in [
            "no_console_password",
            "service_user",
            "disabled_user",
            "sso_only",
            "idp_managed",
            "no_root_credentials",
            "key_pair_only",
        ] {
            let r = NaReason::from(name.to_owned());
            assert_eq!(r.as_str(), name);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(
            NaReason::from("sso_only".to_owned()),
            NaReason::SsoOnly,
            "a known name reads as its variant, so matching on it works"
        );
    }

    #[test]
    fn device_kinds_serialize_as_the_names_stored_before_they_were_typed() {
        let json = serde_json::to_string(&[
            MfaDevice::Virtual,
            MfaDevice::U2f,
            MfaDevice::Sms,
            MfaDevice::Hardware,
        ])
        .unwrap();
        assert_eq!(json, r#"["virtual","u2f","sms","hardware"]"#);
    }
}
