//! AWS Security Hub findings (`MFA_SECURITYHUB=true`) against moto's
//! Security Hub: the real binary's passes import one finding per account
//! without MFA, each exactly once under a failing-then-succeeding import,
//! nothing again while nothing changes, and an archived finding once the
//! account has MFA again.
mod common;

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use mfa_monitor::securityhub::sign_json_post;
use serde_json::{json, Value};

/// moto's findings of `account` (GetFindings, signed as that account:
/// moto keys its data by the caller's account).
async fn findings(account: &str) -> Vec<Value> {
    let cfg = common::account_config(account).await;
    let creds = cfg
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let url = format!("{}/findings", common::moto_url());
    let body = serde_json::to_vec(&json!({"MaxResults": 100})).unwrap();
    let headers =
        sign_json_post(&creds.into(), "us-east-1", &url, &body, SystemTime::now()).unwrap();
    let mut http = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        http = http.header(name, value);
    }
    let v: Value = http.send().await.unwrap().json().await.unwrap();
    v["Findings"].as_array().cloned().unwrap_or_default()
}

fn by_principal(findings: &[Value], principal: &str) -> Value {
    findings
        .iter()
        .find(|f| f["Id"] == format!("mfa-monitor/{principal}"))
        .cloned()
        .unwrap_or_else(|| panic!("no finding for {principal} in {findings:?}"))
}

fn securityhub_channel(stdout: &str) -> Value {
    let summary: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    summary["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "securityhub")
        .cloned()
        .unwrap_or_else(|| panic!("no securityhub channel: {summary}"))
}

#[tokio::test]
async fn findings_are_imported_once_after_a_failed_import_kept_quiet_then_archived_on_fix() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let cfg = common::account_config(&account).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    common::seed_user(&iam, "ana", true).await;
    common::seed_user(&iam, "ben", false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = common::account_env(&account).await;
    env.extend([
        ("AWS_IAM_ACCOUNTS".to_owned(), "self".to_owned()),
        (
            "MFA_STATE_FILE".to_owned(),
            dir.path().join("state.json").to_str().unwrap().to_owned(),
        ),
        ("MFA_SECURITYHUB".to_owned(), "true".to_owned()),
    ]);

    // Security Hub unreachable: the pass commits and alerts as ever, the
    // findings wait.
    let mut unreachable = env.clone();
    unreachable.push((
        "AWS_ENDPOINT_URL_SECURITYHUB".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    ));
    let ran = common::run_binary(&["run", "--json"], &unreachable).await;
    assert_eq!(
        ran.code, 1,
        "a failed import fails the pass: {}",
        ran.stderr
    );
    assert_eq!(securityhub_channel(&ran.stdout)["result"], "failed");
    assert!(findings(&account).await.is_empty());

    // Reachable: ben and the root (no MFA in moto) imported, once each.
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(securityhub_channel(&ran.stdout)["notices"], 2);
    let all = findings(&account).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let ben = by_principal(&all, &format!("aws:{account}/ben"));
    assert_eq!(ben["RecordState"], "ACTIVE");
    assert_eq!(ben["Severity"]["Label"], "HIGH");
    assert_eq!(
        ben["Resources"][0]["Id"],
        format!("arn:aws:iam::{account}:user/ben")
    );
    assert_eq!(
        ben["ProductArn"],
        format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
    );
    let root = by_principal(&all, &format!("aws:{account}/<root>"));
    assert_eq!(root["Severity"]["Label"], "CRITICAL");

    // Nothing changed: nothing imported, the findings untouched.
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(securityhub_channel(&ran.stdout)["notices"], 0);
    let again = by_principal(&findings(&account).await, &format!("aws:{account}/ben"));
    assert_eq!(again["UpdatedAt"], ben["UpdatedAt"]);

    // ben is made an admin: his finding updated, not a second one.
    iam.attach_user_policy()
        .user_name("ben")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(securityhub_channel(&ran.stdout)["notices"], 1);
    let all = findings(&account).await;
    assert_eq!(all.len(), 2, "updated in place: {all:?}");
    let admin = by_principal(&all, &format!("aws:{account}/ben"));
    assert_eq!(admin["Severity"]["Label"], "CRITICAL");
    assert_eq!(admin["CreatedAt"], ben["CreatedAt"]);

    // ben enrols: his finding archived and passed, once.
    let dev = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("ben")
        .send()
        .await
        .unwrap();
    iam.enable_mfa_device()
        .user_name("ben")
        .serial_number(dev.virtual_mfa_device.unwrap().serial_number)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(securityhub_channel(&ran.stdout)["notices"], 1);
    let fixed = by_principal(&findings(&account).await, &format!("aws:{account}/ben"));
    assert_eq!(fixed["RecordState"], "ARCHIVED");
    assert_eq!(fixed["Compliance"]["Status"], "PASSED");
    assert_eq!(
        fixed["CreatedAt"], ben["CreatedAt"],
        "the same finding, updated"
    );
    let ran = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(
        securityhub_channel(&ran.stdout)["notices"],
        0,
        "archived once"
    );
}
