//! A local server playing GitHub's GraphQL API for one enterprise: the
//! `Enterprise` object's `ownerInfo` 2FA settings and `admins`, `members`
//! filtered by `twoFactorMethodSecurity`, and `organizations`, each a
//! connection paged by cursor (`pageInfo { hasNextPage endCursor }`), with
//! `rateLimit` in every answer — the shapes of GitHub's public schema
//! (octokit/graphql-schema). Faults: `errors` beside partial `data`, and
//! an exhausted point budget.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::github_fake::TOKEN;

#[derive(Clone)]
pub struct Member {
    pub login: String,
    pub id: u64,
    /// SECURE, INSECURE or DISABLED.
    pub security: &'static str,
}

pub fn member(login: &str, id: u64, security: &'static str) -> Member {
    Member {
        login: login.into(),
        id,
        security,
    }
}

#[derive(Clone)]
pub struct Enterprise {
    pub slug: String,
    /// ENABLED or NO_POLICY.
    pub required: &'static str,
    /// INSECURE or NO_POLICY.
    pub disallowed: &'static str,
    pub members: Vec<Member>,
    pub owners: Vec<String>,
    pub orgs: Vec<String>,
    /// Nodes per page, whatever `first` asks: GitHub may return fewer.
    pub page_size: usize,
    /// Answer member queries with `errors` and partial `data`.
    pub partial_members: bool,
    /// `rateLimit.remaining` and seconds to `resetAt`.
    pub remaining: u64,
    pub reset_in_secs: i64,
    /// Answer this many queries with GitHub's RATE_LIMITED error (a 200
    /// with `x-ratelimit-remaining: 0` and the reset in seconds).
    pub rate_limited: usize,
}

pub fn standard_enterprise() -> Enterprise {
    Enterprise {
        slug: "acme-corp".into(),
        required: "ENABLED",
        disallowed: "INSECURE",
        members: vec![
            member("alice", 1, "SECURE"),
            member("bob", 2, "INSECURE"),
            member("carol", 3, "DISABLED"),
            member("dave", 4, "SECURE"),
            member("erin", 5, "SECURE"),
        ],
        owners: vec!["alice".into(), "carol".into()],
        orgs: vec!["acme".into(), "beta".into(), "gamma".into()],
        page_size: 2,
        partial_members: false,
        remaining: 4_990,
        reset_in_secs: 3_600,
        rate_limited: 0,
    }
}

fn cursor(n: usize) -> String {
    STANDARD.encode(format!("cursor:v2:{n}"))
}

fn offset(after: &Value) -> usize {
    after
        .as_str()
        .and_then(|c| STANDARD.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("cursor:v2:").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// One page of `nodes` from `after`, as a connection.
fn connection(nodes: &[Value], after: &Value, size: usize) -> Value {
    let from = offset(after).min(nodes.len());
    let to = (from + size).min(nodes.len());
    json!({
        "totalCount": nodes.len(),
        "pageInfo": {
            "hasNextPage": to < nodes.len(),
            "endCursor": if to > from { json!(cursor(to)) } else { Value::Null },
            "hasPreviousPage": from > 0,
            "startCursor": if to > from { json!(cursor(from + 1)) } else { Value::Null }
        },
        "nodes": nodes[from..to].to_vec()
    })
}

/// The queries seen, in order (their variables), for the tests.
pub type Seen = Arc<Mutex<Vec<Value>>>;

struct Graphql {
    state: Arc<Mutex<Enterprise>>,
    seen: Seen,
}

impl Respond for Graphql {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some(format!("Bearer {TOKEN}").as_str())
        {
            return ResponseTemplate::new(401).set_body_json(json!({
                "message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql"
            }));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let query = body["query"].as_str().unwrap_or_default();
        let vars = &body["variables"];
        self.seen.lock().unwrap().push(vars.clone());
        let e = {
            let mut state = self.state.lock().unwrap();
            let e = state.clone();
            state.rate_limited = state.rate_limited.saturating_sub(1);
            e
        };
        let reset = chrono::Utc::now() + chrono::Duration::seconds(e.reset_in_secs);
        if e.rate_limited > 0 {
            return ResponseTemplate::new(200)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.timestamp().to_string().as_str())
                .insert_header("x-ratelimit-resource", "graphql")
                .set_body_json(json!({"errors": [{
                    "type": "RATE_LIMITED",
                    "message": "API rate limit already exceeded for user ID 1."
                }]}));
        }
        let rate = json!({
            "cost": 1, "limit": 5000, "nodeCount": 100, "used": 5000 - e.remaining,
            "remaining": e.remaining, "resetAt": reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        if vars["slug"] != e.slug.as_str() {
            return ResponseTemplate::new(200).set_body_json(json!({
                "data": {"enterprise": null, "rateLimit": rate},
                "errors": [{"type": "NOT_FOUND", "path": ["enterprise"], "locations": [{"line": 1, "column": 30}],
                    "message": format!("Could not resolve to an Enterprise with the slug of '{}'.", vars["slug"].as_str().unwrap_or_default())}]
            }));
        }
        let enterprise = if query.contains("twoFactorRequiredSetting") {
            json!({"slug": e.slug, "ownerInfo": {
                "twoFactorRequiredSetting": e.required,
                "twoFactorDisallowedMethodsSetting": e.disallowed
            }})
        } else if query.contains("members(") {
            let nodes: Vec<Value> = e
                .members
                .iter()
                .filter(|m| vars["security"].is_null() || vars["security"] == m.security)
                .map(|m| json!({"__typename": "User", "login": m.login, "databaseId": m.id}))
                .collect();
            if e.partial_members && !vars["after"].is_null() {
                return ResponseTemplate::new(200).set_body_json(json!({
                    "data": {"enterprise": {"members": connection(&nodes, &vars["after"], e.page_size)}, "rateLimit": rate},
                    "errors": [{"type": "FORBIDDEN", "path": ["enterprise", "members", "nodes", 1],
                        "message": "Resource protected by organization SAML enforcement."}]
                }));
            }
            json!({"members": connection(&nodes, &vars["after"], e.page_size)})
        } else if query.contains("admins(") {
            let nodes: Vec<Value> = e
                .owners
                .iter()
                .map(|o| {
                    let id = e.members.iter().find(|m| &m.login == o).map_or(0, |m| m.id);
                    json!({"login": o, "databaseId": id})
                })
                .collect();
            json!({"ownerInfo": {"admins": connection(&nodes, &vars["after"], e.page_size)}})
        } else if query.contains("organizations(") {
            let nodes: Vec<Value> = e.orgs.iter().map(|o| json!({"login": o})).collect();
            json!({"organizations": connection(&nodes, &vars["after"], e.page_size)})
        } else {
            return ResponseTemplate::new(200).set_body_json(json!({
                "errors": [{"message": "unknown query in the stand-in"}]
            }));
        };
        ResponseTemplate::new(200)
            .insert_header("x-ratelimit-resource", "graphql")
            .set_body_json(json!({"data": {"enterprise": enterprise, "rateLimit": rate}}))
    }
}

/// Serves `enterprise` at `POST /graphql`; the handle changes it later.
pub async fn serve_enterprise(
    server: &MockServer,
    enterprise: Enterprise,
) -> (Arc<Mutex<Enterprise>>, Seen) {
    let state = Arc::new(Mutex::new(enterprise));
    let seen = Seen::default();
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(Graphql {
            state: state.clone(),
            seen: seen.clone(),
        })
        .mount(server)
        .await;
    (state, seen)
}
