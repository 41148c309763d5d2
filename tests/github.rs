//! The GitHub monitor against a local server playing the GitHub REST API
//! with real payload shapes: arrays of simple-user objects, `Link` headers
//! with `rel="next"`/`rel="last"` on `/organizations/{id}/...` URLs.
mod common;

use std::time::Duration;

use mfa_monitor::domain::{MfaStatus, TargetSnapshot};
use mfa_monitor::monitors::github::GithubMonitor;
use mfa_monitor::monitors::{Monitor, MonitorError};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::github_fake::*;

fn monitor(server: &MockServer) -> GithubMonitor {
    GithubMonitor::new(
        common::fast_http(),
        &server.uri(),
        TOKEN.to_owned().into(),
        vec!["acme".into()],
    )
    .unwrap()
}

fn status(s: &TargetSnapshot, login: &str) -> MfaStatus {
    s.principals
        .iter()
        .find(|p| p.name == login)
        .unwrap_or_else(|| panic!("{login} missing"))
        .status
}

#[tokio::test]
async fn every_page_of_every_listing_is_read_and_each_member_gets_a_status() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let s = monitor(&server).collect("acme").await.unwrap();
    assert_eq!(s.key.to_string(), "github:acme");
    assert_eq!(
        s.principals.len(),
        252,
        "250 members over 3 pages and 2 collaborators"
    );
    assert_eq!(status(&s, "dev0003"), MfaStatus::Disabled);
    assert_eq!(
        status(&s, "dev0249"),
        MfaStatus::Disabled,
        "on the last page"
    );
    assert_eq!(status(&s, "dev0007"), MfaStatus::Insecure);
    assert_eq!(status(&s, "dev0150"), MfaStatus::Enabled);
    let owner = s.principals.iter().find(|p| p.name == "dev0120").unwrap();
    assert!(owner.attributes.admin);
    assert_eq!(owner.attributes.stable_id.as_deref(), Some("10120"));
    let vendor = s.principals.iter().find(|p| p.name == "vendor").unwrap();
    assert_eq!(vendor.status, MfaStatus::Disabled);
    assert_eq!(
        vendor.attributes.kind.as_ref().map(|k| k.as_str()),
        Some("outside_collaborator")
    );
    assert_eq!(s.settings.mfa_required, Some(true));
    assert!(s.warnings.is_empty());
    // Each page once — 3 pages for members, 1 for each other listing — and
    // the last members page once more, to see that the listing held still.
    let reqs = server.received_requests().await.unwrap();
    let all_members = reqs
        .iter()
        .filter(|r| {
            r.url.path().ends_with("/members") && r.url.query().unwrap_or("").contains("filter=all")
        })
        .count();
    assert_eq!(all_members, 3 + 1);
    assert_eq!(
        reqs.len(),
        1 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1,
        "org, 3 member pages and the last again, then one page each (invitations too)"
    );
}

#[tokio::test]
async fn a_token_without_owner_rights_makes_every_status_unknown_and_says_why() {
    let server = MockServer::start().await;
    let mut org = standard_org();
    org.not_owner = true;
    org.requirement = None;
    serve(&server, "acme", &org).await;
    let s = monitor(&server).collect("acme").await.unwrap();
    assert!(s.principals.iter().all(|p| p.status == MfaStatus::Unknown));
    assert_eq!(s.settings.mfa_required, None);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("not an owner") && w.contains("read:org")),
        "{:?}",
        s.warnings
    );
    let check = monitor(&server).check("acme").await;
    assert!(
        !check.ok
            && check.detail.contains("2FA NOT visible")
            && check.detail.contains("personal access token"),
        "{check:?}"
    );
}

#[tokio::test]
async fn a_rejected_token_is_an_error_naming_github_token_without_printing_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"
        })))
        .mount(&server)
        .await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("GITHUB_TOKEN"), "{text}");
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(!text.contains(TOKEN), "token leaked: {text}");
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_as_retry_after_says() {
    let server = MockServer::start().await;
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "all"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let started = std::time::Instant::now();
    let s = monitor(&server).collect("acme").await.unwrap();
    assert_eq!(s.principals.len(), 252);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was not honoured"
    );
}

