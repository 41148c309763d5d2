//! Snowflake as it is now (issue 16), end to end through `mfa-monitor run`
//! against a local SQL API v2 server that verifies each request's key-pair
//! JWT for its account: how each person signs in, the account's
//! authentication policy, admins' MFA methods, PATs, enforcement
//! readiness, several accounts. Payloads are today's shapes
//! (`tests/fixtures/snowflake-show-users-2026.json` and the policy,
//! methods and error fixtures beside it).
mod common;

use std::time::Duration;

use mfa_monitor::domain::{MfaStatus, NaReason, TargetSnapshot};
use mfa_monitor::monitors::snowflake::jwt::KeyPairAuth;
use mfa_monitor::monitors::snowflake::{Account, SnowflakeMonitor, SqlApi};
use mfa_monitor::monitors::Monitor;
use serde_json::{json, Value};
use wiremock::MockServer;

use common::snowflake_fake::*;

const POLICY: &str = "DESCRIBE AUTHENTICATION POLICY \"SECURITY\".\"POLICIES\".\"REQUIRE_MFA\"";

fn monitor(server: &MockServer, account: &str) -> SnowflakeMonitor {
    let auth = KeyPairAuth::new(
        account,
        "mfa_monitor",
        &KEY.to_owned().into(),
        "SNOWFLAKE_PRIVATE_KEY",
    )
    .unwrap();
    let api = SqlApi::new(
        common::fast_http(),
        &format!("{}/{account}", server.uri()),
        auth,
        Some("SECURITYADMIN".into()),
        None,
    )
    .unwrap();
    SnowflakeMonitor::new(vec![Account {
        name: account.into(),
        api,
    }])
    .with_polling(Duration::from_millis(20), Duration::from_secs(3))
}

fn prefix(account: &str) -> String {
    format!("/{account}")
}

fn user<'a>(s: &'a TargetSnapshot, name: &str) -> &'a mfa_monitor::domain::Observation {
    s.principals
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// `column` of user `name` in a one-partition result.
fn set(body: &mut Value, name: &str, column: &str, value: Option<&str>) {
    let meta = body.clone();
    common::snowflake_fake::set(body, &meta, name, column, value);
}

async fn serve_2026(server: &MockServer, account: &str, users: Value, on_sso: &str) {
    serve_account(
        server,
        account,
        &prefix(account),
        users,
        describe_policy("REQUIRED_PASSWORD_ONLY", on_sso),
    )
    .await;
}

struct Run {
    code: i32,
    summary: Value,
    alert: String,
}

/// The binary with one or more accounts behind `{account}` in the URL.
struct World {
    server: MockServer,
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl World {
    async fn new(accounts: &str) -> Self {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let env = vec![
            ("SNOWFLAKE_ACCOUNT".into(), accounts.into()),
            ("SNOWFLAKE_USER".into(), "mfa_monitor".into()),
            ("SNOWFLAKE_PRIVATE_KEY".into(), KEY.into()),
            ("SNOWFLAKE_ROLE".into(), "SECURITYADMIN".into()),
            (
                "SNOWFLAKE_API_URL".into(),
                format!("{}/{{account}}", server.uri()),
            ),
            ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
            ("MFA_SOURCE_FAILURE_THRESHOLD".into(), "1".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        World {
            server,
            _dir: dir,
            env,
        }
    }

    async fn run(&self) -> Run {
        let ran = common::run_binary(&["run", "--json"], &self.env).await;
        assert!(!ran.stdout.contains("PRIVATE KEY") && !ran.stderr.contains("PRIVATE KEY"));
        let summary: Value =
            serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stderr));
        Run {
            code: ran.code,
            summary,
            alert: ran.stderr,
        }
    }

    async fn report(&self, args: &[&str]) -> common::Ran {
        let mut all = vec!["report"];
        all.extend_from_slice(args);
        common::run_binary(&all, &self.env).await
    }

    async fn report_json(&self, filter: &str) -> Value {
        let ran = self.report(&["--filter", filter, "--json"]).await;
        let v: Value =
            serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stderr));
        v["report"].clone()
    }
}

