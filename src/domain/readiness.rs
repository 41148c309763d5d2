//! Who Snowflake will block when it enforces MFA on an account (README
//! "Snowflake: enforcement"): people who sign in with a password and have
//! no MFA (or whose MFA could not be read), and LEGACY_SERVICE users with
//! a password, which Snowflake converts to SERVICE (no passwords). Pure:
//! from the stored state, like the report it is part of.

use serde::Serialize;

use super::snapshot::StoredTarget;
use super::{AccountKind, MfaStatus, Source};

/// Why a user will be blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blocked {
    /// A person signing in with a password and no MFA enrolled.
    PasswordWithoutMfa,
    /// A person signing in with a password whose MFA could not be read:
    /// listed, since "unknown" must not read as ready.
    PasswordMfaUnknown,
    /// A LEGACY_SERVICE user with a password.
    LegacyServicePassword,
}

impl Blocked {
    pub fn phrase(self) -> &'static str {
        match self {
            Blocked::PasswordWithoutMfa => "signs in with a password, no MFA enrolled",
            Blocked::PasswordMfaUnknown => "signs in with a password, MFA could not be read",
            Blocked::LegacyServicePassword => {
                "LEGACY_SERVICE with a password: converted to SERVICE, the password stops working"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessEntry {
    pub principal: String,
    pub why: Blocked,
    pub admin: bool,
}

/// Every Snowflake principal enforcement will block, most urgent first.
pub fn blocked_at_enforcement(targets: &[StoredTarget]) -> Vec<ReadinessEntry> {
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| t.key.source == Source::Snowflake) {
        for p in t.present() {
            // `console_login` is "a password sign-in is possible" for
            // Snowflake users (disabled users have none).
            if !p.attributes.console_login {
                continue;
            }
            let why = match (&p.attributes.kind, p.status) {
                (Some(AccountKind::LegacyService), _) => Blocked::LegacyServicePassword,
                (Some(AccountKind::Service), _) => continue,
                (_, MfaStatus::Disabled | MfaStatus::Insecure) => Blocked::PasswordWithoutMfa,
                (_, MfaStatus::Unknown) => Blocked::PasswordMfaUnknown,
                (_, MfaStatus::Enabled | MfaStatus::NotApplicable) => continue,
            };
            out.push(ReadinessEntry {
                principal: t.key.principal(p.name.clone()).to_string(),
                why,
                admin: p.attributes.admin,
            });
        }
    }
    out.sort_by(|a, b| (a.why, !a.admin, &a.principal).cmp(&(b.why, !b.admin, &b.principal)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::fixtures::{now, target};
    use crate::domain::{Attributes, PrincipalRecord};

    fn user(name: &str, kind: &str, status: MfaStatus, password: bool) -> PrincipalRecord {
        PrincipalRecord {
            name: name.into(),
            status,
            attributes: Attributes {
                console_login: password,
                kind: Some(AccountKind::from(kind)),
                ..Attributes::default()
            },
            first_seen: now(),
            status_since: now(),
            absent_since: None,
            exempt: false,
            grace_until: None,
        }
    }

    #[test]
    fn password_people_without_mfa_and_legacy_services_with_passwords_are_listed_exactly() {
        let mut t = target(Source::Snowflake, "org-acct", &[]);
        for p in [
            user("NO_MFA", "person", MfaStatus::Disabled, true),
            user("UNKNOWN", "person", MfaStatus::Unknown, true),
            user("ENROLLED", "person", MfaStatus::Enabled, true),
            user("SSO", "person", MfaStatus::NotApplicable, false),
            user("LEGACY", "legacy_service", MfaStatus::Disabled, true),
            user(
                "LEGACY_KEY",
                "legacy_service",
                MfaStatus::NotApplicable,
                false,
            ),
            user("SVC", "service", MfaStatus::NotApplicable, false),
            user("GONE", "person", MfaStatus::NotApplicable, false),
        ] {
            t.principals.insert(p.name.clone(), p);
        }
        let aws = target(
            Source::Aws,
            "123456789012",
            &[("bob", MfaStatus::Disabled, false, 3)],
        );
        let got: Vec<(String, Blocked)> = blocked_at_enforcement(&[t, aws])
            .into_iter()
            .map(|e| (e.principal, e.why))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "snowflake:org-acct/NO_MFA".into(),
                    Blocked::PasswordWithoutMfa
                ),
                (
                    "snowflake:org-acct/UNKNOWN".into(),
                    Blocked::PasswordMfaUnknown
                ),
                (
                    "snowflake:org-acct/LEGACY".into(),
                    Blocked::LegacyServicePassword
                ),
            ]
        );
    }
}
