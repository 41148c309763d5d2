//! A local server playing GitHub's REST API for one organization: arrays
//! of simple-user objects in pages of 100 with real `Link` headers, the
//! pending invitations, and (`app.rs`) a GitHub App's installation and
//! token endpoints, which verify the App's JWT against its public key.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const TOKEN: &str = "ghp_s3cretTokenValue0123456789";

/// Bearer tokens the fake accepts: the personal token, and every
/// installation token the App endpoints minted (tokens are unique per
/// test, so tests running at once do not see each other's).
pub static ACCEPTED: LazyLock<Mutex<HashSet<String>>> =
    LazyLock::new(|| Mutex::new(HashSet::from([TOKEN.to_owned()])));

pub fn accept(token: &str) {
    ACCEPTED.lock().unwrap().insert(token.to_owned());
}

/// Matches a request whose `Authorization: Bearer X` carries an accepted
/// token.
pub struct AcceptedBearer;

impl wiremock::Match for AcceptedBearer {
    fn matches(&self, request: &Request) -> bool {
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| ACCEPTED.lock().unwrap().contains(t))
    }
}
pub const ORG_ID: u64 = 1000;

#[derive(Clone)]
pub struct Person {
    pub login: String,
    pub id: u64,
}

pub fn person(login: &str, id: u64) -> Person {
    Person {
        login: login.into(),
        id,
    }
}

pub fn people(prefix: &str, n: usize, first_id: u64) -> Vec<Person> {
    (0..n)
        .map(|i| person(&format!("{prefix}{i:04}"), first_id + i as u64))
        .collect()
}

pub fn simple_user(p: &Person) -> Value {
    json!({
        "login": p.login, "id": p.id, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", p.id),
        "gravatar_id": "", "url": format!("https://api.github.com/users/{}", p.login),
        "html_url": format!("https://github.com/{}", p.login), "type": "User",
        "site_admin": false, "user_view_type": "public"
    })
}

/// What the fake org holds.
#[derive(Clone, Default)]
pub struct Org {
    pub members: Vec<Person>,
    pub disabled: Vec<Person>,
    pub insecure: Vec<Person>,
    pub owners: Vec<Person>,
    pub collaborators: Vec<Person>,
    pub collaborators_disabled: Vec<Person>,
    pub requirement: Option<bool>,
    pub not_owner: bool,
    /// Pending invitations: a login, or `None` for one sent by email.
    pub invitations: Vec<(u64, Option<String>)>,
}

/// One entry of `GET /orgs/{org}/invitations`, as GitHub shapes it.
pub fn invitation(id: u64, login: Option<&str>) -> Value {
    json!({
        "id": id, "login": login,
        "node_id": "MDIyOk9yZ2FuaXphdGlvbkludml0YXRpb24x",
        "email": if login.is_none() { json!(format!("invitee{id}@example.com")) } else { Value::Null },
        "role": "direct_member", "created_at": "2026-11-20T10:00:00Z",
        "failed_at": null, "failed_reason": null,
        "inviter": simple_user(&person("octocat", 1)),
        "team_count": 0, "invitation_source": "member",
        "invitation_teams_url": format!("https://api.github.com/organizations/2/invitations/{id}/teams")
    })
}

pub fn authed(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(AcceptedBearer)
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}

/// Serves one listing of simple users in pages of 100, with GitHub's
/// `Link` headers.
pub async fn listing(
    server: &MockServer,
    org: &str,
    kind: &str,
    key: &str,
    value: &str,
    users: &[Person],
) {
    let bodies: Vec<Value> = users.iter().map(simple_user).collect();
    listing_of(server, org, kind, Some((key, value)), &bodies).await;
}

