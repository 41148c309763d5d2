//! One organization read whole: the org's settings, every member and
//! outside collaborator with their 2FA (from the `2fa_disabled` /
//! `2fa_insecure` filters), the owners, the pending invitations, and the
//! managed users judged (`emu.rs`). A listing that moved while it was read
//! is read again once, then the org fails as incomplete: a member skipped
//! in `2fa_disabled` must not read as enabled.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use tracing::warn;

use super::super::MonitorError;
use super::emu::{managed_org, Judged, ManagedOrg};
use super::paging::{note_shift, Entry, Lister, Listing, Shifts, SimpleUser};
use super::rest::{body_error, ok_or_error, Bearer, CredentialKind, Rest};
use crate::domain::{
    AccountKind, Attributes, MfaStatus, NaReason, Observation, Source, TargetKey, TargetSettings,
    TargetSnapshot,
};

const OUTSIDE_COLLABORATOR: &str = "outside_collaborator";
const SETUP_USER: &str = "setup_user";
/// `TargetSettings.details` key of the pending invitations.
pub const INVITED: &str = "invited";
pub const OWNER_HINT: &str = "GitHub shows 2FA status only to organization owners: use a token of an org owner (classic token: `read:org` scope; fine-grained: organization Members read, and Administration read for the 2FA requirement)";
pub const APP_HINT: &str = "GitHub documents the `2fa_disabled` / `2fa_insecure` filters as available to organization owners only, and an App installation is not an owner: give the App the organization permission Members (read), and if GitHub still refuses, read this org with an org owner's personal token instead (GITHUB_TOKEN: classic `read:org`, or fine-grained organization Members read)";

#[derive(Debug, Deserialize)]
struct Org {
    #[serde(default)]
    two_factor_requirement_enabled: Option<bool>,
}

/// One entry of `GET /orgs/{org}/invitations`: `login` is null for an
/// invitation sent to an email address.
#[derive(Debug, Deserialize)]
pub struct Invitation {
    pub id: u64,
    #[serde(default)]
    pub login: Option<String>,
}

impl Entry for Invitation {
    fn id(&self) -> u64 {
        self.id
    }
}

/// What the operator said of an org in `GITHUB_EMU_ORGS`.
pub type EmuDeclared<'a> = Option<Option<&'a str>>;

fn hint(kind: CredentialKind, accepted: Option<&str>) -> String {
    let base = match kind {
        CredentialKind::Token => OWNER_HINT,
        CredentialKind::Installation | CredentialKind::AppJwt => APP_HINT,
    };
    match accepted {
        Some(a) if !a.trim().is_empty() => {
            format!("{base} (GitHub names the permissions this call takes: {a})")
        }
        _ => base.to_owned(),
    }
}

async fn org_settings(
    rest: &Rest,
    bearer: &Bearer,
    org: &str,
) -> Result<TargetSettings, MonitorError> {
    let what = format!("GET /orgs/{org}");
    let resp = rest
        .get(&rest.url(&format!("orgs/{org}"), &[]), &what, bearer)
        .await?;
    let resp = ok_or_error(resp, &what, org, bearer.kind).await?;
    let body = resp.text().await.map_err(|e| body_error(&what, e))?;
    let info: Org = serde_json::from_str(&body)
        .map_err(|e| MonitorError::Malformed(format!("{what}: not an organization object: {e}")))?;
    Ok(TargetSettings {
        mfa_required: info.two_factor_requirement_enabled,
        ..TargetSettings::default()
    })
}

/// The org's settings alone, for `check`.
pub async fn settings(
    rest: &Rest,
    bearer: &Bearer,
    org: &str,
) -> Result<TargetSettings, MonitorError> {
    org_settings(rest, bearer, org).await
}

/// A listing that must be read whole: a refusal is an error here.
async fn users(
    lister: &Lister<'_>,
    path: &str,
    query: &[(&str, &str)],
) -> Result<Vec<SimpleUser>, MonitorError> {
    match lister.list(path, query).await? {
        Listing::Entries(u) => Ok(u),
        Listing::Refused { accepted } => Err(MonitorError::Call {
            operation: "github",
            message: format!(
                "GET /orgs/{}/{path} was refused (422). {}",
                lister.org,
                hint(lister.bearer.kind, accepted.as_deref())
            ),
            source: None,
        }),
    }
}

