//! How a Snowflake user signs in decides what MFA means for them (README
//! "Snowflake: how each user is judged"). Pure: a `SHOW USERS` row and what
//! the account's authentication policies say in, a status out.
//!
//! - `PERSON`, or no type (Snowflake treats NULL as a person), with a
//!   password: `has_mfa` decides.
//! - A person without a password signs in through SSO, OAuth or a key
//!   pair, where MFA is the identity provider's job: `not_applicable`
//!   (`sso_only`), unless an authentication policy enforces Snowflake MFA
//!   on external authentication for them, when `has_mfa` decides again.
//! - `LEGACY_SERVICE` with a password: a password login without MFA
//!   (Snowflake exempts the type from MFA), flagged with the conversion
//!   hint; without one, a service.
//! - `SERVICE` and disabled users: `not_applicable`.
//!
//! A column that is missing (older accounts) or null is unknown, never
//! false: it can make a status `unknown`, never `disabled`.

use super::rows::Row;
use crate::domain::{AccountKind, Attributes, MfaStatus, NaReason};

/// The `SHOW USERS` columns the monitor reads (the fuzz targets parse
/// with the same list). `has_federated_workload_authentication` and
/// `is_from_organization_user` say nothing about MFA and are left unread.
pub const USER_COLUMNS: &[&str] = &[
    "name",
    "type",
    "disabled",
    "has_password",
    "has_mfa",
    "ext_authn_duo",
    "mins_to_bypass_mfa",
    "has_pat",
    // The holder's address, which links the user to a person.
    "email",
];

/// What a LEGACY_SERVICE user with a password is told.
pub const LEGACY_SERVICE_HINT: &str = "LEGACY_SERVICE with a password: Snowflake converts LEGACY_SERVICE users to SERVICE, and the password stops working; move it to key-pair, OAuth or workload identity authentication";

/// What the account's authentication policies say about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyForUser {
    /// The policy that governs the user (theirs, else the account's)
    /// enforces Snowflake MFA on SSO sign-ins. `None`: unreadable.
    pub mfa_on_external_authentication: Option<bool>,
}

pub(crate) fn flag(row: &Row, column: &str) -> Option<bool> {
    match row.get(column).map(str::to_ascii_lowercase).as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

fn kind_of(row: &Row) -> AccountKind {
    let raw = row
        .get("type")
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("null"))
        .unwrap_or("PERSON");
    AccountKind::from(raw)
}

fn from_has_mfa(row: &Row) -> MfaStatus {
    // Duo enrolled before has_mfa covered every method shows only here.
    if flag(row, "ext_authn_duo") == Some(true) {
        return MfaStatus::Enabled;
    }
    match flag(row, "has_mfa") {
        Some(true) => MfaStatus::Enabled,
        Some(false) => MfaStatus::Disabled,
        None => MfaStatus::Unknown,
    }
}

