//! GitHub's GraphQL API: one query at a time through the one HTTP client,
//! connections read to their last page by cursor, and the two ways GitHub
//! says no in a 200: `errors` (with or without partial `data`: the target
//! fails, a partial answer is never used) and the point budget
//! (`rateLimit { cost remaining resetAt }`). When the next page would cost
//! more points than remain, the wait until `resetAt` is taken only if it
//! fits the HTTP policy's rate-limit budget; otherwise the target fails.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::header::ACCEPT;
use reqwest::Url;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{debug, warn};

use super::super::MonitorError;
use super::rest::{body_error, http_error, Bearer};
use crate::http::HttpClient;

/// 1,000 pages of 100: an enterprise of 100,000 members.
const MAX_PAGES: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    cost: u64,
    remaining: u64,
    reset_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    path: Option<Vec<Value>>,
}

#[derive(Clone)]
pub struct Graphql {
    http: HttpClient,
    url: Url,
}

enum Answer {
    Data(Value),
    /// RATE_LIMITED until the wait is over; the error if it is not taken.
    RetryAfter(Duration, MonitorError),
}

/// One page of a connection: its nodes and where the next one starts.
#[derive(Debug)]
pub struct Page {
    pub nodes: Vec<Value>,
    pub next: Option<String>,
}

impl Graphql {
    pub fn new(http: HttpClient, url: &str) -> Result<Self, crate::config::ConfigError> {
        let url = Url::parse(url).map_err(|e| {
            crate::config::ConfigError::new("GITHUB_GRAPHQL_URL", format!("`{url}`: {e}"))
        })?;
        Ok(Self { http, url })
    }

    /// Runs `query` (which must select `rateLimit { cost remaining
    /// resetAt }`) and returns its `data`, waiting out an exhausted point
    /// budget when that fits.
    pub async fn query(
        &self,
        what: &str,
        bearer: &Bearer,
        query: &str,
        variables: Value,
    ) -> Result<Value, MonitorError> {
        // GitHub answers an exhausted budget with a 200 whose `errors` say
        // RATE_LIMITED: waited out once when the reset fits the budget.
        match self.query_once(what, bearer, query, &variables).await? {
            Answer::Data(d) => Ok(d),
            Answer::RetryAfter(wait, err) => {
                if wait > self.http.policy().max_rate_limit_wait {
                    return Err(err);
                }
                warn!(%what, wait_s = wait.as_secs(), "GraphQL RATE_LIMITED; waiting for the reset");
                tokio::time::sleep(wait).await;
                match self.query_once(what, bearer, query, &variables).await? {
                    Answer::Data(d) => Ok(d),
                    Answer::RetryAfter(_, err) => Err(err),
                }
            }
        }
    }