#[tokio::test]
async fn a_429_whose_retry_after_is_an_http_date_is_waited_out_until_that_date() {
    let server = MockServer::start().await;
    // Three seconds ahead at one-second resolution: a wait of over 2 s,
    // longer than the 1 s pause of a 429 whose Retry-After is not understood.
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3));
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "all"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", date.as_str()))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let started = std::time::Instant::now();
    let s = monitor(&server).collect("acme").await.unwrap();
    assert_eq!(s.principals.len(), 252);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "retry-after {date} was not honoured: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "waited past the date: {waited:?}"
    );
}

#[tokio::test]
async fn a_retry_after_date_beyond_the_budget_fails_the_org_without_waiting() {
    let server = MockServer::start().await;
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", date.as_str()))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(err.to_string().contains("beyond the 3s budget"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_primary_rate_limit_beyond_the_budget_fails_the_org() {
    let server = MockServer::start().await;
    let reset = chrono::Utc::now().timestamp() + 3600;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .mount(&server)
        .await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(err.to_string().contains("rate limited"), "{err}");
}

#[tokio::test]
async fn a_server_error_is_retried_and_then_succeeds() {
    let server = MockServer::start().await;
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "2fa_disabled"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let s = monitor(&server).collect("acme").await.unwrap();
    assert_eq!(status(&s, "dev0003"), MfaStatus::Disabled);
}

#[tokio::test]
async fn a_malformed_page_or_a_failing_page_fails_the_whole_org() {
    let server = MockServer::start().await;
    authed(Mock::given(method("GET")).and(path(format!("/organizations/{ORG_ID}/members"))))
        .and(query_param("filter", "all"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[{\"login\": \"half"))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(matches!(err, MonitorError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("page 2"), "{err}");

    let server = MockServer::start().await;
    authed(Mock::given(method("GET")).and(path(format!("/organizations/{ORG_ID}/members"))))
        .and(query_param("role", "admin"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&server)
        .await;
    let mut org = standard_org();
    org.owners = people("dev", 250, 10_000);
    serve(&server, "acme", &org).await;
    assert!(
        monitor(&server).collect("acme").await.is_err(),
        "a missing page must not shrink the org"
    );
}

#[tokio::test]
async fn an_empty_org_is_an_empty_listing_not_an_error() {
    let server = MockServer::start().await;
    serve(
        &server,
        "acme",
        &Org {
            requirement: Some(false),
            ..Org::default()
        },
    )
    .await;
    let s = monitor(&server).collect("acme").await.unwrap();
    assert!(s.principals.is_empty());
    assert_eq!(s.settings.mfa_required, Some(false));
}

#[tokio::test]
async fn a_link_to_another_host_is_refused_so_the_token_never_leaves() {
    let server = MockServer::start().await;
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])).insert_header(
            "link",
            "<https://evil.example.com/organizations/1000/members?filter=all&page=2>; rel=\"next\"",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(err.to_string().contains("outside GITHUB_API_URL"), "{err}");
}

// ------------------------------------------------ end to end via the binary

fn env(server: &MockServer, state: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("GITHUB_ORGS".into(), "acme".into()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("GITHUB_API_URL".into(), server.uri()),
        ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

async fn run(server: &MockServer, state: &std::path::Path) -> (i32, Value, String) {
    let ran = common::run_binary(&["run", "--json"], &env(server, state)).await;
    assert!(
        !ran.stdout.contains(TOKEN) && !ran.stderr.contains(TOKEN),
        "token leaked"
    );
    let v = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    (ran.code, v, ran.stderr)
}

async fn reserve(server: &MockServer, org: &Org) {
    server.reset().await;
    serve(server, "acme", org).await;
}

#[tokio::test]
async fn end_to_end_a_member_losing_2fa_is_one_alert_and_removals_renames_and_the_requirement_are_right(
) {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut org = standard_org();
    serve(&server, "acme", &org).await;

    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["targets"][0]["result"], "baseline");
    let (code, v, _) = run(&server, &state).await;
    assert_eq!((code, &v["targets"][0]["result"]), (0, &json!("unchanged")));

    // dev0010 loses 2FA.
    org.disabled.push(org.members[10].clone());
    reserve(&server, &org).await;
    let (code, v, alert) = run(&server, &state).await;
    assert_eq!(code, 0);
    assert_eq!(v["changes"], json!({"github": {"mfa_disabled": 1}}), "{v}");
    assert!(alert.contains("github:acme/dev0010 — lost MFA"), "{alert}");
    let (_, v, _) = run(&server, &state).await;
    assert_eq!(v["changes"], json!({}), "not alerted twice");

    // dev0011 leaves; dev0012 is renamed (same id).
    org.members.remove(11);
    org.members[11].login = "dev0012-renamed".into();
    reserve(&server, &org).await;
    let (_, v, _) = run(&server, &state).await;
    assert_eq!(v["changes"], json!({"github": {"removed": 1}}), "{v}");

    // The org's 2FA requirement is switched off.
    org.requirement = Some(false);
    reserve(&server, &org).await;
    let (_, v, alert) = run(&server, &state).await;
    assert_eq!(
        v["changes"],
        json!({"github": {"requirement_disabled": 1}}),
        "{v}"
    );
    assert!(alert.contains("GitHub — critical (1)"), "{alert}");

    // A malformed page: source_failed, exit 1, state byte-for-byte unchanged.
    let before = common::targets_in(&state);
    server.reset().await;
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "2fa_disabled"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>unicorn</html>"))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &org).await;
    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 1);
    assert_eq!(v["changes"], json!({"github": {"source_failed": 1}}), "{v}");
    assert_eq!(common::targets_in(&state), before);
}

#[tokio::test]
async fn end_to_end_a_non_owner_token_gives_a_baseline_of_unknowns_and_no_alert_after() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut org = standard_org();
    org.not_owner = true;
    serve(&server, "acme", &org).await;
    let (code, v, alert) = run(&server, &state).await;
    assert_eq!(code, 0, "{v}");
    assert!(v["targets"][0]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not an owner"));
    assert!(alert.contains("252 unknown"), "{alert}");
    assert!(
        alert.contains("not an owner"),
        "the message says why: {alert}"
    );
    let (_, v, _) = run(&server, &state).await;
    assert_eq!(
        v["changes"],
        json!({}),
        "a standing warning is not re-alerted"
    );
}

#[tokio::test]
async fn check_reports_reachability_owner_rights_and_members_visible() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let check = monitor(&server).check("acme").await;
    assert!(check.ok, "{check:?}");
    assert!(
        check
            .detail
            .contains("personal access token (GITHUB_TOKEN)")
            && check.detail.contains("2FA visible")
            && check.detail.contains("250 member(s)"),
        "{check:?}"
    );
}

#[tokio::test]
async fn one_org_failing_leaves_the_other_orgs_of_the_pass_untouched() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = env(&server, &state);
    env[0].1 = "acme,ghost".into();
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    let results: Vec<(String, String)> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_owned(),
                t["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        results.contains(&("github:acme".into(), "baseline".into())),
        "{results:?}"
    );
    assert!(
        results.contains(&("github:ghost".into(), "failed".into())),
        "{results:?}"
    );
    let ghost = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "github:ghost")
        .unwrap();
    assert!(ghost["error"].as_str().unwrap().contains("404"), "{ghost}");
}

