//! One GitHub enterprise through GraphQL: its 2FA requirement and its
//! disallowed-methods policy (as target requirements: switching either off
//! is `requirement_disabled`), every member's 2FA by method security
//! (`twoFactorMethodSecurity`: SECURE → enabled, INSECURE → insecure,
//! DISABLED → disabled; a member in none of the three is `unknown`), the
//! owners as admins, and the enterprise's organizations (for discovery).
//!
//! GitHub shows `ownerInfo` only to enterprise owners (classic token with
//! `read:enterprise`): a null `ownerInfo` fails the target rather than
//! reading as "no policy". Every connection is read to its last page; a
//! filtered listing naming someone outside the full one fails the target
//! as incomplete.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::super::MonitorError;
use super::emu::{managed_org, Judged};
use super::graphql::Graphql;
use super::rest::Bearer;
use crate::domain::{
    AccountKind, Attributes, MfaStatus, NaReason, Observation, Source, TargetKey, TargetSettings,
    TargetSnapshot,
};

/// The target label of an enterprise: org logins cannot hold `:`.
pub const PREFIX: &str = "enterprise:";
/// `TargetSettings.requirements` switches (true = the tighter setting).
pub const REQUIRED: &str = "enterprise_two_factor_required";
pub const SECURE_ONLY: &str = "enterprise_secure_methods_only";
pub const OWNER_INFO_HINT: &str = "GitHub shows an enterprise's 2FA settings and owners only to its owners: use a personal token (classic) of an enterprise owner with the `read:enterprise` scope";

pub(super) const RATE: &str = "rateLimit { cost remaining resetAt }";

fn settings_query() -> String {
    format!(
        "query($slug: String!) {{ enterprise(slug: $slug) {{ slug ownerInfo {{ twoFactorRequiredSetting twoFactorDisallowedMethodsSetting }} }} {RATE} }}"
    )
}

fn members_query() -> String {
    format!(
        "query($slug: String!, $after: String, $security: TwoFactorCredentialSecurityType) {{ enterprise(slug: $slug) {{ members(first: 100, after: $after, twoFactorMethodSecurity: $security) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ __typename ... on User {{ login databaseId }} ... on EnterpriseUserAccount {{ login user {{ databaseId }} }} }} }} }} {RATE} }}"
    )
}

fn admins_query() -> String {
    format!(
        "query($slug: String!, $after: String) {{ enterprise(slug: $slug) {{ ownerInfo {{ admins(first: 100, after: $after, role: OWNER) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ login databaseId }} }} }} }} {RATE} }}"
    )
}

fn organizations_query() -> String {
    format!(
        "query($slug: String!, $after: String) {{ enterprise(slug: $slug) {{ organizations(first: 100, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ login }} }} }} {RATE} }}"
    )
}

struct Member {
    login: String,
    id: Option<u64>,
}

fn member(node: &Value, what: &str) -> Result<Member, MonitorError> {
    let login = node
        .get("login")
        .and_then(Value::as_str)
        .ok_or_else(|| MonitorError::Malformed(format!("{what}: a member without a login")))?;
    let id = node
        .get("databaseId")
        .or_else(|| node.get("user").and_then(|u| u.get("databaseId")))
        .and_then(Value::as_u64);
    Ok(Member {
        login: login.to_owned(),
        id,
    })
}

async fn members(
    gql: &Graphql,
    bearer: &Bearer,
    slug: &str,
    security: Option<&str>,
) -> Result<Vec<Member>, MonitorError> {
    let what = format!(
        "GraphQL enterprise({slug}).members{}",
        security
            .map(|s| format!("(twoFactorMethodSecurity: {s})"))
            .unwrap_or_default()
    );
    gql.connection(
        &what,
        bearer,
        &members_query(),
        json!({ "slug": slug, "security": security }),
        &["enterprise", "members"],
    )
    .await?
    .iter()
    .map(|n| member(n, &what))
    .collect()
}

/// The logins of the enterprise's organizations, every page.
pub async fn organizations(
    gql: &Graphql,
    bearer: &Bearer,
    slug: &str,
) -> Result<Vec<String>, MonitorError> {
    let what = format!("GraphQL enterprise({slug}).organizations");
    gql.connection(
        &what,
        bearer,
        &organizations_query(),
        json!({ "slug": slug }),
        &["enterprise", "organizations"],
    )
    .await?
    .iter()
    .map(|n| {
        n.get("login")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                MonitorError::Malformed(format!("{what}: an organization without a login"))
            })
    })
    .collect()
}