/// Serves any listing (`query`: the one filter it is asked with, if any)
/// in pages of 100, with GitHub's `Link` headers.
pub async fn listing_of(
    server: &MockServer,
    org: &str,
    kind: &str,
    query: Option<(&str, &str)>,
    entries: &[Value],
) {
    let pages: Vec<&[Value]> = if entries.is_empty() {
        vec![&[]]
    } else {
        entries.chunks(100).collect()
    };
    let last = pages.len();
    let q = query.map(|(k, v)| format!("{k}={v}&")).unwrap_or_default();
    let link = |n: usize| {
        format!(
            "{}/organizations/{ORG_ID}/{kind}?{q}per_page=100&page={n}",
            server.uri()
        )
    };
    for (i, page) in pages.iter().enumerate() {
        let n = i + 1;
        let mut resp = ResponseTemplate::new(200).set_body_json(page.to_vec());
        let mut rels = Vec::new();
        if n < last {
            rels.push(format!("<{}>; rel=\"next\"", link(n + 1)));
            rels.push(format!("<{}>; rel=\"last\"", link(last)));
        }
        if n > 1 {
            rels.push(format!("<{}>; rel=\"prev\"", link(n - 1)));
            rels.push(format!("<{}>; rel=\"first\"", link(1)));
        }
        if !rels.is_empty() {
            resp = resp.insert_header("link", rels.join(", ").as_str());
        }
        let mut m = if n == 1 {
            authed(Mock::given(method("GET")).and(path(format!("/orgs/{org}/{kind}"))))
                .and(query_param("per_page", "100"))
                .and(query_param_is_missing("page"))
        } else {
            authed(Mock::given(method("GET")).and(path(format!("/organizations/{ORG_ID}/{kind}"))))
                .and(query_param("page", n.to_string().as_str()))
        };
        if let Some((k, v)) = query {
            m = m.and(query_param(k, v));
        }
        m.respond_with(resp).mount(server).await;
    }
}

pub async fn refuse_filter(server: &MockServer, org: &str, kind: &str, value: &str) {
    authed(Mock::given(method("GET")).and(path(format!("/orgs/{org}/{kind}"))))
        .and(query_param("filter", value))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Only owners can use this filter.",
            "documentation_url": "https://docs.github.com/rest/orgs/members#list-organization-members",
            "status": "422"
        })))
        .mount(server)
        .await;
}

pub async fn serve(server: &MockServer, name: &str, org: &Org) {
    let mut info: Value =
        serde_json::from_str(include_str!("../fixtures/github-org.json")).unwrap();
    info["login"] = json!(name);
    info["two_factor_requirement_enabled"] = json!(org.requirement);
    authed(Mock::given(method("GET")).and(path(format!("/orgs/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(info))
        .mount(server)
        .await;
    listing(server, name, "members", "filter", "all", &org.members).await;
    listing(server, name, "members", "role", "admin", &org.owners).await;
    listing(
        server,
        name,
        "outside_collaborators",
        "filter",
        "all",
        &org.collaborators,
    )
    .await;
    let invitations: Vec<Value> = org
        .invitations
        .iter()
        .map(|(id, login)| invitation(*id, login.as_deref()))
        .collect();
    listing_of(server, name, "invitations", None, &invitations).await;
    if org.not_owner {
        for kind in ["members", "outside_collaborators"] {
            refuse_filter(server, name, kind, "2fa_disabled").await;
            refuse_filter(server, name, kind, "2fa_insecure").await;
        }
    } else {
        listing(
            server,
            name,
            "members",
            "filter",
            "2fa_disabled",
            &org.disabled,
        )
        .await;
        listing(
            server,
            name,
            "members",
            "filter",
            "2fa_insecure",
            &org.insecure,
        )
        .await;
        listing(
            server,
            name,
            "outside_collaborators",
            "filter",
            "2fa_disabled",
            &org.collaborators_disabled,
        )
        .await;
        listing(
            server,
            name,
            "outside_collaborators",
            "filter",
            "2fa_insecure",
            &[],
        )
        .await;
    }
}

pub fn standard_org() -> Org {
    let members = people("dev", 250, 10_000);
    Org {
        disabled: vec![
            members[3].clone(),
            members[120].clone(),
            members[249].clone(),
        ],
        insecure: vec![members[7].clone()],
        owners: vec![members[0].clone(), members[120].clone()],
        members,
        collaborators: vec![person("contractor", 99), person("vendor", 98)],
        collaborators_disabled: vec![person("vendor", 98)],
        requirement: Some(true),
        ..Org::default()
    }
}
