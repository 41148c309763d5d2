//! GitHub enterprises through GraphQL, against a local server playing
//! GitHub's GraphQL API (`common/github_graphql_fake.rs`) beside the REST
//! stand-in for the enterprise's organizations.
mod common;

use mfa_monitor::domain::MfaStatus;
use mfa_monitor::monitors::github::{GithubMonitor, ENTERPRISE_REQUIRED, ENTERPRISE_SECURE_ONLY};
use mfa_monitor::monitors::Monitor;
use serde_json::{json, Value};
use wiremock::MockServer;

use common::github_fake::*;
use common::github_graphql_fake::*;

fn monitor(server: &MockServer) -> GithubMonitor {
    GithubMonitor::new(
        common::fast_http(),
        &server.uri(),
        TOKEN.to_owned().into(),
        vec![],
    )
    .unwrap()
    .with_enterprises(
        &format!("{}/graphql", server.uri()),
        vec!["acme-corp".into()],
    )
    .unwrap()
}

#[tokio::test]
async fn the_enterprise_policy_members_by_method_security_and_owners_are_read_over_every_page() {
    let server = MockServer::start().await;
    let (_, seen) = serve_enterprise(&server, standard_enterprise()).await;
    let m = monitor(&server);
    assert_eq!(m.targets(), ["enterprise:acme-corp"]);
    let s = m.collect("enterprise:acme-corp").await.unwrap();
    assert_eq!(s.key.to_string(), "github:enterprise:acme-corp");
    let status = |l: &str| s.principals.iter().find(|p| p.name == l).unwrap();
    assert_eq!(status("alice").status, MfaStatus::Enabled);
    assert_eq!(status("bob").status, MfaStatus::Insecure);
    assert_eq!(status("carol").status, MfaStatus::Disabled);
    assert_eq!(
        status("erin").status,
        MfaStatus::Enabled,
        "on the last page"
    );
    assert!(status("carol").attributes.admin && !status("bob").attributes.admin);
    assert_eq!(s.principals.len(), 5);
    assert!(s.settings.requirements[ENTERPRISE_REQUIRED]);
    assert!(s.settings.requirements[ENTERPRISE_SECURE_ONLY]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let member_pages = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v.get("security").is_some_and(Value::is_null))
        .count();
    assert_eq!(member_pages, 3, "five members, two a page");
}

#[tokio::test]
async fn the_enterprises_organizations_are_discovered_across_pages() {
    let server = MockServer::start().await;
    serve_enterprise(&server, standard_enterprise()).await;
    let found = monitor(&server).discover().await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].scope.to_string(),
        "github:enterprise:acme-corp:organizations"
    );
    let orgs: Vec<String> = found[0]
        .found
        .as_ref()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(orgs, ["github:acme", "github:beta", "github:gamma"]);
}

#[tokio::test]
async fn an_exhausted_point_budget_is_waited_out_when_it_resets_within_the_budget() {
    let server = MockServer::start().await;
    let mut e = standard_enterprise();
    e.remaining = 0;
    e.reset_in_secs = 1;
    serve_enterprise(&server, e).await;
    let started = std::time::Instant::now();
    let found = monitor(&server).discover().await;
    assert!(found[0].found.is_ok(), "{:?}", found[0].found);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
}

#[tokio::test]
async fn an_exhausted_point_budget_resetting_beyond_the_budget_fails_the_enterprise() {
    let server = MockServer::start().await;
    let mut e = standard_enterprise();
    e.remaining = 0;
    serve_enterprise(&server, e).await;
    let started = std::time::Instant::now();
    let err = monitor(&server)
        .collect("enterprise:acme-corp")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("GraphQL rate limit exhausted")
            && err.to_string().contains("beyond"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "did not wait"
    );
}

#[tokio::test]
async fn a_rate_limited_answer_is_waited_out_once_when_its_reset_fits_and_fails_the_target_otherwise(
) {
    let server = MockServer::start().await;
    let mut e = standard_enterprise();
    e.rate_limited = 1;
    e.reset_in_secs = 1;
    let (state, _) = serve_enterprise(&server, e).await;
    let found = monitor(&server).discover().await;
    assert!(found[0].found.is_ok(), "{:?}", found[0].found);
    {
        let mut s = state.lock().unwrap();
        s.rate_limited = 5;
        s.reset_in_secs = 3_600;
    }
    let err = monitor(&server)
        .collect("enterprise:acme-corp")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rate limit exhausted")
            && err.to_string().contains("RATE_LIMITED"),
        "{err}"
    );
}

