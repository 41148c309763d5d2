//! GitHub: every member's and outside collaborator's 2FA in each org, the
//! org's 2FA requirement, pending invitations, managed users judged, and
//! (through GraphQL) enterprises with their 2FA policy, members, owners and
//! organizations.
//!
//! GitHub tells 2FA status only through list filters (`2fa_disabled`,
//! `2fa_insecure`) and only to org owners; a refused filter (422) makes
//! every status `unknown`, never guessed. Every listing is read to its
//! last page; anything less fails the target.
//!
//! Files: `rest.rs` (calls and their errors), `paging.rs` (every page),
//! `app_auth.rs` (GitHub App JWT and installation tokens), `org.rs` (one
//! org read whole), `emu.rs` (managed users, pure), `graphql.rs` (queries,
//! cursors, errors, the point budget), `enterprise.rs` (one enterprise).

mod app_auth;
mod emails;
mod emu;
mod enterprise;
mod graphql;
mod org;
mod paging;
mod rest;

use async_trait::async_trait;
use secrecy::SecretString;

pub use app_auth::REFRESH_BEFORE;
pub use emu::{managed_org, Judged, ManagedOrg};
pub use enterprise::{
    OWNER_INFO_HINT, PREFIX as ENTERPRISE_PREFIX, REQUIRED as ENTERPRISE_REQUIRED,
    SECURE_ONLY as ENTERPRISE_SECURE_ONLY,
};
pub use org::{invited_detail, APP_HINT, INVITED, OWNER_HINT};
pub use paging::{links, page_param, parse_page, with_page, SimpleUser};
pub use rest::CredentialKind;

use super::{Discovery, Monitor, MonitorError};
use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::CheckItem;
use crate::http::HttpClient;
use crate::jwt::Rs256Signer;
use app_auth::AppAuth;
use graphql::Graphql;
use paging::{Lister, Listing, Shifts};
use rest::{Bearer, Rest};

enum Credential {
    Token(SecretString),
    App(Box<AppAuth>),
}

pub struct GithubMonitor {
    rest: Rest,
    credential: Credential,
    orgs: Vec<String>,
    /// `GITHUB_EMU_ORGS`: org (lower case) → shortcode if given.
    emu_orgs: Vec<(String, Option<String>)>,
    /// `GITHUB_ENTERPRISES` and the GraphQL endpoint they are read from.
    enterprises: Vec<String>,
    graphql: Option<Graphql>,
}

impl GithubMonitor {
    /// With a personal access token. `api_url` is validated by the
    /// configuration; `token` is resolved.
    pub fn new(
        http: HttpClient,
        api_url: &str,
        token: SecretString,
        orgs: Vec<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            rest: Rest::new(http, api_url)?,
            credential: Credential::Token(token),
            orgs,
            emu_orgs: Vec::new(),
            enterprises: Vec::new(),
            graphql: None,
        })
    }

    /// As a GitHub App: `app_id` is the JWT's `iss`, `key` the App's key.
    pub fn with_app(
        http: HttpClient,
        api_url: &str,
        app_id: String,
        key: Rs256Signer,
        orgs: Vec<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            rest: Rest::new(http, api_url)?,
            credential: Credential::App(Box::new(AppAuth::new(app_id, key))),
            orgs,
            emu_orgs: Vec::new(),
            enterprises: Vec::new(),
            graphql: None,
        })
    }

    /// Orgs declared managed-user orgs (`GITHUB_EMU_ORGS`).
    pub fn with_emu_orgs(mut self, emu_orgs: Vec<(String, Option<String>)>) -> Self {
        self.emu_orgs = emu_orgs
            .into_iter()
            .map(|(o, c)| (o.to_ascii_lowercase(), c))
            .collect();
        self
    }

    /// Enterprises read through GraphQL at `graphql_url`.
    pub fn with_enterprises(
        mut self,
        graphql_url: &str,
        enterprises: Vec<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        self.graphql = Some(Graphql::new(self.rest.http().clone(), graphql_url)?);
        self.enterprises = enterprises;
        Ok(self)
    }

    fn enterprise_slug<'t>(&self, target: &'t str) -> Option<&'t str> {
        target.strip_prefix(ENTERPRISE_PREFIX)
    }

    /// The GraphQL client and a personal token: the configuration refuses
    /// enterprises with an App (`ownerInfo` is for enterprise owners).
    fn enterprise_access(&self) -> Result<(&Graphql, Bearer), MonitorError> {
        let (Some(gql), Credential::Token(t)) = (&self.graphql, &self.credential) else {
            return Err(MonitorError::Call {
                operation: "github",
                message: format!(
                    "enterprises need GITHUB_GRAPHQL_URL and a personal token. {OWNER_INFO_HINT}"
                ),
                source: None,
            });
        };
        Ok((
            gql,
            Bearer {
                token: t.clone(),
                kind: CredentialKind::Token,
            },
        ))
    }

    pub async fn collect_enterprise(&self, slug: &str) -> Result<TargetSnapshot, MonitorError> {
        let (gql, bearer) = self.enterprise_access()?;
        enterprise::read_enterprise(gql, &bearer, slug, None).await
    }

    /// The logins of an enterprise's organizations.
    pub async fn enterprise_organizations(&self, slug: &str) -> Result<Vec<String>, MonitorError> {
        let (gql, bearer) = self.enterprise_access()?;
        enterprise::organizations(gql, &bearer, slug).await
    }

    async fn check_enterprise(&self, slug: &str) -> Result<(usize, usize), MonitorError> {
        let (gql, bearer) = self.enterprise_access()?;
        enterprise::policy(gql, &bearer, slug).await?;
        let orgs = enterprise::organizations(gql, &bearer, slug).await?.len();
        let snapshot = enterprise::read_enterprise(gql, &bearer, slug, None).await?;
        Ok((orgs, snapshot.principals.len()))
    }

    fn emu_declared(&self, org: &str) -> Option<Option<&str>> {
        self.emu_orgs
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(org))
            .map(|(_, c)| c.as_deref())
    }

    /// The credential for `org`'s calls: the token, or the App's
    /// installation token for that org (cached until shortly before it
    /// expires).
    async fn bearer(&self, org: &str) -> Result<Bearer, MonitorError> {
        match &self.credential {
            Credential::Token(t) => Ok(Bearer {
                token: t.clone(),
                kind: CredentialKind::Token,
            }),
            Credential::App(app) => app.bearer_for(&self.rest, org).await,
        }
    }

    pub async fn collect_org(&self, org: &str) -> Result<TargetSnapshot, MonitorError> {
        let bearer = self.bearer(org).await?;
        let mut snapshot =
            org::collect_org(&self.rest, &bearer, org, self.emu_declared(org)).await?;
        if let Some(gql) = &self.graphql {
            match emails::verified_domain_emails(gql, &bearer, org).await {
                Ok(found) => {
                    let mut checked = crate::monitors::SourceEmails::default();
                    for o in &mut snapshot.principals {
                        if o.attributes.email.is_none() {
                            let raw = found.get(&o.name.to_ascii_lowercase());
                            o.attributes.email = checked.check(&o.name, raw.map(String::as_str));
                        }
                    }
                    checked.warn_refused(&snapshot.key, "organizationVerifiedDomainEmails");
                }
                // The addresses only say who to tell; the MFA listing
                // stands without them.
                Err(e) => {
                    tracing::warn!(%org, error = %e, "members' verified-domain e-mail addresses could not be read; GitHub accounts are linked to people only through the people file this pass")
                }
            }
        }
        Ok(snapshot)
    }

    async fn check_org(
        &self,
        org: &str,
    ) -> Result<(CredentialKind, usize, Option<String>), MonitorError> {
        let bearer = self.bearer(org).await?;
        org::settings(&self.rest, &bearer, org).await?;
        let shifts = Shifts::default();
        let l = Lister {
            rest: &self.rest,
            bearer: &bearer,
            org,
            shifts: &shifts,
        };
        let visible = match l
            .list::<SimpleUser>("members", &[("filter", "all")])
            .await?
        {
            Listing::Entries(u) => u.len(),
            Listing::Refused { .. } => 0,
        };
        let refused = match l
            .list::<SimpleUser>("members", &[("filter", "2fa_disabled")])
            .await?
        {
            Listing::Entries(_) => None,
            Listing::Refused { accepted } => Some(accepted.unwrap_or_default()),
        };
        Ok((bearer.kind, visible, refused))
    }
}