/// Reads the org, and once more when its listings moved while read.
pub async fn collect_org(
    rest: &Rest,
    bearer: &Bearer,
    org: &str,
    emu: EmuDeclared<'_>,
) -> Result<TargetSnapshot, MonitorError> {
    let shifts = Shifts::default();
    let snapshot = read_org(rest, bearer, org, emu, &shifts).await?;
    let first = std::mem::take(&mut *shifts.lock().unwrap_or_else(|e| e.into_inner()));
    if first.is_empty() {
        return Ok(snapshot);
    }
    warn!(%org, reasons = ?first, "listings moved while read; reading the org again");
    let snapshot = read_org(rest, bearer, org, emu, &shifts).await?;
    let again = shifts.into_inner().unwrap_or_else(|e| e.into_inner());
    if again.is_empty() {
        return Ok(snapshot);
    }
    Err(MonitorError::Incomplete(format!(
        "the listings of {org} moved while they were read, twice in a row: {}",
        again.join("; ")
    )))
}

/// The invitations as the report shows them: logins, then how many went
/// to an email address (the addresses themselves are not spread further).
pub fn invited_detail(invitations: &[Invitation]) -> String {
    let mut logins: Vec<&str> = invitations
        .iter()
        .filter_map(|i| i.login.as_deref())
        .collect();
    logins.sort_unstable_by_key(|l| l.to_ascii_lowercase());
    let by_email = invitations.len() - logins.len();
    let mut text = logins.join(", ");
    if by_email > 0 {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&format!("{by_email} by email"));
    }
    format!("{} pending: {text}", invitations.len())
}

