//! The root user, judged the way AWS works today. With centralized root
//! access (AWS Organizations' root credentials management) a member
//! account's root may have no credentials at all: it cannot sign in, and
//! with the feature on its password cannot be recovered by email either,
//! so it is `not_applicable` (`no_root_credentials`), not a critical
//! `disabled`. Everything else about a root without MFA stays critical.

use std::collections::HashMap;

use aws_sdk_iam::types::SummaryKeyType;

use super::credential_report::ReportRow;
use crate::domain::MfaStatus;

/// What the account itself says about its root's credentials:
/// `GetAccountSummary` (live) corrected by the credential report's root
/// row (a credential either shows is taken as present).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RootFacts {
    pub mfa: Option<bool>,
    pub password: Option<bool>,
    pub access_keys: Option<bool>,
    pub certificates: Option<bool>,
}

fn either(live: Option<bool>, report: Option<bool>) -> Option<bool> {
    match (live, report) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) => Some(false),
        (None, _) => None,
    }
}

impl RootFacts {
    /// From the `GetAccountSummary` map (absent when the call failed) and
    /// the report's root row (absent in some emulators).
    pub fn read(summary: Option<&HashMap<SummaryKeyType, i32>>, row: Option<&ReportRow>) -> Self {
        let key = |k: SummaryKeyType| summary.and_then(|m| m.get(&k)).map(|v| *v > 0);
        RootFacts {
            // The live flag wins for MFA: the report may be hours old.
            mfa: key(SummaryKeyType::AccountMfaEnabled).or(row.map(|r| r.mfa_active)),
            // The report's root row always says `not_supported` for the
            // password; `AccountPasswordPresent` is the live answer.
            password: either(
                key(SummaryKeyType::AccountPasswordPresent),
                row.and_then(|r| r.password_enabled.filter(|p| *p)),
            ),
            access_keys: either(
                key(SummaryKeyType::AccountAccessKeysPresent),
                row.and_then(|r| r.access_key_active.filter(|p| *p)),
            ),
            certificates: either(
                key(SummaryKeyType::AccountSigningCertificatesPresent),
                row.and_then(|r| r.certificate_active.filter(|p| *p)),
            ),
        }
    }

    fn has_no_credentials(&self) -> bool {
        self.password == Some(false)
            && self.access_keys == Some(false)
            && self.certificates == Some(false)
    }
}

/// Whether the organization manages this account's root credentials, as
/// read from the management (or delegated administrator) account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootManagement {
    /// `RootCredentialsManagement` is enabled and this account is a member.
    Central,
    /// Not enabled, no organization, or this is the management account
    /// (the feature never covers it).
    NotCentral,
    /// Could not be read; the text says what is missing.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootJudgement {
    pub status: MfaStatus,
    /// The root has no credentials and the organization manages them.
    pub no_credentials: bool,
    pub warning: Option<String>,
}

/// Whether [`judge`] needs the organization's answer: only for a root with
/// no MFA and no credentials.
pub fn depends_on_management(facts: &RootFacts) -> bool {
    facts.mfa == Some(false) && facts.has_no_credentials()
}

pub fn judge(facts: &RootFacts, management: &RootManagement) -> RootJudgement {
    let verdict = |status, no_credentials, warning| RootJudgement {
        status,
        no_credentials,
        warning,
    };
    match facts.mfa {
        Some(true) => return verdict(MfaStatus::Enabled, false, None),
        None => return verdict(MfaStatus::Unknown, false, None),
        Some(false) => {}
    }
    if !facts.has_no_credentials() {
        return verdict(MfaStatus::Disabled, false, None);
    }
    match management {
        RootManagement::Central => verdict(MfaStatus::NotApplicable, true, None),
        RootManagement::NotCentral => verdict(MfaStatus::Disabled, false, None),
        RootManagement::Unknown(why) => verdict(
            MfaStatus::Disabled,
            false,
            Some(format!(
                "the root user has no password, access keys or signing certificates, but \
                 centralized root access could not be confirmed ({why}); it stays critical \
                 until iam:ListOrganizationsFeatures and organizations:DescribeOrganization \
                 answer from the management account"
            )),
        ),
    }
}