fn row<'a>(report: &'a Value, principal: &str) -> Option<&'a Value> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["principal"] == principal)
}

#[tokio::test]
async fn people_are_judged_by_how_they_sign_in_and_sso_users_are_no_finding() {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    let first = w.run().await;
    assert_eq!(first.code, 0, "{}", first.alert);
    assert_eq!(first.summary["targets"][0]["result"], "baseline");
    assert_eq!(
        first.summary["targets"][0]["non_compliant"], 2,
        "NULL_TYPE and LEGACY_ETL only: {}",
        first.summary
    );
    assert!(
        first.alert.contains("snowflake:myorg-acct/NULL_TYPE")
            && first.alert.contains("snowflake:myorg-acct/LEGACY_ETL"),
        "{}",
        first.alert
    );
    for quiet in ["DANA_SSO", "ADMIN_SSO", "PAT_PERSON", "KEY_SVC", "GONE"] {
        assert!(
            !first.alert.contains(&format!("myorg-acct/{quiet}")),
            "{quiet} is no finding: {}",
            first.alert
        );
    }

    let all = w.report_json("all").await;
    let reason =
        |name: &str| row(&all, &format!("snowflake:myorg-acct/{name}")).unwrap()["reason"].clone();
    assert_eq!(reason("DANA_SSO"), "sso_only");
    assert_eq!(reason("KEY_SVC"), "service_user");
    assert_eq!(reason("GONE"), "disabled_user");
    assert_eq!(
        row(&all, "snowflake:myorg-acct/NULL_TYPE").unwrap()["status"],
        "disabled",
        "type NULL is a person"
    );
    let legacy = row(&all, "snowflake:myorg-acct/LEGACY_ETL").unwrap();
    assert_eq!(legacy["status"], "disabled");
    assert!(
        legacy["hint"]
            .as_str()
            .unwrap()
            .contains("converts LEGACY_SERVICE"),
        "{legacy}"
    );
    let disabled = w.report_json("disabled").await;
    assert!(row(&disabled, "snowflake:myorg-acct/DANA_SSO").is_none());
    assert!(row(&disabled, "snowflake:myorg-acct/NULL_TYPE").is_some());

    let again = w.run().await;
    assert_eq!(again.summary["changes"], json!({}), "{}", again.summary);
}

#[tokio::test]
async fn a_policy_enforcing_mfa_on_sso_makes_has_mfa_decide_again() {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "ALL").await;
    let first = w.run().await;
    assert_eq!(first.code, 0, "{}", first.alert);
    assert_eq!(
        first.summary["targets"][0]["non_compliant"], 5,
        "DANA_SSO, ADMIN_SSO and PAT_PERSON too: {}",
        first.summary
    );
    assert!(
        first.summary["targets"][0]["warnings"].is_null(),
        "the policy was read: {}",
        first.summary
    );
    let report = w.report_json("disabled").await;
    let dana = row(&report, "snowflake:myorg-acct/DANA_SSO").unwrap();
    assert_eq!(dana["status"], "disabled");
    assert!(dana["reason"].is_null(), "{dana}");
    assert_eq!(
        row(&report, "snowflake:myorg-acct/ADMIN_SSO").unwrap()["admin"],
        true
    );
    assert_eq!(
        report["targets"]["snowflake:myorg-acct"]["requirements"]["mfa_on_external_authentication"],
        true
    );

    // DANA enrols: has_mfa decides, so she is alerted as fixed.
    let mut users = fixture("2026");
    set(&mut users, "DANA_SSO", "has_mfa", Some("true"));
    w.server.reset().await;
    serve_2026(&w.server, ACCOUNT, users, "ALL").await;
    let second = w.run().await;
    assert_eq!(
        second.summary["changes"],
        json!({"snowflake": {"mfa_enabled": 1}}),
        "{}",
        second.summary
    );
}

