//! Every page of a REST listing. Pages are fetched concurrently once
//! `rel="last"` says how many; a page that fails or does not parse fails
//! the listing. A listing that moves while it is read (a duplicate across
//! pages, the last page changing before its re-check) is noted in
//! [`Shifts`], and the org is read again (`org.rs`).

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, LINK};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tracing::debug;

use super::super::MonitorError;
use super::rest::{body_error, ok_or_error, Bearer, Rest};

pub const PER_PAGE: &str = "100";
/// Concurrent page requests per listing; with 8 listings per org this keeps
/// well under GitHub's secondary rate limit on concurrent requests.
const PAGE_CONCURRENCY: usize = 4;
/// 2,000 pages of 100: an org of 200,000 members. More is a runaway listing.
const MAX_PAGES: usize = 2_000;

/// One entry of a member listing (a simple-user object); other fields are
/// ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct SimpleUser {
    pub login: String,
    pub id: u64,
}

/// What a listing holds: each entry has an id, unique in the listing.
pub trait Entry: DeserializeOwned + Send {
    fn id(&self) -> u64;
}

impl Entry for SimpleUser {
    fn id(&self) -> u64 {
        self.id
    }
}

/// A listing, or GitHub's refusal (422) to filter by 2FA for this
/// credential.
pub enum Listing<T> {
    Entries(Vec<T>),
    /// With GitHub's `x-accepted-github-permissions` header, when it sent
    /// one: the fine-grained permissions the endpoint takes.
    Refused {
        accepted: Option<String>,
    },
}

impl<T> Listing<T> {
    pub fn entries(&self) -> Option<&Vec<T>> {
        match self {
            Listing::Entries(u) => Some(u),
            Listing::Refused { .. } => None,
        }
    }
}

/// Why an org's listings may have moved while they were read (a member
/// came or went between offset pages, so an entry may have been skipped):
/// the org is read again, once.
pub type Shifts = std::sync::Mutex<Vec<String>>;

pub fn note_shift(shifts: &Shifts, why: String) {
    debug!(%why, "listing shifted");
    shifts.lock().unwrap_or_else(|e| e.into_inner()).push(why);
}

/// One org's listings, read with one credential.
pub struct Lister<'a> {
    pub rest: &'a Rest,
    pub bearer: &'a Bearer,
    pub org: &'a str,
    pub shifts: &'a Shifts,
}

impl Lister<'_> {
    async fn page<T: Entry>(
        &self,
        url: &Url,
        what: &str,
        n: usize,
    ) -> Result<(Vec<T>, Option<Url>), MonitorError> {
        let resp = self.rest.get(url, what, self.bearer).await?;
        let resp = ok_or_error(resp, what, self.org, self.bearer.kind).await?;
        let next = links(resp.headers()).remove("next");
        let page = parse_page(resp.text().await.map_err(|e| body_error(what, e))?, what, n)?;
        Ok((page, next))
    }

    /// Every page of `/orgs/{org}/{path}?{query}`.
    pub async fn list<T: Entry>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Listing<T>, MonitorError> {
        let org = self.org;
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("per_page", PER_PAGE));
        let first = self.rest.url(&format!("orgs/{org}/{path}"), &q);
        let what = format!(
            "GET /orgs/{org}/{path}{}{}",
            if query.is_empty() { "" } else { "?" },
            query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        let resp = self.rest.get(&first, &what, self.bearer).await?;
        if resp.status() == StatusCode::UNPROCESSABLE_ENTITY {
            let accepted = resp
                .headers()
                .get("x-accepted-github-permissions")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.text().await.unwrap_or_default();
            debug!(%what, body = %body.chars().take(200).collect::<String>(), "422: filter refused");
            return Ok(Listing::Refused { accepted });
        }
        let resp = ok_or_error(resp, &what, org, self.bearer.kind).await?;
        let first_links = links(resp.headers());
        let mut entries: Vec<T> = parse_page(
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
            let pages: Vec<(Vec<T>, Option<Url>)> = futures::stream::iter(urls)
                .map(|(n, url)| {
                    let what = &what;
                    async move { self.page(&url, what, n).await }
                })
                .buffered(PAGE_CONCURRENCY)
                .try_collect()
                .await?;
            page_no = last;
            next = None;
            for (page, page_next) in pages {
                if let Some(url) = &last_url {
                    last_page = Some((url.clone(), page.iter().map(Entry::id).collect()));
                }
                entries.extend(page);
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
            let (page, page_next) = self.page::<T>(&url, &what, page_no).await?;
            next = page_next;
            last_page = Some((url, page.iter().map(Entry::id).collect()));
            entries.extend(page);
        }
        // Pages can shift under concurrent changes; one entry per id, and a
        // duplicate means they did.
        let read = entries.len();
        let mut seen = BTreeSet::new();
        entries.retain(|u| seen.insert(u.id()));
        if entries.len() != read {
            note_shift(
                self.shifts,
                format!("{what}: {} entries appeared twice", read - entries.len()),
            );
        }
        if let Some((url, ids)) = last_page {
            let (again, _) = self.page::<T>(&url, &what, page_no).await?;
            if again.iter().map(Entry::id).collect::<Vec<_>>() != ids {
                note_shift(
                    self.shifts,
                    format!("{what}: the last page changed while the listing was read"),
                );
            }
        }
        Ok(Listing::Entries(entries))
    }
}

pub fn parse_page<T: DeserializeOwned>(
    body: String,
    what: &str,
    page: usize,
) -> Result<Vec<T>, MonitorError> {
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
        let body = include_str!("../../../tests/fixtures/github-members-page.json").to_owned();
        let users: Vec<SimpleUser> = parse_page(body, "x", 1).unwrap();
        assert_eq!(users[0].login, "octocat");
        assert_eq!(users[0].id, 583231);
        let e = parse_page::<SimpleUser>(
            "{\"message\": \"oops\"}".into(),
            "GET /orgs/acme/members",
            3,
        )
        .unwrap_err();
        assert!(e.to_string().contains("page 3"), "{e}");
    }
}
