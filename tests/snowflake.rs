//! The Snowflake monitor against a local server playing the SQL API v2 with
//! real response shapes (`resultSetMetaData.rowType`, `partitionInfo`,
//! `data` as arrays of strings, 202 + `statementStatusUrl`). The server
//! checks every request's key-pair JWT against the public key.
mod common;

use std::time::Duration;

use mfa_monitor::domain::{MfaStatus, TargetSnapshot};
use mfa_monitor::monitors::snowflake::jwt::KeyPairAuth;
use mfa_monitor::monitors::snowflake::{Account, SnowflakeMonitor, SqlApi};
use mfa_monitor::monitors::{Monitor, MonitorError};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::snowflake_fake::*;

fn auth() -> KeyPairAuth {
    KeyPairAuth::new(
        ACCOUNT,
        "mfa_monitor",
        &KEY.to_owned().into(),
        "SNOWFLAKE_PRIVATE_KEY",
    )
    .unwrap()
}

#[test]
fn a_secret_that_is_no_private_key_is_refused_naming_its_variable_and_not_shown() {
    for (not_a_key, secret_part) in [
        (
            include_str!("fixtures/snowflake-test-key.pub.pem"),
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
        ),
        ("ghp_s3cretTokenValue0123456789", "s3cret"),
        ("https://hooks.slack.com/services/T0/B0/s3cret", "s3cret"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nczNjcmV0LWJ1dC1wa2NzMQ==\n-----END RSA PRIVATE KEY-----\n",
            "czNjcmV0",
        ),
    ] {
        for variable in ["SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_SECRET_ID"] {
            let e = KeyPairAuth::new(ACCOUNT, "mfa_monitor", &not_a_key.to_owned().into(), variable)
                .err()
                .expect("refused");
            assert_eq!(e.variable, variable);
            assert!(e.reason.contains("private key"), "{e}");
            assert!(!e.to_string().contains(secret_part), "{e}");
        }
    }
}

fn api(server: &MockServer) -> SqlApi {
    SqlApi::new(
        common::fast_http(),
        &server.uri(),
        auth(),
        Some("SECURITYADMIN".into()),
        None,
    )
    .unwrap()
    .with_polling(Duration::from_millis(20), Duration::from_secs(3))
}

fn monitor(server: &MockServer) -> SnowflakeMonitor {
    SnowflakeMonitor::new(vec![Account {
        name: ACCOUNT.into(),
        api: api(server),
    }])
}

fn user<'a>(s: &'a TargetSnapshot, name: &str) -> &'a mfa_monitor::domain::Observation {
    s.principals
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[tokio::test]
async fn every_user_of_every_partition_gets_a_status_read_by_column_name() {
    let server = MockServer::start().await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    let s = monitor(&server).collect(ACCOUNT).await.unwrap();
    assert_eq!(s.key.to_string(), "snowflake:myorg-acct");
    assert_eq!(
        s.principals.len(),
        5,
        "3 rows in partition 0, 2 in partition 1"
    );
    assert_eq!(user(&s, "ALICE").status, MfaStatus::Enabled);
    assert!(user(&s, "ALICE").attributes.admin);
    let bob = user(&s, "BOB");
    assert!(
        bob.attributes.bypass_active && bob.attributes.admin,
        "{bob:?}"
    );
    assert_eq!(
        user(&s, "LEGACY_DUO").status,
        MfaStatus::Enabled,
        "Duo counts as MFA"
    );
    assert_eq!(user(&s, "ETL_SERVICE").status, MfaStatus::NotApplicable);
    let carol = user(&s, "CAROL");
    assert_eq!(carol.status, MfaStatus::Disabled);
    assert!(
        carol.attributes.admin,
        "ACCOUNTADMIN through the SECOPS role"
    );
    // The statement was submitted with a requestId and the role.
    let reqs = server.received_requests().await.unwrap();
    let submit = reqs
        .iter()
        .find(|r| r.method == wiremock::http::Method::POST)
        .unwrap();
    assert!(
        submit.url.query().unwrap_or("").starts_with("requestId="),
        "{}",
        submit.url
    );
    let body: Value = serde_json::from_slice(&submit.body).unwrap();
    assert_eq!(body["role"], "SECURITYADMIN");
}

