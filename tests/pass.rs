//! One pass end to end: the real binary against moto (IAM, STS, SES,
//! DynamoDB) and the local state file.
mod common;

use common::{
    account_config, account_env, remove_mfa, run_binary, seed_user, sent_emails_to, unique_account,
    Scenario,
};

fn env_with(base: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base.to_vec();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[tokio::test]
async fn a_baseline_then_one_email_for_the_user_who_lost_mfa_then_silence() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let (account, iam, to, state) = (&world.account, &world.iam, &world.to, world.state_file());
    seed_user(iam, "alice", true).await;
    seed_user(iam, "bob", true).await;
    seed_user(iam, "carol", false).await;
    let env = world.file_env().await;

    let first = run_binary(&["run"], &env).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let mails = sent_emails_to(to).await;
    assert_eq!(mails.len(), 1, "one baseline summary, not one per account");
    let subject = mails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("baseline"), "{subject}");
    let body = mails[0]["body"].as_str().unwrap();
    assert!(body.contains(&format!("aws:{account}/carol")), "{body}");
    assert!(
        !body.contains(&format!("aws:{account}/alice")),
        "alice has MFA: {body}"
    );

    let before = std::fs::read(&state).unwrap();
    let second = run_binary(&["run"], &env).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(sent_emails_to(to).await.len(), 1, "no change, no email");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "no change, no state write"
    );

    remove_mfa(iam, account, "bob").await;
    let third = run_binary(&["run"], &env).await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    let mails = sent_emails_to(to).await;
    assert_eq!(mails.len(), 2, "exactly one alert email");
    let body = mails[1]["body"].as_str().unwrap();
    assert!(body.contains(&format!("aws:{account}/bob")), "{body}");
    assert!(body.contains("mfa_disabled"), "{body}");
    assert!(
        !body.contains(&format!("aws:{account}/carol")),
        "carol did not change: {body}"
    );

    let fourth = run_binary(&["run"], &env).await;
    assert_eq!(fourth.code, 0);
    assert_eq!(
        sent_emails_to(to).await.len(),
        2,
        "the alert is not sent twice"
    );

    let status = run_binary(&["status", "--json"], &env).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let bob = &v["targets"][0]["principals"]["bob"];
    assert_eq!(bob["status"], "disabled");
    assert!(
        v["pending"].as_array().unwrap().is_empty(),
        "nothing left pending"
    );
}

