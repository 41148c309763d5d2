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
    /// Holds a programmatic access token (Snowflake `has_pat`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_pat: bool,
    /// What the operator should know beside the status (e.g. Snowflake's
    /// conversion of LEGACY_SERVICE users); carried into alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The MFA methods read for the principal (Snowflake admins), or why
    /// they could not be read. `None`: not read for this principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_methods: Option<MfaMethods>,
    /// The holder's e-mail address as the source knows it (Snowflake's
    /// `EMAIL`, the IAM user tag `MFA_EMAIL_TAG`), checked to be an address
    /// where it was read: what links the principal to a person when the
    /// people file does not. Absent from state stored before it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
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

/// The second factors a source listed for a principal, or why it would
/// not list them (the role lacks a privilege): never read as "no MFA".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethods {
    Read(Vec<MfaMethod>),
    Unreadable(String),
}

/// One second factor: its kind as the source names it (Snowflake
/// `PASSKEY`, `TOTP`, `DUO`) and the day it was last used, if told.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MfaMethod {
    pub kind: String,
    /// `YYYY-MM-DD`: a day, not a time, so signing in does not rewrite
    /// the stored record on every pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

impl MfaMethods {
    /// `PASSKEY (last used 2026-11-30), TOTP`, `none enrolled`, or
    /// `unreadable: …`.
    pub fn summary(&self) -> String {
        match self {
            MfaMethods::Read(m) if m.is_empty() => "none enrolled".to_owned(),
            MfaMethods::Read(m) => m
                .iter()
                .map(|m| match &m.last_used {
                    Some(day) => format!("{} (last used {day})", m.kind),
                    None => m.kind.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            MfaMethods::Unreadable(why) => format!("unreadable: {why}"),
        }
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
    fn attributes_stored_before_addresses_were_read_still_read_and_none_is_not_written() {
        let old: Attributes =
            serde_json::from_str(r#"{"admin":true,"console_login":true,"bypass_active":false}"#)
                .unwrap();
        assert_eq!(old.email, None);
        assert!(!serde_json::to_string(&old).unwrap().contains("email"));
        let with = Attributes {
            email: Some("a@example.com".into()),
            ..old
        };
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.contains(r#""email":"a@example.com""#), "{text}");
        assert_eq!(serde_json::from_str::<Attributes>(&text).unwrap(), with);
    }

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