#[tokio::test]
async fn columns_in_another_order_give_the_same_statuses() {
    let reorder = |mut v: Value, meta: &Value| {
        let n = meta["resultSetMetaData"]["rowType"]
            .as_array()
            .unwrap()
            .len();
        for row in v["data"].as_array_mut().unwrap() {
            let r: Vec<Value> = row.as_array().unwrap().iter().rev().cloned().collect();
            assert_eq!(r.len(), n);
            *row = Value::Array(r);
        }
        v
    };
    let mut first = fixture("200");
    let meta = first.clone();
    first = reorder(first, &meta);
    let rt: Vec<Value> = first["resultSetMetaData"]["rowType"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .cloned()
        .collect();
    first["resultSetMetaData"]["rowType"] = Value::Array(rt);
    let partition = reorder(fixture("partition-1"), &meta);
    let server = MockServer::start().await;
    serve(&server, first, partition).await;
    let s = monitor(&server).collect(ACCOUNT).await.unwrap();
    assert_eq!(user(&s, "CAROL").status, MfaStatus::Disabled);
    assert_eq!(user(&s, "ETL_SERVICE").status, MfaStatus::NotApplicable);
    assert!(user(&s, "BOB").attributes.bypass_active);
}

#[tokio::test]
async fn a_missing_or_short_partition_fails_the_account() {
    let server = MockServer::start().await;
    sql(Mock::given(method("GET")).and(path(format!("/api/v2/statements/{HANDLE}"))))
        .and(query_param("partition", "1"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": "000709", "message": "Statement not found."})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    let err = monitor(&server).collect(ACCOUNT).await.unwrap_err();
    assert!(matches!(err, MonitorError::Incomplete(_)), "{err}");

    let server = MockServer::start().await;
    let mut short = fixture("partition-1");
    short["data"].as_array_mut().unwrap().pop();
    serve(&server, fixture("200"), short).await;
    let err = monitor(&server).collect(ACCOUNT).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("partition 1 has 1 rows, partitionInfo says 2"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unregistered_key_is_a_401_naming_what_to_fix() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("401")))
        .mount(&server)
        .await;
    let err = monitor(&server)
        .collect(ACCOUNT)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("390144")
            && err.contains("SNOWFLAKE_PRIVATE_KEY")
            && err.contains("SNOWFLAKE_USER"),
        "{err}"
    );
    assert!(!err.contains("BEGIN PRIVATE KEY"));
    let check = monitor(&server).check(ACCOUNT).await;
    assert!(!check.ok);
}

#[tokio::test]
async fn throttling_is_retried_and_a_statement_running_too_long_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    assert_eq!(
        monitor(&server)
            .collect(ACCOUNT)
            .await
            .unwrap()
            .principals
            .len(),
        5
    );

    let server = MockServer::start().await;
    sql(Mock::given(method("POST")).and(path("/api/v2/statements")))
        .respond_with(ResponseTemplate::new(202).set_body_json(fixture("202")))
        .mount(&server)
        .await;
    sql(Mock::given(method("GET")).and(path(format!("/api/v2/statements/{HANDLE}"))))
        .respond_with(ResponseTemplate::new(202).set_body_json(fixture("202")))
        .mount(&server)
        .await;
    let err = monitor(&server).collect(ACCOUNT).await.unwrap_err();
    assert!(err.to_string().contains("still running"), "{err}");
}

#[tokio::test]
async fn check_reports_authentication_role_and_users_visible() {
    let server = MockServer::start().await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    let check = monitor(&server).check(ACCOUNT).await;
    assert!(check.ok, "{check:?}");
    assert!(
        check.detail.contains("SECURITYADMIN") && check.detail.contains("5 user(s)"),
        "{check:?}"
    );
}

#[tokio::test]
async fn end_to_end_an_admin_losing_mfa_and_an_opened_bypass_are_alerted_once() {
    let server = MockServer::start().await;
    let base = fixture("200");
    let mut first = base.clone();
    set(&mut first, &base, "BOB", "mins_to_bypass_mfa", Some("null"));
    serve(&server, first.clone(), fixture("partition-1")).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let env: Vec<(String, String)> = vec![
        ("SNOWFLAKE_ACCOUNT".into(), ACCOUNT.into()),
        ("SNOWFLAKE_USER".into(), "mfa_monitor".into()),
        ("SNOWFLAKE_PRIVATE_KEY".into(), KEY.into()),
        ("SNOWFLAKE_API_URL".into(), server.uri()),
        ("MFA_STATE_FILE".into(), state.to_str().unwrap().into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ];
    let run = || async {
        let ran = common::run_binary(&["run", "--json"], &env).await;
        assert!(!ran.stdout.contains("PRIVATE KEY") && !ran.stderr.contains("PRIVATE KEY"));
        let v: Value =
            serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stderr));
        (ran.code, v, ran.stderr)
    };
    let (code, v, _) = run().await;
    assert_eq!(
        (code, &v["targets"][0]["result"]),
        (0, &json!("baseline")),
        "{v}"
    );

    // ALICE (ACCOUNTADMIN) loses MFA and BOB's bypass opens.
    set(&mut first, &base, "ALICE", "has_mfa", Some("false"));
    set(&mut first, &base, "BOB", "mins_to_bypass_mfa", Some("30"));
    server.reset().await;
    serve(&server, first, fixture("partition-1")).await;
    let (code, v, alert) = run().await;
    assert_eq!(code, 0);
    assert_eq!(
        v["changes"],
        json!({"snowflake": {"mfa_disabled": 1, "bypass_active": 1}}),
        "{v}"
    );
    assert!(
        alert.contains("Snowflake — critical (2)"),
        "both are admins: {alert}"
    );
    assert!(
        alert.contains("snowflake:myorg-acct/ALICE — lost MFA"),
        "{alert}"
    );
    let (_, v, _) = run().await;
    assert_eq!(v["changes"], json!({}), "not alerted twice");
}