#[tokio::test]
async fn a_dry_run_neither_notifies_nor_commits() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let (to, state) = (&world.to, world.state_file());
    seed_user(&world.iam, "dave", false).await;
    let env = world.file_env().await;
    let ran = run_binary(&["run", "--dry-run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["would_send"][0]["type"], "baseline");
    assert!(!state.exists(), "dry run committed state");
    assert!(sent_emails_to(to).await.is_empty(), "dry run sent mail");
}

#[tokio::test]
async fn an_unreachable_iam_endpoint_is_source_failed_with_exit_1_and_state_untouched() {
    if common::skip_without_moto() {
        return;
    }
    let account = unique_account();
    let cfg = account_config(&account).await;
    seed_user(&aws_sdk_iam::Client::new(&cfg), "erin", false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let good = env_with(
        &account_env(&account).await,
        &[
            ("AWS_IAM_ACCOUNTS", "self"),
            ("MFA_STATE_FILE", state.to_str().unwrap()),
        ],
    );
    assert_eq!(run_binary(&["run"], &good).await.code, 0);
    let before = common::targets_in(&state);

    let mut bad = good.clone();
    for (k, v) in bad.iter_mut() {
        if k == "AWS_ENDPOINT_URL" {
            *v = "http://127.0.0.1:9".into();
        }
    }
    bad.push(("MFA_TARGET_TIMEOUT_SECONDS".into(), "20".into()));
    bad.push(("MFA_SOURCE_FAILURE_THRESHOLD".into(), "1".into()));
    let ran = run_binary(&["run", "--json"], &bad).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["targets"][0]["result"], "failed");
    assert_eq!(v["changes"]["aws"]["source_failed"], 1);
    assert!(
        ran.stderr.contains("source_failed"),
        "the alert names the failure: {}",
        ran.stderr
    );
    assert_eq!(
        common::targets_in(&state),
        before,
        "a failure must not read as everyone left"
    );
}

#[tokio::test]
async fn a_malformed_state_file_is_a_clear_error_and_is_not_overwritten() {
    if common::skip_without_moto() {
        return;
    }
    let account = unique_account();
    let cfg = account_config(&account).await;
    seed_user(&aws_sdk_iam::Client::new(&cfg), "frank", false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, b"{\"format\": 1, \"targets\": {\"aws:1\": 42}}").unwrap();
    let env = env_with(
        &account_env(&account).await,
        &[
            ("AWS_IAM_ACCOUNTS", "self"),
            ("MFA_STATE_FILE", state.to_str().unwrap()),
        ],
    );
    let ran = run_binary(&["run"], &env).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.stdout.contains("is malformed"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("state.json"),
        "names the file: {}",
        ran.stdout
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"{\"format\": 1, \"targets\": {\"aws:1\": 42}}"
    );
}

#[tokio::test]
async fn bad_configuration_exits_2_naming_the_variable() {
    if common::skip_without_moto() {
        return;
    }
    let ran = run_binary(
        &["run"],
        &[("AWS_IAM_ACCOUNTS".into(), "arn:aws:iam::1:role/x".into())],
    )
    .await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("AWS_IAM_ACCOUNTS"), "{}", ran.stderr);
    let ran = run_binary(&["check"], &[]).await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("AWS_IAM_ACCOUNTS"), "{}", ran.stderr);
}

#[tokio::test]
async fn an_assumed_role_account_is_monitored_under_its_own_account_id() {
    if common::skip_without_moto() {
        return;
    }
    let account = unique_account();
    let cfg = account_config(&account).await;
    seed_user(&aws_sdk_iam::Client::new(&cfg), "grace", false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // Runs with the credentials of another account and assumes the audit role.
    let runner = unique_account();
    let role = format!("arn:aws:iam::{account}:role/mfa-monitor-audit");
    let env = env_with(
        &account_env(&runner).await,
        &[
            ("AWS_IAM_ACCOUNTS", &role),
            ("MFA_STATE_FILE", state.to_str().unwrap()),
        ],
    );
    let ran = run_binary(&["run", "--json"], &env).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["targets"][0]["target"], format!("aws:{account}"));
    let status: serde_json::Value =
        serde_json::from_str(&run_binary(&["status", "--json"], &env).await.stdout).unwrap();
    assert_eq!(
        status["targets"][0]["principals"]["grace"]["status"],
        "disabled"
    );
}

#[tokio::test]
async fn two_overlapping_passes_on_one_table_send_one_email_between_them() {
    if common::skip_without_moto() {
        return;
    }
    let world = Scenario::new().await;
    let (account, iam, to) = (&world.account, &world.iam, &world.to);
    seed_user(iam, "ivan", true).await;
    seed_user(iam, "judy", false).await;
    let env = world.table_env().await;
    // EventBridge delivers at least once: the same schedule fires twice.
    let (a, b) = tokio::join!(
        run_binary(&["run", "--json"], &env),
        run_binary(&["run", "--json"], &env)
    );
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    assert_eq!(sent_emails_to(to).await.len(), 1, "baseline sent once");

    remove_mfa(iam, account, "ivan").await;
    let (a, b) = tokio::join!(
        run_binary(&["run", "--json"], &env),
        run_binary(&["run", "--json"], &env)
    );
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let mails = sent_emails_to(to).await;
    assert_eq!(mails.len(), 2, "the change is alerted exactly once");
    assert!(mails[1]["body"]
        .as_str()
        .unwrap()
        .contains(&format!("aws:{account}/ivan")));
}