#[tokio::test]
async fn a_token_from_secrets_manager_is_used_and_never_printed() {
    if common::skip_without_moto() {
        return;
    }
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let account = common::unique_account();
    let cfg = common::account_config(&account).await;
    let secret = common::unique("github-token");
    aws_sdk_secretsmanager::Client::new(&cfg)
        .create_secret()
        .name(&secret)
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env: Vec<(String, String)> = env(&server, &state)
        .into_iter()
        .filter(|(k, _)| k != "GITHUB_TOKEN")
        .collect();
    env.push(("GITHUB_TOKEN_SECRET_ID".into(), secret.clone()));
    env.push(("RUST_LOG".into(), "trace".into()));
    env.extend(common::account_env(&account).await);
    for args in [
        &["run", "--json"][..],
        &["check"][..],
        &["status", "--json"][..],
    ] {
        let ran = common::run_binary(args, &env).await;
        assert_eq!(ran.code, 0, "{args:?}: {}\n{}", ran.stdout, ran.stderr);
        assert!(
            !ran.stdout.contains(TOKEN) && !ran.stderr.contains(TOKEN),
            "{args:?} printed the token"
        );
    }

    env.retain(|(k, _)| k != "GITHUB_TOKEN_SECRET_ID");
    env.push(("GITHUB_TOKEN_SECRET_ID".into(), "no-such-secret".into()));
    let ran = common::run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("GITHUB_TOKEN_SECRET_ID") && ran.stderr.contains("no-such-secret"),
        "{}",
        ran.stderr
    );
}