/// From the organization's enabled features and management account id.
pub fn management_for(
    account_id: &str,
    enabled_features: &[String],
    management_account: Option<&str>,
) -> RootManagement {
    if !enabled_features
        .iter()
        .any(|f| f == "RootCredentialsManagement")
    {
        return RootManagement::NotCentral;
    }
    match management_account {
        Some(m) if m == account_id => RootManagement::NotCentral,
        Some(_) => RootManagement::Central,
        None => RootManagement::Unknown("the management account id is unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(pairs: &[(SummaryKeyType, i32)]) -> HashMap<SummaryKeyType, i32> {
        pairs.iter().cloned().collect()
    }

    fn bare() -> HashMap<SummaryKeyType, i32> {
        summary(&[
            (SummaryKeyType::AccountMfaEnabled, 0),
            (SummaryKeyType::AccountPasswordPresent, 0),
            (SummaryKeyType::AccountAccessKeysPresent, 0),
            (SummaryKeyType::AccountSigningCertificatesPresent, 0),
        ])
    }

    fn root_row(keys: Option<bool>) -> ReportRow {
        ReportRow {
            user: "<root_account>".into(),
            arn: "arn:aws:iam::111122223333:root".into(),
            password_enabled: None,
            mfa_active: false,
            created: None,
            access_key_active: keys,
            certificate_active: Some(false),
        }
    }

    #[test]
    fn a_member_root_without_credentials_under_central_management_is_not_applicable() {
        let facts = RootFacts::read(Some(&bare()), Some(&root_row(Some(false))));
        let j = judge(&facts, &RootManagement::Central);
        assert_eq!(j.status, MfaStatus::NotApplicable);
        assert!(j.no_credentials);
    }

    #[test]
    fn a_root_with_a_password_and_no_mfa_stays_disabled_even_under_central_management() {
        let mut s = bare();
        s.insert(SummaryKeyType::AccountPasswordPresent, 1);
        let j = judge(&RootFacts::read(Some(&s), None), &RootManagement::Central);
        assert_eq!(j.status, MfaStatus::Disabled);
        assert!(!j.no_credentials);
    }

    #[test]
    fn an_access_key_in_the_report_row_counts_even_if_the_summary_says_none() {
        let facts = RootFacts::read(Some(&bare()), Some(&root_row(Some(true))));
        assert_eq!(facts.access_keys, Some(true));
        assert_eq!(
            judge(&facts, &RootManagement::Central).status,
            MfaStatus::Disabled
        );
    }

    #[test]
    fn without_the_summary_nothing_reads_as_no_credentials() {
        let facts = RootFacts::read(None, Some(&root_row(Some(false))));
        assert_eq!(
            facts.password, None,
            "the report never tells the root's password"
        );
        assert_eq!(
            judge(&facts, &RootManagement::Central).status,
            MfaStatus::Disabled
        );
        let mut unknown = root_row(None);
        unknown.mfa_active = true;
        assert_eq!(
            judge(
                &RootFacts::read(None, Some(&unknown)),
                &RootManagement::Central
            )
            .status,
            MfaStatus::Enabled
        );
        assert_eq!(
            judge(&RootFacts::read(None, None), &RootManagement::Central).status,
            MfaStatus::Unknown
        );
    }

    #[test]
    fn unconfirmed_central_management_keeps_the_root_critical_and_says_why() {
        let facts = RootFacts::read(Some(&bare()), None);
        let j = judge(&facts, &RootManagement::Unknown("AccessDenied".into()));
        assert_eq!(j.status, MfaStatus::Disabled);
        let w = j.warning.unwrap();
        assert!(
            w.contains("iam:ListOrganizationsFeatures") && w.contains("AccessDenied"),
            "{w}"
        );
        assert_eq!(
            judge(&facts, &RootManagement::NotCentral).status,
            MfaStatus::Disabled
        );
    }

    #[test]
    fn the_management_account_is_never_centrally_managed() {
        let on = vec![
            "RootCredentialsManagement".to_owned(),
            "RootSessions".to_owned(),
        ];
        assert_eq!(
            management_for("1", &on, Some("1")),
            RootManagement::NotCentral
        );
        assert_eq!(management_for("2", &on, Some("1")), RootManagement::Central);
        assert_eq!(
            management_for("2", &["RootSessions".into()], Some("1")),
            RootManagement::NotCentral
        );
        assert!(matches!(
            management_for("2", &on, None),
            RootManagement::Unknown(_)
        ));
    }
}
