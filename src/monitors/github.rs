//! GitHub organizations: every member's and outside collaborator's 2FA,
//! and the org's 2FA requirement.
//!
//! GitHub tells 2FA status only through list filters (`2fa_disabled`,
//! `2fa_insecure`) and only to org owners; a non-owner gets 422, and then
//! every status is `unknown`, never guessed. Every listing is read to its
//! last page (pages fetched concurrently once `rel="last"` says how many);
//! a page that fails or does not parse fails the org. A listing that moves
//! while it is read (a filtered one naming someone outside the full one, a
//! duplicate, the last page changing before a re-check) is read again once,
//! then fails the org as incomplete.
//!
//! Longer than the house's ~400 lines: one file per source (ARCHITECTURE.md
//! §6); paging, the consistency checks and the org's assembly read the same
//! listings. The GitHub App and enterprise work splits it into `github/`.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, LINK};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{debug, warn};

use super::{Monitor, MonitorError};
use crate::domain::{
    AccountKind, Attributes, MfaStatus, Observation, Source, TargetKey, TargetSettings,
    TargetSnapshot,
};
use crate::error::CheckItem;
use crate::http::{HttpClient, HttpError};

const PER_PAGE: &str = "100";
/// Concurrent page requests per listing; with 8 listings per org this keeps
/// well under GitHub's secondary rate limit on concurrent requests.
const PAGE_CONCURRENCY: usize = 4;
/// 2,000 pages of 100: an org of 200,000 members. More is a runaway listing.
const MAX_PAGES: usize = 2_000;
const OUTSIDE_COLLABORATOR: &str = "outside_collaborator";
const OWNER_HINT: &str = "GitHub shows 2FA status only to organization owners: use a token of an org owner (classic token: `read:org` scope; fine-grained: organization Members read, and Administration read for the 2FA requirement)";

/// One entry of a member listing (a simple-user object); other fields are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct SimpleUser {
    login: String,
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Org {
    #[serde(default)]
    two_factor_requirement_enabled: Option<bool>,
}

/// A listing, or GitHub's refusal to filter by 2FA for a non-owner.
enum Listing {
    Users(Vec<SimpleUser>),
    NotOwner,
}

/// Why an org's listings may have moved while they were read (a member
/// came or went between offset pages, so an entry may have been skipped):
/// the org is read again, once.
type Shifts = std::sync::Mutex<Vec<String>>;

fn listed(l: &Listing) -> Option<&Vec<SimpleUser>> {
    match l {
        Listing::Users(u) => Some(u),
        Listing::NotOwner => None,
    }
}

fn note_shift(shifts: &Shifts, why: String) {
    debug!(%why, "listing shifted");
    shifts.lock().unwrap_or_else(|e| e.into_inner()).push(why);
}

pub struct GithubMonitor {
    http: HttpClient,
    api: Url,
    token: SecretString,
    orgs: Vec<String>,
}