#[tokio::test]
async fn a_users_own_policy_overrides_the_accounts() {
    let server = MockServer::start().await;
    let p = prefix(ACCOUNT);
    // DANA_SSO has her own policy, which asks MFA of SSO sign-ins; the
    // account's does not.
    answer(
        &server,
        ACCOUNT,
        &p,
        "SHOW AUTHENTICATION POLICIES IN ACCOUNT",
        200,
        policies(&["REQUIRE_MFA", "SSO_MFA"]),
    )
    .await;
    answer(
        &server,
        ACCOUNT,
        &p,
        "SELECT ref_entity_name, ref_entity_domain FROM TABLE(\"SECURITY\".INFORMATION_SCHEMA.POLICY_REFERENCES(POLICY_NAME => 'SECURITY.POLICIES.SSO_MFA'))",
        200,
        result_set(
            &["POLICY_NAME", "REF_ENTITY_NAME", "REF_ENTITY_DOMAIN"],
            vec![json!(["SSO_MFA", "DANA_SSO", "USER"])],
        ),
    )
    .await;
    answer(
        &server,
        ACCOUNT,
        &p,
        "DESCRIBE AUTHENTICATION POLICY \"SECURITY\".\"POLICIES\".\"SSO_MFA\"",
        200,
        describe_policy("REQUIRED", "ALL"),
    )
    .await;
    serve_2026(&server, ACCOUNT, fixture("2026"), "NONE").await;
    let s = monitor(&server, ACCOUNT).collect(ACCOUNT).await.unwrap();
    assert_eq!(user(&s, "DANA_SSO").status, MfaStatus::Disabled);
    assert_eq!(
        user(&s, "PAT_PERSON").attributes.reason,
        Some(NaReason::SsoOnly),
        "the account's policy still governs the others"
    );
}

#[tokio::test]
async fn a_missing_column_is_unknown_never_disabled() {
    let server = MockServer::start().await;
    // An account that does not print has_password yet.
    let mut users = fixture("2026");
    let cols = users["resultSetMetaData"]["rowType"]
        .as_array()
        .unwrap()
        .clone();
    let i = cols
        .iter()
        .position(|c| c["name"] == "has_password")
        .unwrap();
    users["resultSetMetaData"]["rowType"]
        .as_array_mut()
        .unwrap()
        .remove(i);
    for r in users["data"].as_array_mut().unwrap() {
        r.as_array_mut().unwrap().remove(i);
    }
    serve_2026(&server, ACCOUNT, users, "NONE").await;
    let s = monitor(&server, ACCOUNT).collect(ACCOUNT).await.unwrap();
    assert_eq!(user(&s, "DANA_SSO").status, MfaStatus::Unknown);
    assert_eq!(user(&s, "NULL_TYPE").status, MfaStatus::Unknown);
    assert_eq!(user(&s, "ALICE").status, MfaStatus::Enabled);
    assert!(
        !s.principals.iter().any(|p| p.status == MfaStatus::Disabled),
        "{:?}",
        s.principals
    );
}

#[tokio::test]
async fn admins_methods_are_read_and_shown_or_said_unreadable() {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    assert_eq!(w.run().await.code, 0);
    let report = w.report_json("all").await;
    let methods = |r: &Value, name: &str| {
        row(r, &format!("snowflake:myorg-acct/{name}")).unwrap()["mfa_methods"].clone()
    };
    assert_eq!(
        methods(&report, "ALICE"),
        "PASSKEY (last used 2025-11-30), TOTP (last used 2025-10-09)"
    );
    assert_eq!(methods(&report, "ADMIN_SSO"), "DUO");
    assert!(methods(&report, "DANA_SSO").is_null(), "not an admin");

    // A role that is not ACCOUNTADMIN may not list another user's methods:
    // said so, and no admin reads as lacking MFA.
    w.server.reset().await;
    for admin in ["ALICE", "ADMIN_SSO"] {
        answer(
            &w.server,
            ACCOUNT,
            &prefix(ACCOUNT),
            &format!("SHOW MFA METHODS FOR USER \"{admin}\""),
            422,
            fixture("422-privileges"),
        )
        .await;
    }
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    let second = w.run().await;
    assert_eq!(second.summary["changes"], json!({}), "{}", second.summary);
    let report = w.report_json("all").await;
    let alice = methods(&report, "ALICE");
    let alice = alice.as_str().unwrap();
    assert!(
        alice.starts_with("unreadable: role SECURITYADMIN may not run SHOW MFA METHODS FOR USER (ACCOUNTADMIN only)"),
        "{alice}"
    );
    assert_eq!(
        row(&report, "snowflake:myorg-acct/ALICE").unwrap()["status"],
        "enabled"
    );
    assert!(methods(&report, "ADMIN_SSO")
        .as_str()
        .unwrap()
        .starts_with("unreadable"));
    let table = w.report(&["--filter", "all"]).await.stdout;
    assert!(
        table.contains("methods: unreadable: role SECURITYADMIN"),
        "{table}"
    );
}