#[async_trait]
impl Monitor for GithubMonitor {
    fn source(&self) -> Source {
        Source::Github
    }

    fn targets(&self) -> Vec<String> {
        let mut t = self.orgs.clone();
        t.extend(
            self.enterprises
                .iter()
                .map(|e| format!("{ENTERPRISE_PREFIX}{e}")),
        );
        t
    }

    /// One scope per enterprise: its organizations, each read as an org
    /// target. The scope has its own key (`enterprise:SLUG:organizations`)
    /// so that its health is not the enterprise target's.
    async fn discover(&self) -> Vec<Discovery> {
        let mut out = Vec::new();
        for slug in &self.enterprises {
            let found = self.enterprise_organizations(slug).await.map(|orgs| {
                orgs.into_iter()
                    .map(|o| TargetKey::new(Source::Github, o))
                    .collect()
            });
            out.push(Discovery {
                scope: TargetKey::new(
                    Source::Github,
                    format!("{ENTERPRISE_PREFIX}{slug}:organizations"),
                ),
                found,
            });
        }
        out
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        match self.enterprise_slug(target) {
            Some(slug) => self.collect_enterprise(slug).await,
            None => self.collect_org(target).await,
        }
    }

    async fn check(&self, org: &str) -> CheckItem {
        let component = format!("github:{org}");
        if let Some(slug) = self.enterprise_slug(org) {
            return match self.check_enterprise(slug).await {
                Ok((orgs, members)) => CheckItem {
                    component,
                    ok: true,
                    detail: format!(
                        "reachable through GraphQL; personal access token with enterprise owner access; 2FA visible (ownerInfo and method security); {members} member(s) visible; {orgs} organization(s)"
                    ),
                },
                Err(e) => CheckItem {
                    component,
                    ok: false,
                    detail: e.to_string(),
                },
            };
        }
        match self.check_org(org).await {
            Ok((kind, visible, None)) => CheckItem {
                component,
                ok: true,
                detail: format!(
                    "reachable; {}; 2FA visible (the 2FA filters are allowed); {visible} member(s) visible",
                    kind.describe()
                ),
            },
            Ok((kind, visible, Some(accepted))) => CheckItem {
                component,
                ok: false,
                detail: format!(
                    "reachable; {}; {visible} member(s) visible; 2FA NOT visible (the 2FA filters were refused): 2FA status would be unknown. {}{}",
                    kind.describe(),
                    match kind {
                        CredentialKind::Token => OWNER_HINT,
                        _ => APP_HINT,
                    },
                    if accepted.is_empty() {
                        String::new()
                    } else {
                        format!(" (GitHub names the permissions this call takes: {accepted})")
                    }
                ),
            },
            Err(e) => CheckItem {
                component,
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}