/// A user's status and attributes from its `SHOW USERS` row.
pub fn judge(row: &Row, admin: bool, policy: PolicyForUser) -> (MfaStatus, Attributes) {
    let kind = kind_of(row);
    let disabled = flag(row, "disabled") == Some(true);
    let password = flag(row, "has_password");
    let has_pat = flag(row, "has_pat") == Some(true);
    let bypass = row
        .get("mins_to_bypass_mfa")
        .and_then(|m| m.trim().parse::<i64>().ok())
        .is_some_and(|m| m > 0);
    let person = !matches!(kind, AccountKind::Service | AccountKind::LegacyService);

    let (status, reason, hint) = if disabled {
        (MfaStatus::NotApplicable, Some(NaReason::DisabledUser), None)
    } else {
        match (&kind, password) {
            (AccountKind::Service, _) => {
                (MfaStatus::NotApplicable, Some(NaReason::ServiceUser), None)
            }
            (AccountKind::LegacyService, Some(true)) => (
                MfaStatus::Disabled,
                None,
                Some(LEGACY_SERVICE_HINT.to_owned()),
            ),
            (AccountKind::LegacyService, Some(false)) => {
                (MfaStatus::NotApplicable, Some(NaReason::ServiceUser), None)
            }
            (AccountKind::LegacyService, None) => (MfaStatus::Unknown, None, None),
            (_, Some(true)) => (from_has_mfa(row), None, None),
            (_, Some(false)) => match (from_has_mfa(row), policy.mfa_on_external_authentication) {
                // Enrolled anyway: say so, it is never wrong.
                (MfaStatus::Enabled, _) => (MfaStatus::Enabled, None, None),
                (status, Some(true)) => (status, None, None),
                // Not enforced, or the policy unreadable: SSO is the
                // identity provider's to protect (the target warns when
                // the policy could not be read).
                (_, _) => (MfaStatus::NotApplicable, Some(NaReason::SsoOnly), None),
            },
            // How they sign in is unknown: only a positive has_mfa tells.
            (_, None) => match from_has_mfa(row) {
                MfaStatus::Enabled => (MfaStatus::Enabled, None, None),
                _ => (MfaStatus::Unknown, None, None),
            },
        }
    };
    let attributes = Attributes {
        admin,
        // A password sign-in is possible: what enforcement will block.
        console_login: !disabled && password == Some(true),
        kind: Some(kind),
        // A programmatic access token signs in without a second factor: on
        // a person who is an admin it is an MFA bypass (README "PATs").
        bypass_active: !disabled && (bypass || (admin && person && has_pat)),
        has_pat,
        hint,
        reason,
        ..Attributes::default()
    };
    (status, attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&'static str, &str)]) -> Row {
        Row::new(
            pairs.iter().map(|(k, _)| *k).collect(),
            pairs.iter().map(|(_, v)| Some(v.to_string())).collect(),
        )
    }

    const NOT_ENFORCED: PolicyForUser = PolicyForUser {
        mfa_on_external_authentication: Some(false),
    };
    const ENFORCED: PolicyForUser = PolicyForUser {
        mfa_on_external_authentication: Some(true),
    };

    fn s(pairs: &[(&'static str, &str)]) -> (MfaStatus, Option<NaReason>) {
        let (status, a) = judge(&row(pairs), false, NOT_ENFORCED);
        (status, a.reason)
    }

    #[test]
    fn a_person_with_a_password_is_judged_by_has_mfa_and_a_null_type_is_a_person() {
        for kind in ["PERSON", "null", ""] {
            let base = [("type", kind), ("has_password", "true")];
            let with = |mfa| {
                let mut v = base.to_vec();
                v.push(("has_mfa", mfa));
                s(&v).0
            };
            assert_eq!(with("true"), MfaStatus::Enabled, "{kind}");
            assert_eq!(with("false"), MfaStatus::Disabled, "{kind}");
            assert_eq!(with("null"), MfaStatus::Unknown, "{kind}");
        }
        assert_eq!(
            s(&[("has_password", "true"), ("has_mfa", "false")]).0,
            MfaStatus::Disabled,
            "no type column at all"
        );
        assert_eq!(
            s(&[
                ("has_password", "true"),
                ("has_mfa", "false"),
                ("ext_authn_duo", "true")
            ])
            .0,
            MfaStatus::Enabled,
            "Duo enrolled the old way"
        );
    }

    #[test]
    fn a_person_without_a_password_is_sso_only_unless_a_policy_enforces_mfa_on_sso() {
        let sso = [
            ("type", "PERSON"),
            ("has_password", "false"),
            ("has_mfa", "false"),
        ];
        assert_eq!(s(&sso), (MfaStatus::NotApplicable, Some(NaReason::SsoOnly)));
        let (status, a) = judge(&row(&sso), false, ENFORCED);
        assert_eq!((status, a.reason), (MfaStatus::Disabled, None));
        let (status, a) = judge(&row(&sso), false, PolicyForUser::default());
        assert_eq!(
            (status, a.reason),
            (MfaStatus::NotApplicable, Some(NaReason::SsoOnly)),
            "an unreadable policy is no finding (the target warns)"
        );
        let mut enrolled = sso.to_vec();
        enrolled[2] = ("has_mfa", "true");
        assert_eq!(s(&enrolled).0, MfaStatus::Enabled);
        assert!(!judge(&row(&sso), false, ENFORCED).1.console_login);
    }

    #[test]
    fn a_missing_password_or_mfa_column_is_unknown_never_disabled() {
        assert_eq!(
            s(&[("type", "PERSON"), ("has_mfa", "false")]).0,
            MfaStatus::Unknown
        );
        assert_eq!(
            s(&[("type", "PERSON"), ("has_mfa", "true")]).0,
            MfaStatus::Enabled
        );
        assert_eq!(
            s(&[("type", "PERSON"), ("has_password", "true")]).0,
            MfaStatus::Unknown
        );
        assert_eq!(s(&[("type", "LEGACY_SERVICE")]).0, MfaStatus::Unknown);
    }

    #[test]
    fn legacy_service_with_a_password_is_flagged_with_the_conversion_hint() {
        let (status, a) = judge(
            &row(&[
                ("type", "LEGACY_SERVICE"),
                ("has_password", "true"),
                ("has_mfa", "false"),
            ]),
            false,
            NOT_ENFORCED,
        );
        assert_eq!(status, MfaStatus::Disabled);
        assert!(a
            .hint
            .as_deref()
            .unwrap()
            .contains("converts LEGACY_SERVICE"));
        assert!(a.console_login);
        assert_eq!(
            s(&[("type", "LEGACY_SERVICE"), ("has_password", "false")]),
            (MfaStatus::NotApplicable, Some(NaReason::ServiceUser))
        );
    }

    #[test]
    fn service_and_disabled_users_are_not_applicable_with_their_reason() {
        assert_eq!(
            s(&[("type", "SERVICE"), ("has_password", "false")]),
            (MfaStatus::NotApplicable, Some(NaReason::ServiceUser))
        );
        assert_eq!(
            s(&[
                ("type", "PERSON"),
                ("has_password", "true"),
                ("has_mfa", "false"),
                ("disabled", "true")
            ]),
            (MfaStatus::NotApplicable, Some(NaReason::DisabledUser))
        );
    }

    #[test]
    fn a_pat_is_shown_and_on_an_admin_person_is_a_bypass() {
        let with_pat = [
            ("type", "PERSON"),
            ("has_password", "false"),
            ("has_pat", "true"),
        ];
        let (_, a) = judge(&row(&with_pat), false, NOT_ENFORCED);
        assert!(a.has_pat && !a.bypass_active);
        let (_, a) = judge(&row(&with_pat), true, NOT_ENFORCED);
        assert!(a.has_pat && a.bypass_active, "an admin's PAT skips MFA");
        let (_, a) = judge(
            &row(&[("type", "SERVICE"), ("has_pat", "true")]),
            true,
            NOT_ENFORCED,
        );
        assert!(
            a.has_pat && !a.bypass_active,
            "services are meant to use PATs"
        );
    }

    #[test]
    fn a_positive_mins_to_bypass_mfa_is_an_active_bypass() {
        let (_, a) = judge(
            &row(&[
                ("has_password", "true"),
                ("has_mfa", "true"),
                ("mins_to_bypass_mfa", "30"),
            ]),
            true,
            NOT_ENFORCED,
        );
        assert!(a.bypass_active && a.admin);
        let (_, a) = judge(
            &row(&[("has_mfa", "true"), ("mins_to_bypass_mfa", "null")]),
            false,
            NOT_ENFORCED,
        );
        assert!(!a.bypass_active);
    }
}