#[tokio::test]
async fn a_pat_on_a_person_is_shown_and_one_appearing_on_an_admin_is_a_critical_bypass() {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    assert_eq!(w.run().await.code, 0);
    let all = w.report_json("all").await;
    assert_eq!(
        row(&all, "snowflake:myorg-acct/PAT_PERSON").unwrap()["has_pat"],
        true
    );
    assert!(row(&all, "snowflake:myorg-acct/DANA_SSO").unwrap()["has_pat"].is_null());
    let table = w.report(&["--filter", "all"]).await.stdout;
    let line = table
        .lines()
        .find(|l| l.contains("myorg-acct/PAT_PERSON"))
        .unwrap();
    assert!(
        line.contains("not_applicable (sso_only)") && line.trim_end().ends_with("PAT"),
        "{line}"
    );

    let mut users = fixture("2026");
    set(&mut users, "ADMIN_SSO", "has_pat", Some("true"));
    w.server.reset().await;
    serve_2026(&w.server, ACCOUNT, users, "NONE").await;
    let second = w.run().await;
    assert_eq!(
        second.summary["changes"],
        json!({"snowflake": {"bypass_active": 1}}),
        "{}",
        second.summary
    );
    assert!(
        second.alert.contains("critical") && second.alert.contains("myorg-acct/ADMIN_SSO"),
        "{}",
        second.alert
    );
}

#[tokio::test]
async fn a_new_legacy_service_user_with_a_password_is_alerted_with_the_conversion_hint() {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    assert_eq!(w.run().await.code, 0);
    let mut users = fixture("2026");
    // KEY_SVC is turned back into a LEGACY_SERVICE user with a password.
    set(&mut users, "KEY_SVC", "type", Some("LEGACY_SERVICE"));
    set(&mut users, "KEY_SVC", "has_password", Some("true"));
    w.server.reset().await;
    serve_2026(&w.server, ACCOUNT, users, "NONE").await;
    let second = w.run().await;
    assert_eq!(
        second.summary["changes"],
        json!({"snowflake": {"mfa_disabled": 1}}),
        "{}",
        second.summary
    );
    assert!(
        second.alert.contains("myorg-acct/KEY_SVC")
            && second
                .alert
                .contains("converts LEGACY_SERVICE users to SERVICE"),
        "{}",
        second.alert
    );
}

#[tokio::test]
async fn the_policy_loosened_is_one_critical_requirement_disabled_and_unreadable_keeps_the_last_known(
) {
    let w = World::new(ACCOUNT).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "ALL").await;
    let first = w.run().await;
    assert_eq!(first.summary["targets"][0]["result"], "baseline");

    // The role loses the privilege: no alert, a warning naming it, the
    // last known requirements kept.
    w.server.reset().await;
    answer(
        &w.server,
        ACCOUNT,
        &prefix(ACCOUNT),
        POLICY,
        422,
        fixture("422-privileges"),
    )
    .await;
    answer(
        &w.server,
        ACCOUNT,
        &prefix(ACCOUNT),
        "SHOW AUTHENTICATION POLICIES ON ACCOUNT",
        422,
        fixture("422-privileges"),
    )
    .await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "ALL").await;
    let unreadable = w.run().await;
    assert!(
        unreadable.summary["changes"]
            .get("snowflake")
            .and_then(|c| c.get("requirement_disabled"))
            .is_none(),
        "{}",
        unreadable.summary
    );
    let warnings = unreadable.summary["targets"][0]["warnings"].to_string();
    assert!(
        warnings.contains("APPLY AUTHENTICATION POLICY"),
        "{warnings}"
    );
    let report = w.report_json("all").await;
    assert_eq!(
        report["targets"]["snowflake:myorg-acct"]["requirements"]["mfa_on_external_authentication"],
        true,
        "last known kept: {report}"
    );

    // Loosened: SSO sign-ins no longer asked for MFA.
    w.server.reset().await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    let loosened = w.run().await;
    assert_eq!(
        loosened.summary["changes"]["snowflake"]["requirement_disabled"], 1,
        "{}",
        loosened.summary
    );
    assert!(loosened.alert.contains("critical"), "{}", loosened.alert);
    assert!(
        loosened.alert.contains("mfa_on_external_authentication"),
        "{}",
        loosened.alert
    );
}

