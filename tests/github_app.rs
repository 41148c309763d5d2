//! The GitHub monitor as a GitHub App, with managed-user orgs and pending
//! invitations, against local servers playing GitHub's REST API. The App
//! endpoints verify the App's JWT against its public key
//! (`common/github_app_fake.rs`).
mod common;

use std::time::Duration;

use mfa_monitor::domain::{MfaStatus, NaReason, TargetSnapshot};
use mfa_monitor::jwt::Rs256Signer;
use mfa_monitor::monitors::github::{GithubMonitor, REFRESH_BEFORE};
use mfa_monitor::monitors::Monitor;
use serde_json::{json, Value};
use wiremock::MockServer;

use common::github_app_fake::*;
use common::github_fake::*;

fn app_monitor(server: &MockServer, key: &str) -> GithubMonitor {
    GithubMonitor::with_app(
        common::fast_http(),
        &server.uri(),
        APP_ID.into(),
        Rs256Signer::from_rsa_pem(key).unwrap(),
        vec!["acme".into()],
    )
    .unwrap()
}

fn find<'a>(s: &'a TargetSnapshot, login: &str) -> &'a mfa_monitor::domain::Observation {
    s.principals
        .iter()
        .find(|p| p.name == login)
        .unwrap_or_else(|| panic!("{login} missing"))
}

/// The bearer tokens the listings of `/orgs/acme/members` were read with.
async fn listing_tokens(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/orgs/acme/members")
        .filter_map(|r| r.headers.get("authorization")?.to_str().ok())
        .map(|a| a.trim_start_matches("Bearer ").to_owned())
        .collect()
}

#[tokio::test]
async fn the_app_jwt_gets_an_installation_token_that_reads_the_org_and_is_reused_while_valid() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let app = serve_app(&server, "acme", Duration::from_secs(3600)).await;
    let monitor = app_monitor(&server, APP_KEY);
    let s = monitor.collect("acme").await.unwrap();
    assert_eq!(s.principals.len(), 252);
    assert_eq!(find(&s, "dev0003").status, MfaStatus::Disabled);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    monitor.collect("acme").await.unwrap();
    let (refused, minted) = {
        let log = app.log.lock().unwrap();
        (log.refused.clone(), log.minted.clone())
    };
    assert!(refused.is_empty(), "JWT refused: {refused:?}");
    assert_eq!(minted.len(), 1, "one token for both reads");
    let used = listing_tokens(&server).await;
    assert!(!used.is_empty() && used.iter().all(|t| *t == minted[0]));
}

#[tokio::test]
async fn a_token_close_to_its_expiry_is_replaced_by_a_new_one_before_the_next_read() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    // Expires within the refresh margin: not to be used for another read.
    let app = serve_app(&server, "acme", REFRESH_BEFORE - Duration::from_secs(60)).await;
    let monitor = app_monitor(&server, APP_KEY);
    monitor.collect("acme").await.unwrap();
    *app.ttl.lock().unwrap() = Duration::from_secs(3600);
    monitor.collect("acme").await.unwrap();
    monitor.collect("acme").await.unwrap();
    let minted = app.log.lock().unwrap().minted.clone();
    assert_eq!(minted.len(), 2, "refreshed once, then reused: {minted:?}");
    let used = listing_tokens(&server).await;
    assert_eq!(used.first(), Some(&minted[0]));
    assert_eq!(
        used.last(),
        Some(&minted[1]),
        "the new token is the one used"
    );
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_refused_and_the_error_says_what_to_check() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    let app = serve_app(&server, "acme", Duration::from_secs(3600)).await;
    let other = include_str!("fixtures/snowflake-test-key.p8");
    let err = app_monitor(&server, other)
        .collect("acme")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("JWT was rejected") && text.contains("GITHUB_APP_ID"),
        "{text}"
    );
    assert!(app.log.lock().unwrap().refused[0].contains("does not verify"));
}

#[tokio::test]
async fn an_app_not_installed_on_the_org_fails_it_naming_the_installation() {
    let server = MockServer::start().await;
    serve(&server, "acme", &standard_org()).await;
    // No App endpoints for acme: GET /orgs/acme/installation is a 404.
    let err = app_monitor(&server, APP_KEY)
        .collect("acme")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not installed on acme"), "{err}");
}