/// The enterprise's 2FA policy as requirements and details, with warnings
/// for values this build does not know (kept out rather than guessed).
pub async fn policy(
    gql: &Graphql,
    bearer: &Bearer,
    slug: &str,
) -> Result<(TargetSettings, Vec<String>), MonitorError> {
    let what = format!("GraphQL enterprise({slug}) 2FA settings");
    let data = gql
        .query(&what, bearer, &settings_query(), json!({ "slug": slug }))
        .await?;
    let enterprise = data
        .get("enterprise")
        .filter(|e| !e.is_null())
        .ok_or_else(|| MonitorError::Call {
            operation: "github",
            message: format!(
                "{what}: enterprise `{slug}` does not exist or the {} cannot see it",
                bearer.kind.describe()
            ),
            source: None,
        })?;
    let owner = enterprise
        .get("ownerInfo")
        .filter(|o| !o.is_null())
        .ok_or_else(|| MonitorError::Call {
            operation: "github",
            message: format!("{what}: `ownerInfo` is null. {OWNER_INFO_HINT}"),
            source: None,
        })?;
    let mut settings = TargetSettings::default();
    let mut warnings = Vec::new();
    let mut switch = |field: &str, name: &str, tight: &str, loose: &str| {
        match owner.get(field).and_then(Value::as_str) {
            Some(v) if v == tight => {
                settings.requirements.insert(name.to_owned(), true);
            }
            Some(v) if v == loose => {
                settings.requirements.insert(name.to_owned(), false);
            }
            other => warnings.push(format!(
                "{what}: `{field}` is {}, a value this version does not know; the setting is not judged",
                other.map_or("missing".to_owned(), |v| format!("`{v}`"))
            )),
        }
        if let Some(v) = owner.get(field).and_then(Value::as_str) {
            settings.details.insert(field.to_owned(), v.to_owned());
        }
    };
    switch("twoFactorRequiredSetting", REQUIRED, "ENABLED", "NO_POLICY");
    switch(
        "twoFactorDisallowedMethodsSetting",
        SECURE_ONLY,
        "INSECURE",
        "NO_POLICY",
    );
    Ok((settings, warnings))
}

/// The enterprise read whole.
pub async fn read_enterprise(
    gql: &Graphql,
    bearer: &Bearer,
    slug: &str,
    emu: Option<Option<&str>>,
) -> Result<TargetSnapshot, MonitorError> {
    let admins_what = format!("GraphQL enterprise({slug}).ownerInfo.admins");
    let admins_q = admins_query();
    let admins_vars = json!({ "slug": slug });
    let ((mut settings, mut warnings), all, secure, insecure, disabled, admins) = tokio::try_join!(
        policy(gql, bearer, slug),
        members(gql, bearer, slug, None),
        members(gql, bearer, slug, Some("SECURE")),
        members(gql, bearer, slug, Some("INSECURE")),
        members(gql, bearer, slug, Some("DISABLED")),
        gql.connection(
            &admins_what,
            bearer,
            &admins_q,
            admins_vars,
            &["enterprise", "ownerInfo", "admins"],
        ),
    )?;
    let key = |m: &Member| m.login.to_ascii_lowercase();
    let everyone: BTreeSet<String> = all.iter().map(key).collect();
    let mut status: BTreeMap<String, MfaStatus> = BTreeMap::new();
    for (list, s, name) in [
        (&secure, MfaStatus::Enabled, "SECURE"),
        (&insecure, MfaStatus::Insecure, "INSECURE"),
        (&disabled, MfaStatus::Disabled, "DISABLED"),
    ] {
        let outside = list.iter().filter(|m| !everyone.contains(&key(m))).count();
        if outside > 0 {
            return Err(MonitorError::Incomplete(format!(
                "enterprise {slug}: {outside} member(s) of twoFactorMethodSecurity: {name} are not in the full member listing (it moved while read)"
            )));
        }
        for m in list.iter() {
            // The weakest reading wins if a member shows in two lists.
            let e = status.entry(key(m)).or_insert(s);
            if s == MfaStatus::Disabled || (s == MfaStatus::Insecure && *e == MfaStatus::Enabled) {
                *e = s;
            }
        }
    }
    let owners: BTreeSet<String> = admins
        .iter()
        .filter_map(|n| n.get("login").and_then(Value::as_str))
        .map(str::to_ascii_lowercase)
        .collect();
    let logins: Vec<&str> = all.iter().map(|m| m.login.as_str()).collect();
    let managed = managed_org(&logins, emu);
    let unmeasured = all.iter().filter(|m| !status.contains_key(&key(m))).count();
    if unmeasured > 0 {
        warnings.push(format!(
            "enterprise {slug}: {unmeasured} member(s) are in no 2FA method-security listing (e.g. accounts only on a GitHub Enterprise Server instance): their 2FA is unknown"
        ));
    }
    let missing_owners = owners.iter().filter(|o| !everyone.contains(*o)).count();
    if missing_owners > 0 {
        warnings.push(format!(
            "enterprise {slug}: {missing_owners} owner(s) are not enterprise members, so their 2FA is not read here"
        ));
    }
    if let Some(m) = &managed {
        settings.details.insert(
            "managed_users".into(),
            format!("Enterprise Managed Users (shortcode `{}`)", m.shortcode),
        );
    }
    let mut principals: Vec<Observation> = all
        .into_iter()
        .map(|m| {
            let judged = managed
                .as_ref()
                .map_or(Judged::Other, |o| o.judge(&m.login));
            let (status, reason) = match judged {
                Judged::Managed => (MfaStatus::NotApplicable, Some(NaReason::IdpManaged)),
                _ => (
                    status.get(&key(&m)).copied().unwrap_or(MfaStatus::Unknown),
                    None,
                ),
            };
            Observation::new(
                m.login.clone(),
                status,
                Attributes {
                    admin: owners.contains(&key(&m)) || judged == Judged::SetupUser,
                    console_login: judged != Judged::Managed,
                    kind: (judged == Judged::SetupUser).then(|| AccountKind::from("setup_user")),
                    stable_id: m.id.map(|i| i.to_string()),
                    reason,
                    ..Attributes::default()
                },
            )
        })
        .collect();
    principals.sort_by(|a, b| a.name.cmp(&b.name));
    principals.dedup_by(|a, b| a.name.eq_ignore_ascii_case(&b.name));
    Ok(TargetSnapshot {
        key: TargetKey::new(Source::Github, format!("{PREFIX}{slug}")),
        principals,
        settings,
        warnings,
    })
}