#[tokio::test]
async fn the_enforcement_readiness_section_lists_exactly_who_will_be_blocked() {
    let w = World::new(ACCOUNT).await;
    let mut users = fixture("2026");
    set(&mut users, "ALICE", "has_mfa", Some("null"));
    serve_2026(&w.server, ACCOUNT, users, "NONE").await;
    assert_eq!(w.run().await.code, 0);
    let report = w.report_json("enabled").await;
    let listed: Vec<(String, String)> = report["enforcement_readiness"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap().to_owned(),
                e["why"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "snowflake:myorg-acct/NULL_TYPE".into(),
                "password_without_mfa".into()
            ),
            (
                "snowflake:myorg-acct/ALICE".into(),
                "password_mfa_unknown".into()
            ),
            (
                "snowflake:myorg-acct/LEGACY_ETL".into(),
                "legacy_service_password".into()
            ),
        ],
        "whatever the filter"
    );
    let text = w.report(&[]).await.stdout;
    assert!(
        text.contains("Snowflake enforcement readiness: 3 user(s) will be blocked"),
        "{text}"
    );
}

#[tokio::test]
async fn two_accounts_one_failing_the_other_is_diffed_and_alerted() {
    let accounts = format!("{ACCOUNT},{OTHER_ACCOUNT}");
    let w = World::new(&accounts).await;
    serve_2026(&w.server, ACCOUNT, fixture("2026"), "NONE").await;
    serve_2026(&w.server, OTHER_ACCOUNT, fixture("enforced"), "ALL").await;
    let first = w.run().await;
    let results: Vec<(String, String)> = first.summary["targets"]
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
    assert_eq!(
        results,
        [
            ("snowflake:myorg-acct".into(), "baseline".into()),
            ("snowflake:myorg-other".into(), "baseline".into()),
        ],
        "{}",
        first.summary
    );

    let check = common::run_binary(&["check", "--json"], &w.env).await;
    assert!(
        check.stdout.contains("snowflake:myorg-acct")
            && check.stdout.contains("snowflake:myorg-other"),
        "{}",
        check.stdout
    );

    // The other account rejects the key; ALICE loses MFA in the first.
    w.server.reset().await;
    let mut users = fixture("2026");
    set(&mut users, "ALICE", "has_mfa", Some("false"));
    serve_2026(&w.server, ACCOUNT, users, "NONE").await;
    answer(
        &w.server,
        OTHER_ACCOUNT,
        &prefix(OTHER_ACCOUNT),
        "SHOW USERS",
        401,
        fixture("401"),
    )
    .await;
    let second = w.run().await;
    assert_eq!(second.code, 1, "a source failed");
    assert_eq!(
        second.summary["changes"]["snowflake"]["mfa_disabled"], 1,
        "{}",
        second.summary
    );
    assert_eq!(
        second.summary["changes"]["snowflake"]["source_failed"], 1,
        "{}",
        second.summary
    );
    assert!(
        second
            .alert
            .contains("snowflake:myorg-acct/ALICE — lost MFA"),
        "{}",
        second.alert
    );
    let report = w.report_json("all").await;
    assert_eq!(
        row(&report, "snowflake:myorg-other/ALICE").unwrap()["status"],
        "enabled",
        "the failed account's state untouched"
    );
}