#[tokio::test]
async fn an_installation_token_refused_the_2fa_filters_makes_statuses_unknown_with_one_message() {
    let server = MockServer::start().await;
    let mut org = standard_org();
    org.not_owner = true;
    serve(&server, "acme", &org).await;
    serve_app(&server, "acme", Duration::from_secs(3600)).await;
    let monitor = app_monitor(&server, APP_KEY);
    let s = monitor.collect("acme").await.unwrap();
    assert!(s.principals.iter().all(|p| p.status == MfaStatus::Unknown));
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    let w = &s.warnings[0];
    assert!(
        w.contains("GitHub App installation token")
            && w.contains("members and outside collaborators")
            && w.contains("Members (read)")
            && w.contains("owner's personal token"),
        "{w}"
    );
    let check = monitor.check("acme").await;
    assert!(!check.ok, "{check:?}");
    assert!(
        check.detail.contains("GitHub App installation token")
            && check.detail.contains("2FA NOT visible")
            && check.detail.contains("250 member(s) visible"),
        "{check:?}"
    );
}

fn managed_org_members() -> Org {
    let alice = person("alice_fabrikam", 501);
    let bob = person("bob_fabrikam", 502);
    let setup = person("fabrikam_admin", 503);
    let guest = person("octo-guest", 504);
    Org {
        members: vec![alice.clone(), bob.clone(), setup.clone(), guest.clone()],
        // GitHub lists managed users as without 2FA: they have none there.
        disabled: vec![alice.clone(), bob, setup.clone(), guest],
        owners: vec![alice],
        requirement: Some(false),
        ..Org::default()
    }
}

#[tokio::test]
async fn a_managed_user_org_gives_its_members_idp_managed_and_measures_the_setup_user() {
    let server = MockServer::start().await;
    serve(&server, "acme", &managed_org_members()).await;
    let s = monitor_with_token(&server).collect("acme").await.unwrap();
    let alice = find(&s, "alice_fabrikam");
    assert_eq!(alice.status, MfaStatus::NotApplicable);
    assert_eq!(alice.attributes.reason, Some(NaReason::IdpManaged));
    assert!(alice.attributes.admin, "an owner stays an owner");
    let setup = find(&s, "fabrikam_admin");
    assert_eq!(
        setup.status,
        MfaStatus::Disabled,
        "the setup user is measured"
    );
    assert!(setup.attributes.admin);
    assert_eq!(
        setup.attributes.kind.as_ref().map(|k| k.as_str()),
        Some("setup_user")
    );
    // A login without the shortcode is measured too.
    assert_eq!(find(&s, "octo-guest").status, MfaStatus::Disabled);
    assert!(s.settings.details["managed_users"].contains("fabrikam"));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

fn monitor_with_token(server: &MockServer) -> GithubMonitor {
    GithubMonitor::new(
        common::fast_http(),
        &server.uri(),
        TOKEN.to_owned().into(),
        vec!["acme".into()],
    )
    .unwrap()
}

#[tokio::test]
async fn github_emu_orgs_declares_a_managed_org_the_logins_alone_would_not_show() {
    let server = MockServer::start().await;
    let mut org = managed_org_members();
    // Three of six carry the shortcode: no majority to infer from.
    org.members.push(person("hubot", 505));
    org.members.push(person("mona", 506));
    serve(&server, "acme", &org).await;
    let plain = monitor_with_token(&server).collect("acme").await.unwrap();
    assert_eq!(find(&plain, "alice_fabrikam").status, MfaStatus::Disabled);
    let declared = monitor_with_token(&server)
        .with_emu_orgs(vec![("ACME".into(), Some("fabrikam".into()))])
        .collect("acme")
        .await
        .unwrap();
    assert_eq!(
        find(&declared, "alice_fabrikam").status,
        MfaStatus::NotApplicable
    );
    assert_eq!(
        find(&declared, "fabrikam_admin").status,
        MfaStatus::Disabled
    );
    assert_eq!(find(&declared, "hubot").status, MfaStatus::Enabled);
    assert!(declared.settings.details["managed_users"].contains("GITHUB_EMU_ORGS"));
}

#[tokio::test]
async fn pending_invitations_are_read_to_the_last_page_and_listed_as_invited() {
    let server = MockServer::start().await;
    let mut org = standard_org();
    org.invitations = (0..150)
        .map(|i| (900_000 + i, (i % 50 != 0).then(|| format!("newbie{i:03}"))))
        .collect();
    serve(&server, "acme", &org).await;
    let s = monitor_with_token(&server).collect("acme").await.unwrap();
    let invited = &s.settings.details["invited"];
    assert!(invited.starts_with("150 pending: newbie001, "), "{invited}");
    assert!(
        invited.contains("newbie149"),
        "on the second page: {invited}"
    );
    assert!(invited.ends_with("3 by email"), "{invited}");
    assert!(
        s.principals.iter().all(|p| !p.name.starts_with("newbie")),
        "invited people are not members"
    );
    let pages = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/invitations"))
        .count();
    assert_eq!(pages, 2 + 1, "two pages and the last again");
}

#[tokio::test]
async fn invitations_the_credential_may_not_read_leave_a_warning_not_a_failure() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/orgs/acme/invitations"))
        .respond_with(wiremock::ResponseTemplate::new(403).set_body_json(json!({
            "message": "Must have admin rights to organization.", "status": "403"
        })))
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, "acme", &standard_org()).await;
    let s = monitor_with_token(&server).collect("acme").await.unwrap();
    assert_eq!(find(&s, "dev0003").status, MfaStatus::Disabled);
    assert!(!s.settings.details.contains_key("invited"));
    assert!(
        s.warnings.len() == 1 && s.warnings[0].contains("invitations of acme could not be read"),
        "{:?}",
        s.warnings
    );
}