async fn read_org(
    rest: &Rest,
    bearer: &Bearer,
    org: &str,
    emu: EmuDeclared<'_>,
    shifts: &Shifts,
) -> Result<TargetSnapshot, MonitorError> {
    let l = Lister {
        rest,
        bearer,
        org,
        shifts,
    };
    let (
        (mut settings, members, disabled, insecure, owners),
        (collaborators, c_disabled, c_insecure, invitations),
    ) = tokio::try_join!(
        async {
            tokio::try_join!(
                org_settings(rest, bearer, org),
                users(&l, "members", &[("filter", "all")]),
                l.list::<SimpleUser>("members", &[("filter", "2fa_disabled")]),
                l.list::<SimpleUser>("members", &[("filter", "2fa_insecure")]),
                users(&l, "members", &[("role", "admin")]),
            )
        },
        async {
            let (c, cd, ci) = tokio::try_join!(
                users(&l, "outside_collaborators", &[("filter", "all")]),
                l.list::<SimpleUser>("outside_collaborators", &[("filter", "2fa_disabled")]),
                l.list::<SimpleUser>("outside_collaborators", &[("filter", "2fa_insecure")]),
            )?;
            // Kept apart: an org whose invitations cannot be read still
            // has its members' 2FA read (see below).
            let invitations = l.list::<Invitation>("invitations", &[]).await;
            Ok::<_, MonitorError>((c, cd, ci, invitations))
        },
    )?;
    // Each filtered listing is a part of its full one; an id outside it
    // was read at another moment than the full listing.
    let ids = |u: &[SimpleUser]| u.iter().map(|u| u.id).collect::<BTreeSet<u64>>();
    let all_members = ids(&members);
    let all_collaborators = ids(&collaborators);
    let parts = [
        (
            "members?filter=2fa_disabled",
            disabled.entries(),
            &all_members,
        ),
        (
            "members?filter=2fa_insecure",
            insecure.entries(),
            &all_members,
        ),
        ("members?role=admin", Some(&owners), &all_members),
        (
            "outside_collaborators?filter=2fa_disabled",
            c_disabled.entries(),
            &all_collaborators,
        ),
        (
            "outside_collaborators?filter=2fa_insecure",
            c_insecure.entries(),
            &all_collaborators,
        ),
    ];
    for (what, part, whole) in parts {
        let outside = part.map_or(0, |p| p.iter().filter(|u| !whole.contains(&u.id)).count());
        if outside > 0 {
            note_shift(
                shifts,
                format!("{outside} user(s) of {what} are not in the full listing"),
            );
        }
    }
    let logins: Vec<&str> = members.iter().map(|u| u.login.as_str()).collect();
    let managed: Option<ManagedOrg> = managed_org(&logins, emu);
    let mut warnings = Vec::new();
    match (&managed, emu) {
        (Some(m), _) => {
            settings.details.insert(
                "managed_users".into(),
                format!(
                    "Enterprise Managed Users (shortcode `{}`, {})",
                    m.shortcode,
                    if m.declared {
                        "declared in GITHUB_EMU_ORGS"
                    } else {
                        "judged from the members' `_SHORTCODE` logins"
                    }
                ),
            );
        }
        (None, Some(_)) => warnings.push(format!(
            "{org} is in GITHUB_EMU_ORGS but no member login carries a `_SHORTCODE` suffix: every member is measured; give the shortcode as `{org}:SHORTCODE`"
        )),
        (None, None) => {}
    }
    // GitHub has no invitations in managed-user orgs (the IdP adds
    // members), so there a refused listing is expected; elsewhere a
    // refusal or failure leaves a warning, never a shorter list.
    match (invitations, &managed) {
        (_, Some(_)) => {}
        (Ok(Listing::Entries(inv)), None) => {
            if !inv.is_empty() {
                settings.details.insert(INVITED.into(), invited_detail(&inv));
            }
        }
        (Ok(Listing::Refused { .. }), None) => warnings.push(format!(
            "the pending invitations of {org} could not be read (HTTP 422)"
        )),
        (Err(e), None) => warnings.push(format!(
            "the pending invitations of {org} could not be read, so the report does not list them: {e}"
        )),
    }
    let owners: BTreeSet<u64> = owners.iter().map(|u| u.id).collect();
    let mut principals: BTreeMap<u64, Observation> = BTreeMap::new();
    // Who could not be measured, for one message naming all of them.
    let mut unknown: Vec<&str> = Vec::new();
    let mut unknown_hint: Option<String> = None;
    let populations = [
        (members, disabled, insecure, None),
        (
            collaborators,
            c_disabled,
            c_insecure,
            Some(OUTSIDE_COLLABORATOR),
        ),
    ];
    for (everyone, disabled, insecure, kind) in populations {
        let refused_hint = match (&disabled, &insecure) {
            (Listing::Refused { accepted }, _) | (_, Listing::Refused { accepted }) => {
                Some(hint(bearer.kind, accepted.as_deref()))
            }
            _ => None,
        };
        let statuses = match (disabled, insecure) {
            (Listing::Entries(d), Listing::Entries(i)) => Some((
                d.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
                i.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
            )),
            _ => None,
        };
        let measured = everyone
            .iter()
            .filter(|u| {
                managed
                    .as_ref()
                    .is_none_or(|m| m.judge(&u.login) != Judged::Managed)
            })
            .count();
        if let (None, Some(why)) = (&statuses, refused_hint) {
            if measured > 0 {
                unknown.push(if kind.is_some() {
                    "outside collaborators"
                } else {
                    "members"
                });
                unknown_hint = Some(why);
            }
        }
        for user in everyone {
            let judged = managed
                .as_ref()
                .map_or(Judged::Other, |m| m.judge(&user.login));
            let (status, reason) = match (&statuses, judged) {
                (_, Judged::Managed) => (MfaStatus::NotApplicable, Some(NaReason::IdpManaged)),
                (None, _) => (MfaStatus::Unknown, None),
                (Some((d, _)), _) if d.contains(&user.id) => (MfaStatus::Disabled, None),
                (Some((_, i)), _) if i.contains(&user.id) => (MfaStatus::Insecure, None),
                (Some(_), _) => (MfaStatus::Enabled, None),
            };
            let kind = match judged {
                Judged::SetupUser => Some(AccountKind::from(SETUP_USER)),
                _ => kind.map(AccountKind::from),
            };
            principals.entry(user.id).or_insert_with(|| {
                Observation::new(
                    user.login,
                    status,
                    Attributes {
                        // The setup user is the enterprise's administrative
                        // account (GitHub: "an administrative account").
                        admin: owners.contains(&user.id) || judged == Judged::SetupUser,
                        console_login: judged != Judged::Managed,
                        kind,
                        stable_id: Some(user.id.to_string()),
                        reason,
                        ..Attributes::default()
                    },
                )
            });
        }
    }
    if let Some(why) = unknown_hint {
        let credential = match bearer.kind {
            CredentialKind::Token => "the token is not an owner of",
            _ => "the GitHub App installation token was refused the 2FA filters of",
        };
        warnings.push(format!(
            "{credential} {org}: the 2FA status of its {} is unknown. {why}",
            unknown.join(" and ")
        ));
    }
    let mut principals: Vec<Observation> = principals.into_values().collect();
    principals.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TargetSnapshot {
        key: TargetKey::new(Source::Github, org),
        principals,
        settings,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitations_show_logins_and_a_count_of_those_sent_by_email() {
        let inv = |id, login: Option<&str>| Invitation {
            id,
            login: login.map(str::to_owned),
        };
        let text = invited_detail(&[inv(1, Some("zed")), inv(2, None), inv(3, Some("Amy"))]);
        assert_eq!(text, "3 pending: Amy, zed, 1 by email");
        assert_eq!(invited_detail(&[inv(1, None)]), "1 pending: 1 by email");
    }
}