/// Serves page `n` of `/organizations/{id}/members?filter=all` as `first`
/// for the first `times` requests, and as `then` afterwards: a member
/// leaving or joining while the org is read shifts every later page.
async fn shifting_members_page(
    server: &MockServer,
    n: usize,
    first: &[Person],
    times: u64,
    then: &[Person],
) {
    let body = |people: &[Person]| people.iter().map(simple_user).collect::<Vec<Value>>();
    for (people, priority, limit) in [(first, 1u8, Some(times)), (then, 2, None)] {
        let m = authed(
            Mock::given(method("GET")).and(path(format!("/organizations/{ORG_ID}/members"))),
        )
        .and(query_param("filter", "all"))
        .and(query_param("page", n.to_string().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body(people)))
        .with_priority(priority);
        match limit {
            Some(t) => m.up_to_n_times(t).mount(server).await,
            None => m.mount(server).await,
        }
    }
}

#[tokio::test]
async fn a_listing_that_moves_while_it_is_read_is_read_again_and_then_exact() {
    let server = MockServer::start().await;
    let org = standard_org();
    // The first read of the last members page (dev200..dev249) is answered
    // as if dev210 had just left; the re-check of that page sees it whole.
    let mut moved: Vec<Person> = org.members[200..].to_vec();
    moved.remove(10);
    shifting_members_page(&server, 3, &moved, 1, &org.members[200..]).await;
    serve(&server, "acme", &org).await;
    let s = monitor(&server).collect("acme").await.unwrap();
    assert_eq!(
        s.principals
            .iter()
            .filter(|p| p.name.starts_with("dev"))
            .count(),
        250
    );
    assert_eq!(status(&s, "dev0249"), MfaStatus::Disabled);
    let page3 = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.url.path().ends_with("/members")
                && r.url
                    .query()
                    .is_some_and(|q| q.contains("filter=all") && q.contains("page=3"))
        })
        .count();
    assert_eq!(
        page3, 4,
        "read and re-checked, then the whole org once more"
    );
}

/// Answers each request with the next body in turn, round and round.
struct Alternating(Vec<Value>, std::sync::atomic::AtomicUsize);

impl wiremock::Respond for Alternating {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(&self.0[n % self.0.len()])
    }
}

#[tokio::test]
async fn a_listing_that_keeps_moving_fails_the_org_as_incomplete() {
    let server = MockServer::start().await;
    let org = standard_org();
    let mut moved: Vec<Person> = org.members[200..].to_vec();
    moved.remove(10);
    let body = |people: &[Person]| json!(people.iter().map(simple_user).collect::<Vec<Value>>());
    // Every read of the last page differs from the one before: it never
    // holds still.
    authed(Mock::given(method("GET")).and(path(format!("/organizations/{ORG_ID}/members"))))
        .and(query_param("filter", "all"))
        .and(query_param("page", "3"))
        .respond_with(Alternating(
            vec![body(&moved), body(&org.members[200..])],
            Default::default(),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &org).await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(
        matches!(&err, MonitorError::Incomplete(m) if m.contains("moved while they were read, twice in a row")),
        "{err}"
    );
}

#[tokio::test]
async fn a_filtered_listing_naming_someone_outside_the_full_one_is_read_again() {
    let server = MockServer::start().await;
    let mut org = standard_org();
    // A member who joined between the full listing and the 2fa_disabled
    // one: not in the first, in the second, both times.
    org.disabled.push(person("newcomer", 777_777));
    serve(&server, "acme", &org).await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(
        matches!(&err, MonitorError::Incomplete(m) if m.contains("members?filter=2fa_disabled are not in the full listing")),
        "{err}"
    );
}

#[tokio::test]
async fn a_last_link_that_does_not_follow_the_next_one_fails_the_org_instead_of_ending_the_listing()
{
    let server = MockServer::start().await;
    let org = standard_org();
    let body: Vec<Value> = org.members[..100].iter().map(simple_user).collect();
    let link = |n: usize| {
        format!(
            "{}/organizations/{ORG_ID}/members?filter=all&per_page=100&page={n}",
            server.uri()
        )
    };
    authed(Mock::given(method("GET")).and(path("/orgs/acme/members")))
        .and(query_param("filter", "all"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(body)
                .insert_header(
                    "link",
                    format!("<{}>; rel=\"next\", <{}>; rel=\"last\"", link(2), link(1)).as_str(),
                ),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &org).await;
    let err = monitor(&server).collect("acme").await.unwrap_err();
    assert!(
        matches!(&err, MonitorError::Malformed(m) if m.contains("does not follow the `next` one")),
        "{err}"
    );
}
