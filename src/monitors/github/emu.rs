//! Enterprise Managed Users: which members of an org are managed user
//! accounts (signing in through the identity provider, with no GitHub
//! password or 2FA) and which one is the enterprise's setup user.
//!
//! GitHub names a managed user `HANDLE_SHORTCODE` and the setup user
//! `SHORTCODE_admin`, and personal accounts cannot contain `_` at all
//! (only letters, digits and single hyphens). So an org is judged a
//! managed-user org when more than half of its people (two at least)
//! share one `_SHORTCODE` suffix; `GITHUB_EMU_ORGS` declares it outright,
//! with or without the shortcode. Pure: no I/O, all the rules are here.
//!
//! Erring safe: an org not judged managed is measured as any other (a
//! managed user then shows as `disabled`, a false alarm, never a false
//! all-clear), and in a managed org only logins carrying the shortcode are
//! `not_applicable`; anyone else is measured.

use std::collections::BTreeMap;

/// How one login of a managed-user org is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// `HANDLE_SHORTCODE`: the identity provider's MFA applies.
    Managed,
    /// `SHORTCODE_admin`: signs in with a password; measured.
    SetupUser,
    /// Anyone else: measured.
    Other,
}

/// What the monitor knows of an org's managed users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedOrg {
    pub shortcode: String,
    /// Declared in `GITHUB_EMU_ORGS` rather than inferred from the logins.
    pub declared: bool,
}

impl ManagedOrg {
    pub fn judge(&self, login: &str) -> Judged {
        let code = &self.shortcode;
        if login.eq_ignore_ascii_case(&format!("{code}_admin")) {
            return Judged::SetupUser;
        }
        match login.rsplit_once('_') {
            Some((handle, suffix)) if !handle.is_empty() && suffix.eq_ignore_ascii_case(code) => {
                Judged::Managed
            }
            _ => Judged::Other,
        }
    }
}

/// The shortcode most logins carry as `_SHORTCODE`, with how many carry it.
fn commonest_suffix<'a>(logins: impl Iterator<Item = &'a str>) -> Option<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for login in logins {
        if let Some((handle, suffix)) = login.rsplit_once('_') {
            // The setup user `SHORTCODE_admin` names the code first.
            let code = if suffix.eq_ignore_ascii_case("admin") {
                handle
            } else {
                suffix
            };
            if !code.is_empty() && !handle.is_empty() {
                *counts.entry(code.to_ascii_lowercase()).or_default() += 1;
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n)
}

/// Judges an org from its logins and the operator's declaration
/// (`declared`: `None` not declared, `Some(None)` declared without a
/// shortcode, `Some(Some(code))` declared with one).
pub fn managed_org(logins: &[&str], declared: Option<Option<&str>>) -> Option<ManagedOrg> {
    match declared {
        Some(Some(code)) => Some(ManagedOrg {
            shortcode: code.to_ascii_lowercase(),
            declared: true,
        }),
        Some(None) => commonest_suffix(logins.iter().copied()).map(|(shortcode, _)| ManagedOrg {
            shortcode,
            declared: true,
        }),
        None => {
            let (shortcode, n) = commonest_suffix(logins.iter().copied())?;
            (n >= 2 && n * 2 > logins.len()).then_some(ManagedOrg {
                shortcode,
                declared: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_whose_logins_share_a_shortcode_is_managed_and_its_setup_user_is_measured() {
        let logins = [
            "alice_fabrikam",
            "bob_fabrikam",
            "fabrikam_admin",
            "carol-x_fabrikam",
        ];
        let org = managed_org(&logins, None).unwrap();
        assert_eq!(org.shortcode, "fabrikam");
        assert!(!org.declared);
        assert_eq!(org.judge("alice_fabrikam"), Judged::Managed);
        assert_eq!(org.judge("fabrikam_admin"), Judged::SetupUser);
        assert_eq!(org.judge("octocat"), Judged::Other);
        assert_eq!(org.judge("mallory_contoso"), Judged::Other);
    }

    #[test]
    fn an_ordinary_org_or_a_lone_underscore_is_not_judged_managed() {
        assert_eq!(managed_org(&["octocat", "hubot", "mona-lisa"], None), None);
        // One legacy login with `_` in an org of three is no majority.
        assert_eq!(managed_org(&["old_timer", "octocat", "hubot"], None), None);
        // A single member is too little to infer from.
        assert_eq!(managed_org(&["alice_fabrikam"], None), None);
        assert_eq!(managed_org(&[], None), None);
    }

    #[test]
    fn a_declared_org_uses_the_given_shortcode_or_the_commonest_one() {
        let org = managed_org(&["octocat"], Some(Some("Fabrikam"))).unwrap();
        assert_eq!(org.judge("alice_fabrikam"), Judged::Managed);
        assert_eq!(org.judge("octocat"), Judged::Other);
        let org = managed_org(&["alice_fabrikam"], Some(None)).unwrap();
        assert_eq!(org.shortcode, "fabrikam");
        assert!(org.declared);
        assert_eq!(managed_org(&["octocat"], Some(None)), None);
    }
}