impl GithubMonitor {
    /// `api_url` is validated by the configuration; `token` is resolved.
    pub fn new(
        http: HttpClient,
        api_url: &str,
        token: SecretString,
        orgs: Vec<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let api = Url::parse(&format!("{}/", api_url.trim_end_matches('/'))).map_err(|e| {
            crate::config::ConfigError::new("GITHUB_API_URL", format!("`{api_url}`: {e}"))
        })?;
        Ok(Self {
            http,
            api,
            token,
            orgs,
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.api.join(path).expect("relative API path");
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    async fn get(&self, url: &Url, what: &str) -> Result<reqwest::Response, MonitorError> {
        // Link URLs come from the server: never send the token elsewhere.
        if url.origin() != self.api.origin() {
            return Err(MonitorError::Malformed(format!(
                "{what}: a link points outside GITHUB_API_URL ({})",
                url.origin().ascii_serialization()
            )));
        }
        let token = self.token.expose_secret();
        self.http
            .send(|c| {
                c.get(url.clone())
                    .header(ACCEPT, "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .bearer_auth(token)
            })
            .await
            .map_err(|e| http_error(what, e))
    }

    async fn org_settings(&self, org: &str) -> Result<TargetSettings, MonitorError> {
        let what = format!("GET /orgs/{org}");
        let resp = self
            .get(&self.url(&format!("orgs/{org}"), &[]), &what)
            .await?;
        let resp = ok_or_error(resp, &what, org).await?;
        let body = resp.text().await.map_err(|e| body_error(&what, e))?;
        let info: Org = serde_json::from_str(&body).map_err(|e| {
            MonitorError::Malformed(format!("{what}: not an organization object: {e}"))
        })?;
        Ok(TargetSettings {
            mfa_required: info.two_factor_requirement_enabled,
            ..TargetSettings::default()
        })
    }

    /// Every page of `/orgs/{org}/{path}?{query}`.
    async fn list(
        &self,
        org: &str,
        path: &str,
        query: &[(&str, &str)],
        shifts: &Shifts,
    ) -> Result<Listing, MonitorError> {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("per_page", PER_PAGE));
        let first = self.url(&format!("orgs/{org}/{path}"), &q);
        let what = format!(
            "GET /orgs/{org}/{path}?{}",
            query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        let resp = self.get(&first, &what).await?;
        if resp.status() == StatusCode::UNPROCESSABLE_ENTITY {
            let body = resp.text().await.unwrap_or_default();
            debug!(%what, body = %body.chars().take(200).collect::<String>(), "422: not an owner");
            return Ok(Listing::NotOwner);
        }
        let resp = ok_or_error(resp, &what, org).await?;
        let first_links = links(resp.headers());
        let mut users = parse_page(
            resp.text().await.map_err(|e| body_error(&what, e))?,
            &what,
            1,
        )?;

        let mut next = first_links.get("next").cloned();
        let mut page_no = 1;
        // The last page as read, to read it again at the end: any arrival
        // or departure during the read shifts every later page, the last
        // one included.
        let mut last_page: Option<(Url, Vec<u64>)> = None;
        if let (Some(next_url), Some(last_url)) = (first_links.get("next"), first_links.get("last"))
        {
            // The count is known: fetch pages 2..=last together.
            let last = page_param(last_url).ok_or_else(|| {
                MonitorError::Malformed(format!("{what}: `last` link has no page number"))
            })?;
            if last > MAX_PAGES {
                return Err(MonitorError::Incomplete(format!(
                    "{what}: {last} pages exceed the bound of {MAX_PAGES}"
                )));
            }
            // A `next` link with a `last` that is not beyond it would end the
            // listing early: pages 2..=last would be empty and `next` dropped.
            let next_no = page_param(next_url).unwrap_or(2);
            if last < 2 || last < next_no {
                return Err(MonitorError::Malformed(format!(
                    "{what}: the `last` link (page {last}) does not follow the `next` one (page {next_no})"
                )));
            }
            let urls: Vec<(usize, Url)> = (2..=last).map(|n| (n, with_page(next_url, n))).collect();
            let last_url = urls.last().map(|(_, u)| u.clone());
            let pages: Vec<(Vec<SimpleUser>, Option<Url>)> = futures::stream::iter(urls)
                .map(|(n, url)| {
                    let what = &what;
                    async move {
                        let resp = self.get(&url, what).await?;
                        let resp = ok_or_error(resp, what, org).await?;
                        let next = links(resp.headers()).remove("next");
                        let page = parse_page(
                            resp.text().await.map_err(|e| body_error(what, e))?,
                            what,
                            n,
                        )?;
                        Ok::<_, MonitorError>((page, next))
                    }
                })
                .buffered(PAGE_CONCURRENCY)
                .try_collect()
                .await?;
            page_no = last;
            next = None;
            for (page, page_next) in pages {
                if let Some(url) = &last_url {
                    last_page = Some((url.clone(), page.iter().map(|u| u.id).collect()));
                }
                users.extend(page);
                // The listing grew while it was read: keep following.
                next = page_next;
            }
        }
        while let Some(url) = next.take() {
            page_no += 1;
            if page_no > MAX_PAGES {
                return Err(MonitorError::Incomplete(format!(
                    "{what}: more than {MAX_PAGES} pages"
                )));
            }
            let resp = self.get(&url, &what).await?;
            let resp = ok_or_error(resp, &what, org).await?;
            next = links(resp.headers()).remove("next");
            let page = parse_page(
                resp.text().await.map_err(|e| body_error(&what, e))?,
                &what,
                page_no,
            )?;
            last_page = Some((url, page.iter().map(|u| u.id).collect()));
            users.extend(page);
        }
        // Pages can shift under concurrent changes; one user, one entry,
        // and a duplicate means they did.
        let read = users.len();
        let mut seen = BTreeSet::new();
        users.retain(|u| seen.insert(u.id));
        if users.len() != read {
            note_shift(
                shifts,
                format!("{what}: {} entries appeared twice", read - users.len()),
            );
        }
        if let Some((url, ids)) = last_page {
            let resp = self.get(&url, &what).await?;
            let resp = ok_or_error(resp, &what, org).await?;
            let again = parse_page(
                resp.text().await.map_err(|e| body_error(&what, e))?,
                &what,
                page_no,
            )?;
            if again.iter().map(|u| u.id).collect::<Vec<_>>() != ids {
                note_shift(
                    shifts,
                    format!("{what}: the last page changed while the listing was read"),
                );
            }
        }
        Ok(Listing::Users(users))
    }

    async fn users(
        &self,
        org: &str,
        path: &str,
        query: &[(&str, &str)],
        shifts: &Shifts,
    ) -> Result<Vec<SimpleUser>, MonitorError> {
        match self.list(org, path, query, shifts).await? {
            Listing::Users(u) => Ok(u),
            Listing::NotOwner => Err(MonitorError::Call {
                operation: "github",
                message: format!("GET /orgs/{org}/{path} was refused (422). {OWNER_HINT}"),
                source: None,
            }),
        }
    }

    /// Reads the org; when its listings moved while they were read, reads
    /// it once more, and fails it as incomplete if they moved again: a
    /// member skipped in `2fa_disabled` must not read as enabled.
    pub async fn collect_org(&self, org: &str) -> Result<TargetSnapshot, MonitorError> {
        let shifts = Shifts::default();
        let snapshot = self.read_org(org, &shifts).await?;
        let first = std::mem::take(&mut *shifts.lock().unwrap_or_else(|e| e.into_inner()));
        if first.is_empty() {
            return Ok(snapshot);
        }
        warn!(%org, reasons = ?first, "listings moved while read; reading the org again");
        let snapshot = self.read_org(org, &shifts).await?;
        let again = shifts.into_inner().unwrap_or_else(|e| e.into_inner());
        if again.is_empty() {
            return Ok(snapshot);
        }
        Err(MonitorError::Incomplete(format!(
            "the listings of {org} moved while they were read, twice in a row: {}",
            again.join("; ")
        )))
    }

    async fn read_org(&self, org: &str, shifts: &Shifts) -> Result<TargetSnapshot, MonitorError> {
        let (settings, members, disabled, insecure, owners, collaborators, c_disabled, c_insecure) =
            tokio::try_join!(
                self.org_settings(org),
                self.users(org, "members", &[("filter", "all")], shifts),
                self.list(org, "members", &[("filter", "2fa_disabled")], shifts),
                self.list(org, "members", &[("filter", "2fa_insecure")], shifts),
                self.users(org, "members", &[("role", "admin")], shifts),
                self.users(org, "outside_collaborators", &[("filter", "all")], shifts),
                self.list(
                    org,
                    "outside_collaborators",
                    &[("filter", "2fa_disabled")],
                    shifts
                ),
                self.list(
                    org,
                    "outside_collaborators",
                    &[("filter", "2fa_insecure")],
                    shifts
                ),
            )?;
        // Each filtered listing is a part of its full one; an id outside it
        // was read at another moment than the full listing.
        let ids = |u: &[SimpleUser]| u.iter().map(|u| u.id).collect::<BTreeSet<u64>>();
        let all_members = ids(&members);
        let all_collaborators = ids(&collaborators);
        let parts = [
            (
                "members?filter=2fa_disabled",
                listed(&disabled),
                &all_members,
            ),
            (
                "members?filter=2fa_insecure",
                listed(&insecure),
                &all_members,
            ),
            ("members?role=admin", Some(&owners), &all_members),
            (
                "outside_collaborators?filter=2fa_disabled",
                listed(&c_disabled),
                &all_collaborators,
            ),
            (
                "outside_collaborators?filter=2fa_insecure",
                listed(&c_insecure),
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
        let owners: BTreeSet<u64> = owners.iter().map(|u| u.id).collect();
        let mut warnings = Vec::new();
        let mut principals: BTreeMap<u64, Observation> = BTreeMap::new();
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
            let statuses = match (disabled, insecure) {
                (Listing::Users(d), Listing::Users(i)) => Some((
                    d.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
                    i.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
                )),
                _ => None,
            };
            if statuses.is_none() && !everyone.is_empty() {
                let who = if kind.is_some() {
                    "outside collaborators"
                } else {
                    "members"
                };
                warnings.push(format!("the token is not an owner of {org}: the 2FA status of its {who} is unknown. {OWNER_HINT}"));
            }
            for user in everyone {
                let status = match &statuses {
                    None => MfaStatus::Unknown,
                    Some((d, _)) if d.contains(&user.id) => MfaStatus::Disabled,
                    Some((_, i)) if i.contains(&user.id) => MfaStatus::Insecure,
                    Some(_) => MfaStatus::Enabled,
                };
                principals.entry(user.id).or_insert_with(|| {
                    Observation::new(
                        user.login,
                        status,
                        Attributes {
                            admin: owners.contains(&user.id),
                            console_login: true,
                            kind: kind.map(AccountKind::from),
                            stable_id: Some(user.id.to_string()),
                            ..Attributes::default()
                        },
                    )
                });
            }
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
}

#[async_trait]
impl Monitor for GithubMonitor {
    fn source(&self) -> Source {
        Source::Github
    }

    fn targets(&self) -> Vec<String> {
        self.orgs.clone()
    }

    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError> {
        self.collect_org(target).await
    }

    async fn check(&self, org: &str) -> CheckItem {
        let component = format!("github:{org}");
        let result = async {
            self.org_settings(org).await?;
            let shifts = Shifts::default();
            let visible = self
                .users(org, "members", &[("filter", "all")], &shifts)
                .await?
                .len();
            let owner = matches!(
                self.list(org, "members", &[("filter", "2fa_disabled")], &shifts)
                    .await?,
                Listing::Users(_)
            );
            Ok::<_, MonitorError>((visible, owner))
        }
        .await;
        match result {
            Ok((visible, true)) => CheckItem {
                component,
                ok: true,
                detail: format!("reachable; token has owner rights; {visible} member(s) visible"),
            },
            Ok((visible, false)) => CheckItem {
                component,
                ok: false,
                detail: format!("reachable; {visible} member(s) visible; token is NOT an owner: 2FA status would be unknown. {OWNER_HINT}"),
            },
            Err(e) => CheckItem {
                component,
                ok: false,
                detail: e.to_string(),
            },
        }
    }
}

fn http_error(what: &str, err: HttpError) -> MonitorError {
    MonitorError::Call {
        operation: "github",
        message: format!("{what}: {err}"),
        source: Some(Box::new(err)),
    }
}

fn body_error(what: &str, err: reqwest::Error) -> MonitorError {
    MonitorError::Call {
        operation: "github",
        message: format!("{what}: reading the body: {}", err.without_url()),
        source: None,
    }
}

/// Passes a 2xx through; turns anything else into an error that says what
/// to fix. GitHub's error bodies carry a `message`, never the token.
async fn ok_or_error(
    resp: reqwest::Response,
    what: &str,
    org: &str,
) -> Result<reqwest::Response, MonitorError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let text = match status {
        StatusCode::UNAUTHORIZED => format!(
            "{what}: GITHUB_TOKEN was rejected (HTTP 401 {message}): check that the token is valid and not expired"
        ),
        StatusCode::FORBIDDEN => format!(
            "{what}: HTTP 403 {message}: the token lacks access to {org} (classic token: `read:org`; fine-grained: organization Members read)"
        ),
        StatusCode::NOT_FOUND => format!("{what}: HTTP 404: organization {org} does not exist or the token cannot see it"),
        s => format!("{what}: HTTP {s} {message}"),
    };
    Err(MonitorError::Call {
        operation: "github",
        message: text,
        source: None,
    })
}

pub fn parse_page(body: String, what: &str, page: usize) -> Result<Vec<SimpleUser>, MonitorError> {
    serde_json::from_str(&body).map_err(|e| {
        MonitorError::Malformed(format!("{what}: page {page} is not a list of users: {e}"))
    })
}

/// `Link: <url>; rel="next", <url>; rel="last"` as rel → URL.
pub fn links(headers: &HeaderMap) -> BTreeMap<String, Url> {
    let mut out = BTreeMap::new();
    for value in headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok()) {
        for part in value.split(',') {
            let mut pieces = part.split(';').map(str::trim);
            let Some(url) = pieces
                .next()
                .and_then(|u| u.strip_prefix('<'))
                .and_then(|u| u.strip_suffix('>'))
            else {
                continue;
            };
            let Ok(url) = Url::parse(url) else { continue };
            for attr in pieces {
                if let Some(rel) = attr.strip_prefix("rel=") {
                    for r in rel.trim_matches('"').split_whitespace() {
                        out.insert(r.to_owned(), url.clone());
                    }
                }
            }
        }
    }
    out
}

pub fn page_param(url: &Url) -> Option<usize> {
    url.query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

pub fn with_page(url: &Url, page: usize) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("page", &page.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn link_headers_give_next_and_last_with_their_page_numbers() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/organizations/1000/members?filter=all&per_page=100&page=2>; rel=\"next\", <https://api.github.com/organizations/1000/members?filter=all&per_page=100&page=7>; rel=\"last\"",
            ),
        );
        let l = links(&h);
        assert_eq!(page_param(&l["next"]), Some(2));
        assert_eq!(page_param(&l["last"]), Some(7));
        let p5 = with_page(&l["next"], 5);
        assert_eq!(
            p5.as_str(),
            "https://api.github.com/organizations/1000/members?filter=all&per_page=100&page=5"
        );
    }

    #[test]
    fn a_page_of_simple_users_parses_and_anything_else_is_malformed() {
        let body = include_str!("../../tests/fixtures/github-members-page.json").to_owned();
        let users = parse_page(body, "x", 1).unwrap();
        assert_eq!(users[0].login, "octocat");
        assert_eq!(users[0].id, 583231);
        let e = parse_page(
            "{\"message\": \"oops\"}".into(),
            "GET /orgs/acme/members",
            3,
        )
        .unwrap_err();
        assert!(e.to_string().contains("page 3"), "{e}");
    }
}