#[tokio::test]
async fn graphql_errors_beside_partial_data_fail_the_enterprise_naming_them() {
    let server = MockServer::start().await;
    let mut e = standard_enterprise();
    e.partial_members = true;
    serve_enterprise(&server, e).await;
    let err = monitor(&server)
        .collect("enterprise:acme-corp")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("partial data (not used)") && text.contains("SAML enforcement"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_slug_is_an_error_naming_it() {
    let server = MockServer::start().await;
    let mut e = standard_enterprise();
    e.slug = "other".into();
    serve_enterprise(&server, e).await;
    let err = monitor(&server)
        .collect("enterprise:acme-corp")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("acme-corp"), "{err}");
}

// ------------------------------------------------ end to end via the binary

fn env(server: &MockServer, state: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("GITHUB_ENTERPRISES".into(), "acme-corp".into()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("GITHUB_API_URL".into(), server.uri()),
        ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
        ("MFA_SOURCE_FAILURE_THRESHOLD".into(), "1".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

async fn run(server: &MockServer, state: &std::path::Path) -> (i32, Value, String) {
    let ran = common::run_binary(&["run", "--json"], &env(server, state)).await;
    assert!(!ran.stdout.contains(TOKEN) && !ran.stderr.contains(TOKEN));
    let v = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    (ran.code, v, ran.stderr)
}

fn small_org(prefix: &str, first_id: u64) -> Org {
    let members = people(prefix, 3, first_id);
    Org {
        disabled: vec![members[1].clone()],
        owners: vec![members[0].clone()],
        members,
        requirement: Some(true),
        ..Org::default()
    }
}

async fn serve_orgs(server: &MockServer, orgs: &[&str]) {
    for (i, o) in orgs.iter().enumerate() {
        serve(server, o, &small_org(o, 20_000 + 100 * i as u64)).await;
    }
}

fn results(v: &Value) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap_or_default().to_owned(),
                t["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    r.sort();
    r
}

#[tokio::test]
async fn end_to_end_the_enterprise_and_its_orgs_with_one_joining_one_leaving_and_its_requirement_switched_off(
) {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (ent, _) = serve_enterprise(&server, standard_enterprise()).await;
    serve_orgs(&server, &["acme", "beta", "gamma", "delta"]).await;

    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 0, "{v}");
    let r = results(&v);
    assert!(
        r.iter().filter(|(_, res)| res == "baseline").count() == 4,
        "the enterprise and its three orgs: {r:?}"
    );
    let (_, v, _) = run(&server, &state).await;
    assert_eq!(v["changes"], json!({}), "{v}");

    // delta joins the enterprise: a baseline for it alone.
    ent.lock().unwrap().orgs.push("delta".into());
    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 0, "{v}");
    let r = results(&v);
    assert!(
        r.iter()
            .any(|(t, res)| t.ends_with(":delta") && res == "baseline"),
        "{r:?}"
    );
    assert_eq!(
        r.iter().filter(|(_, res)| res == "baseline").count(),
        1,
        "{r:?}"
    );

    // gamma leaves: one notice for the org, not one per member.
    ent.lock().unwrap().orgs.retain(|o| o != "gamma");
    let (_, v, alert) = run(&server, &state).await;
    assert_eq!(v["changes"], json!({"github": {"removed": 1}}), "{v}");
    assert!(alert.contains("gamma"), "{alert}");

    // The enterprise's 2FA requirement is switched off: one critical alert.
    ent.lock().unwrap().required = "NO_POLICY";
    let (_, v, alert) = run(&server, &state).await;
    assert_eq!(
        v["changes"],
        json!({"github": {"requirement_disabled": 1}}),
        "{v}"
    );
    assert!(alert.contains("critical (1)"), "{alert}");
    assert!(alert.contains(ENTERPRISE_REQUIRED), "{alert}");
}

#[tokio::test]
async fn end_to_end_graphql_errors_with_partial_data_or_an_exhausted_budget_are_source_failed_and_touch_no_state(
) {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (ent, _) = serve_enterprise(&server, standard_enterprise()).await;
    serve_orgs(&server, &["acme", "beta", "gamma"]).await;
    let (code, _, _) = run(&server, &state).await;
    assert_eq!(code, 0);
    let before = common::targets_in(&state)["github:enterprise:acme-corp"].clone();
    assert!(!before.is_null());

    ent.lock().unwrap().partial_members = true;
    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["changes"], json!({"github": {"source_failed": 1}}), "{v}");
    assert_eq!(
        common::targets_in(&state)["github:enterprise:acme-corp"],
        before
    );

    {
        let mut e = ent.lock().unwrap();
        e.partial_members = false;
        e.remaining = 0;
    }
    let (code, v, _) = run(&server, &state).await;
    assert_eq!(code, 1, "{v}");
    let failed: Vec<&Value> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["result"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{v}");
    assert!(
        failed.iter().any(|t| t.to_string().contains("rate limit")),
        "{v}"
    );
    assert_eq!(
        common::targets_in(&state)["github:enterprise:acme-corp"],
        before
    );
}