    async fn query_once(
        &self,
        what: &str,
        bearer: &Bearer,
        query: &str,
        variables: &Value,
    ) -> Result<Answer, MonitorError> {
        let token = bearer.token.expose_secret();
        let body = json!({ "query": query, "variables": variables });
        let resp = self
            .http
            .send(|c| {
                c.post(self.url.clone())
                    .header(ACCEPT, "application/json")
                    .bearer_auth(token)
                    .json(&body)
            })
            .await
            .map_err(|e| http_error(what, e))?;
        let status = resp.status();
        let reset = resp
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp.text().await.map_err(|e| body_error(what, e))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(MonitorError::Call {
                operation: "github",
                message: format!(
                    "{what}: the {} was rejected by the GraphQL API (HTTP 401)",
                    bearer.kind.describe()
                ),
                source: None,
            });
        }
        if !status.is_success() {
            return Err(MonitorError::Call {
                operation: "github",
                message: format!("{what}: GraphQL HTTP {status}"),
                source: None,
            });
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| MonitorError::Malformed(format!("{what}: not a GraphQL response: {e}")))?;
        let errors: Vec<GraphqlError> = match v.get("errors") {
            None | Some(Value::Null) => Vec::new(),
            Some(e) => serde_json::from_value(e.clone()).map_err(|e| {
                MonitorError::Malformed(format!("{what}: GraphQL `errors` not a list: {e}"))
            })?,
        };
        if !errors.is_empty() {
            let limited = errors
                .iter()
                .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"));
            let listed: Vec<String> = errors
                .iter()
                .map(|e| {
                    let path = e
                        .path
                        .as_ref()
                        .map(|p| {
                            p.iter()
                                .map(|s| s.as_str().map_or(s.to_string(), str::to_owned))
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default();
                    format!(
                        "{}{}{}",
                        e.kind
                            .as_deref()
                            .map(|k| format!("{k}: "))
                            .unwrap_or_default(),
                        e.message,
                        if path.is_empty() {
                            String::new()
                        } else {
                            format!(" (at {path})")
                        }
                    )
                })
                .collect();
            let partial = v.get("data").is_some_and(|d| !d.is_null());
            let err = MonitorError::Call {
                operation: "github",
                message: format!(
                    "{what}: GraphQL {}{}: {}",
                    if limited {
                        "rate limit exhausted"
                    } else {
                        "errors"
                    },
                    if partial {
                        " with partial data (not used)"
                    } else {
                        ""
                    },
                    listed.join("; ")
                ),
                source: None,
            };
            if let (true, Some(reset)) = (limited, reset) {
                let now = SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let wait = Duration::from_secs(reset.saturating_sub(now) + 1);
                return Ok(Answer::RetryAfter(wait, err));
            }
            return Err(err);
        }
        let data = v
            .get("data")
            .filter(|d| !d.is_null())
            .cloned()
            .ok_or_else(|| {
                MonitorError::Malformed(format!("{what}: GraphQL response without `data`"))
            })?;
        if let Some(limit) = data.get("rateLimit") {
            let limit: RateLimit = serde_json::from_value(limit.clone()).map_err(|e| {
                MonitorError::Malformed(format!("{what}: `rateLimit` unreadable: {e}"))
            })?;
            debug!(%what, cost = limit.cost, remaining = limit.remaining, reset_at = %limit.reset_at, "graphql rate limit");
            self.pace(what, &limit).await?;
        }
        Ok(Answer::Data(data))
    }

    /// Waits for the budget to reset when the next query of this cost
    /// would exceed it, if that wait fits the rate-limit budget.
    async fn pace(&self, what: &str, limit: &RateLimit) -> Result<(), MonitorError> {
        if limit.remaining >= limit.cost.max(1) {
            return Ok(());
        }
        let wait = SystemTime::from(limit.reset_at)
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + Duration::from_secs(1);
        let budget = self.http.policy().max_rate_limit_wait;
        if wait > budget {
            return Err(MonitorError::Call {
                operation: "github",
                message: format!(
                    "{what}: GraphQL rate limit exhausted ({} point(s) left, a page costs {}); it resets at {}, {}s away, beyond the {}s this pass may wait",
                    limit.remaining,
                    limit.cost,
                    limit.reset_at.to_rfc3339(),
                    wait.as_secs(),
                    budget.as_secs()
                ),
                source: None,
            });
        }
        warn!(%what, wait_s = wait.as_secs(), "GraphQL rate limit nearly exhausted; waiting for its reset");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Every node of the connection `at` (a path of field names into
    /// `data`) of `query`, which takes `$after: String` and selects
    /// `pageInfo { hasNextPage endCursor }` and `nodes`.
    pub async fn connection(
        &self,
        what: &str,
        bearer: &Bearer,
        query: &str,
        variables: Value,
        at: &[&str],
    ) -> Result<Vec<Value>, MonitorError> {
        let mut nodes = Vec::new();
        let mut after: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let mut vars = variables.clone();
            // `after: null` asks for the first page.
            vars["after"] = after.clone().map_or(Value::Null, Value::String);
            let data = self.query(what, bearer, query, vars).await?;
            let got = page_at(&data, at, what, page)?;
            nodes.extend(got.nodes);
            match got.next {
                None => return Ok(nodes),
                Some(cursor) if after.as_deref() == Some(cursor.as_str()) => {
                    return Err(MonitorError::Malformed(format!(
                        "{what}: page {page} gave the same cursor again"
                    )))
                }
                Some(cursor) => after = Some(cursor),
            }
        }
        Err(MonitorError::Incomplete(format!(
            "{what}: more than {MAX_PAGES} pages"
        )))
    }
}

/// The connection at `at` in `data`: its nodes, and the next cursor when
/// `hasNextPage` (a next page without a cursor is malformed, never an end).
pub fn page_at(data: &Value, at: &[&str], what: &str, page: usize) -> Result<Page, MonitorError> {
    let mut v = data;
    for (i, key) in at.iter().enumerate() {
        v = v.get(key).filter(|x| !x.is_null()).ok_or_else(|| {
            MonitorError::Malformed(format!(
                "{what}: page {page}: `{}` is missing or null",
                at[..=i].join(".")
            ))
        })?;
    }
    let nodes = v
        .get("nodes")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| MonitorError::Malformed(format!("{what}: page {page}: no `nodes` list")))?;
    if nodes.iter().any(Value::is_null) {
        // GitHub nulls a node it could not resolve: the page is not whole.
        return Err(MonitorError::Incomplete(format!(
            "{what}: page {page} has a null node"
        )));
    }
    let info = v
        .get("pageInfo")
        .ok_or_else(|| MonitorError::Malformed(format!("{what}: page {page}: no `pageInfo`")))?;
    let has_next = info
        .get("hasNextPage")
        .and_then(Value::as_bool)
        .ok_or_else(|| MonitorError::Malformed(format!("{what}: page {page}: no `hasNextPage`")))?;
    let next = if has_next {
        Some(
            info.get("endCursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    MonitorError::Malformed(format!(
                        "{what}: page {page} says there is a next page but gives no cursor"
                    ))
                })?
                .to_owned(),
        )
    } else {
        None
    };
    Ok(Page { nodes, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_its_nodes_and_cursor_and_a_next_page_without_a_cursor_is_malformed() {
        let data = json!({"enterprise": {"organizations": {
            "pageInfo": {"hasNextPage": true, "endCursor": "Y3Vyc29yOjI="},
            "nodes": [{"login": "acme"}, {"login": "beta"}]
        }}});
        let p = page_at(&data, &["enterprise", "organizations"], "q", 1).unwrap();
        assert_eq!(p.nodes.len(), 2);
        assert_eq!(p.next.as_deref(), Some("Y3Vyc29yOjI="));
        let no_cursor = json!({"enterprise": {"organizations": {
            "pageInfo": {"hasNextPage": true, "endCursor": null}, "nodes": []
        }}});
        let e = page_at(&no_cursor, &["enterprise", "organizations"], "q", 3).unwrap_err();
        assert!(e.to_string().contains("no cursor"), "{e}");
        let null_node = json!({"enterprise": {"organizations": {
            "pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [null]
        }}});
        assert!(matches!(
            page_at(&null_node, &["enterprise", "organizations"], "q", 1),
            Err(MonitorError::Incomplete(_))
        ));
        let e = page_at(
            &json!({"enterprise": null}),
            &["enterprise", "organizations"],
            "q",
            1,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`enterprise` is missing or null"),
            "{e}"
        );
    }
}