/// Splits a result into `n` partitions the way Snowflake serves them.
fn partitioned(n: usize) -> (Value, Vec<Value>) {
    let mut first = fixture("200");
    let mut rows: Vec<Value> = first["data"].as_array().unwrap().clone();
    rows.extend(fixture("partition-1")["data"].as_array().unwrap().clone());
    let per = rows.len().div_ceil(n);
    let chunks: Vec<Vec<Value>> = rows.chunks(per).map(|c| c.to_vec()).collect();
    assert_eq!(chunks.len(), n);
    first["data"] = Value::Array(chunks[0].clone());
    first["resultSetMetaData"]["numRows"] = json!(rows.len());
    first["resultSetMetaData"]["partitionInfo"] = Value::Array(
        chunks
            .iter()
            .map(|c| json!({"rowCount": c.len(), "uncompressedSize": 100}))
            .collect(),
    );
    let rest = chunks[1..].iter().map(|c| json!({"data": c})).collect();
    (first, rest)
}

#[tokio::test]
async fn three_partitions_are_all_fetched() {
    let server = MockServer::start().await;
    let (first, rest) = partitioned(3);
    sql(Mock::given(method("GET")).and(path(format!("/api/v2/statements/{HANDLE}"))))
        .and(query_param("partition", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rest[1].clone()))
        .mount(&server)
        .await;
    serve(&server, first, rest[0].clone()).await;
    let s = monitor(&server).collect(ACCOUNT).await.unwrap();
    assert_eq!(s.principals.len(), 5);
    assert_eq!(
        user(&s, "CAROL").status,
        MfaStatus::Disabled,
        "from the third partition"
    );
}

#[tokio::test]
async fn a_key_with_the_wrong_fingerprint_is_rejected_as_snowflake_would() {
    let server = MockServer::start().await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("401")))
        .with_priority(10)
        .mount(&server)
        .await;
    let wrong = KeyPairAuth::new(
        ACCOUNT,
        "mfa_monitor",
        &OTHER_KEY.to_owned().into(),
        "SNOWFLAKE_PRIVATE_KEY",
    )
    .unwrap();
    let m = SnowflakeMonitor::new(vec![Account {
        name: ACCOUNT.into(),
        api: SqlApi::new(common::fast_http(), &server.uri(), wrong, None, None).unwrap(),
    }]);
    let err = m.collect(ACCOUNT).await.unwrap_err().to_string();
    assert!(
        err.contains("390144") && err.contains("SNOWFLAKE_PRIVATE_KEY"),
        "{err}"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_a_null_has_mfa_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    let base = fixture("200");
    let mut first = base.clone();
    set(&mut first, &base, "ALICE", "has_mfa", Some("null"));
    serve(&server, first, fixture("partition-1")).await;
    let s = monitor(&server).collect(ACCOUNT).await.unwrap();
    assert_eq!(
        user(&s, "ALICE").status,
        MfaStatus::Unknown,
        "never read as disabled"
    );
    assert_eq!(user(&s, "ETL_SERVICE").status, MfaStatus::NotApplicable);
    assert!(s.warnings.is_empty(), "one unknown user is no role problem");
}

#[tokio::test]
async fn a_resubmitted_statement_carries_the_same_request_id_and_retry_true() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(&server, fixture("200"), fixture("partition-1")).await;
    let rows = api(&server).query("SHOW USERS", &["name"]).await.unwrap();
    assert_eq!(rows.len(), 5);
    let submissions: Vec<std::collections::BTreeMap<String, String>> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method == wiremock::http::Method::POST)
        .map(|r| r.url.query_pairs().into_owned().collect())
        .collect();
    assert_eq!(submissions.len(), 2, "{submissions:?}");
    let id = &submissions[0]["requestId"];
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert!(
        !submissions[0].contains_key("retry"),
        "the first submission is no retry: {submissions:?}"
    );
    assert_eq!(&submissions[1]["requestId"], id, "the same request");
    assert_eq!(
        submissions[1].get("retry").map(String::as_str),
        Some("true"),
        "so Snowflake does not run it twice: {submissions:?}"
    );
}

#[tokio::test]
async fn a_role_that_sees_no_users_mfa_is_told_what_to_grant() {
    let server = MockServer::start().await;
    let base = fixture("200");
    let mut first = base.clone();
    let mut partition = fixture("partition-1");
    for name in ["ALICE", "BOB", "LEGACY_DUO"] {
        set(&mut first, &base, name, "has_mfa", None);
        set(&mut first, &base, name, "ext_authn_duo", None);
    }
    set(&mut partition, &base, "CAROL", "has_mfa", None);
    serve(&server, first, partition).await;
    let s = monitor(&server).collect(ACCOUNT).await.unwrap();
    assert!(s
        .principals
        .iter()
        .all(|p| matches!(p.status, MfaStatus::Unknown | MfaStatus::NotApplicable)));
    assert!(
        s.warnings.iter().any(|w| w.contains("CREATE USER")),
        "{:?}",
        s.warnings
    );
}