// ------------------------------------------------ end to end via the binary

fn app_env(server: &MockServer, state: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("GITHUB_ORGS".into(), "acme".into()),
        ("GITHUB_APP_ID".into(), APP_ID.into()),
        ("GITHUB_APP_PRIVATE_KEY".into(), APP_KEY.into()),
        ("GITHUB_API_URL".into(), server.uri()),
        ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

#[tokio::test]
async fn end_to_end_two_runs_with_app_credentials_give_a_baseline_then_one_alert() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut org = standard_org();
    serve(&server, "acme", &org).await;
    let app = serve_app(&server, "acme", Duration::from_secs(3600)).await;
    let key_body = APP_KEY.lines().nth(3).unwrap().to_owned();

    let ran = common::run_binary(&["run", "--json"], &app_env(&server, &state)).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["targets"][0]["result"], "baseline", "{v}");

    org.disabled.push(org.members[10].clone());
    server.reset().await;
    serve(&server, "acme", &org).await;
    let app2 = serve_app(&server, "acme", Duration::from_secs(3600)).await;
    let ran = common::run_binary(&["run", "--json"], &app_env(&server, &state)).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["changes"], json!({"github": {"mfa_disabled": 1}}), "{v}");
    assert!(ran.stderr.contains("github:acme/dev0010"), "{}", ran.stderr);
    let minted = [
        app.log.lock().unwrap().minted.clone(),
        app2.log.lock().unwrap().minted.clone(),
    ];
    for (i, m) in minted.iter().enumerate() {
        assert_eq!(m.len(), 1, "run {i}: one installation token");
        assert!(!ran.stdout.contains(&m[0]) && !ran.stderr.contains(&m[0]));
    }
    assert!(app2.log.lock().unwrap().refused.is_empty());
    assert!(
        !ran.stdout.contains(&key_body) && !ran.stderr.contains(&key_body),
        "the key never shows"
    );

    let ran = common::run_binary(&["check"], &app_env(&server, &state)).await;
    assert!(
        ran.stdout.contains("GitHub App installation token") && ran.stdout.contains("2FA visible"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
}

#[tokio::test]
async fn a_personal_token_and_an_app_both_configured_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let mut env = app_env(&server, &dir.path().join("s.json"));
    env.push(("GITHUB_TOKEN".into(), TOKEN.into()));
    let ran = common::run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 2, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("GITHUB_APP_ID") && ran.stderr.contains("set one of them"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains(TOKEN));
    assert!(server.received_requests().await.unwrap().is_empty());
}
