//! The IAM monitor against moto: each test in its own account.
mod common;

use std::time::Duration;

use mfa_monitor::config::AwsAccount;
use mfa_monitor::domain::{MfaStatus, Observation, TargetSnapshot};
use mfa_monitor::monitors::aws_iam::{
    collect_account, AwsIamMonitor, ReadOptions, ReportPolling, RootManagement,
};
use mfa_monitor::monitors::{Monitor, MonitorError};

const FAST: ReportPolling = ReportPolling {
    interval: Duration::from_millis(50),
    max_wait: Duration::from_secs(10),
};

fn fast() -> ReadOptions {
    ReadOptions {
        polling: FAST,
        root_management: RootManagement::NotCentral,
        ..ReadOptions::default()
    }
}

fn find<'a>(s: &'a TargetSnapshot, name: &str) -> &'a Observation {
    s.principals
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {:?}", s.principals))
}

#[tokio::test]
async fn every_user_gets_a_status_from_devices_and_console_access() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    common::seed_user(&iam, "alice", true).await;
    common::seed_user(&iam, "carol", false).await;
    iam.create_user()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();

    let s = collect_account(&iam, &account, &fast()).await.unwrap();
    assert_eq!(s.key.to_string(), format!("aws:{account}"));
    assert_eq!(s.principals.len(), 4, "3 users and <root>");
    let alice = find(&s, "alice");
    assert_eq!(alice.status, MfaStatus::Enabled);
    assert_eq!(alice.attributes.mfa_devices, ["virtual"]);
    assert!(alice.attributes.console_login);
    assert_eq!(find(&s, "carol").status, MfaStatus::Disabled);
    let ci = find(&s, "ci-deployer");
    assert_eq!(ci.status, MfaStatus::NotApplicable, "no console password");
    assert!(!ci.attributes.console_login);
    let root = find(&s, "<root>");
    assert!(root.attributes.admin);
    // moto always reports AccountMFAEnabled = 0.
    assert_eq!(root.status, MfaStatus::Disabled);
    assert_eq!(s.settings.root_mfa_enabled, Some(false));
}

#[tokio::test]
async fn administrator_access_directly_or_through_a_group_makes_an_admin() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    for u in ["direct", "grouped", "plain"] {
        common::seed_user(&iam, u, false).await;
    }
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    iam.attach_user_policy()
        .user_name("direct")
        .policy_arn(admin)
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("admins")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("admins")
        .policy_arn(admin)
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("admins")
        .user_name("grouped")
        .send()
        .await
        .unwrap();

    let s = collect_account(&iam, &account, &fast()).await.unwrap();
    assert!(find(&s, "direct").attributes.admin);
    assert!(find(&s, "grouped").attributes.admin);
    assert!(!find(&s, "plain").attributes.admin);
}

#[tokio::test]
async fn admins_through_an_inline_star_policy_a_customer_managed_policy_and_a_group() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    for u in ["inline", "managed", "grouped", "reader", "plain"] {
        common::seed_user(&iam, u, false).await;
    }
    let everything =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*:*","Resource":"*"}}"#;
    let iam_star = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*"],"Resource":["*"]}]}"#;
    let reads = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"},{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#;
    iam.put_user_policy()
        .user_name("inline")
        .policy_name("everything")
        .policy_document(everything)
        .send()
        .await
        .unwrap();
    let custom = iam
        .create_policy()
        .policy_name("iam-everything")
        .policy_document(iam_star)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    iam.attach_user_policy()
        .user_name("managed")
        .policy_arn(&custom)
        .send()
        .await
        .unwrap();
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.put_group_policy()
        .group_name("ops")
        .policy_name("everything")
        .policy_document(everything)
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("ops")
        .user_name("grouped")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("reader")
        .policy_name("reads")
        .policy_document(reads)
        .send()
        .await
        .unwrap();

    let s = collect_account(&iam, &account, &fast()).await.unwrap();
    for name in ["inline", "managed", "grouped"] {
        assert!(find(&s, name).attributes.admin, "{name} should be admin");
    }
    assert!(
        !find(&s, "reader").attributes.admin,
        "NotAction is not counted"
    );
    assert!(!find(&s, "plain").attributes.admin);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[tokio::test]
async fn throttled_iam_is_retried_and_the_answer_is_exact() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    common::seed_user(&iam, "alice", true).await;
    common::seed_user(&iam, "carol", false).await;
    let throttled = |action: &str, times: u32| {
        serde_json::json!({"action": action, "times": times, "status": 400,
            "headers": {"Content-Type": "text/xml"},
            "body": "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>f00d</RequestId></ErrorResponse>"})
    };
    let proxy = common::FaultProxy::start(
        &common::moto_url(),
        serde_json::json!([
            throttled("GetAccountAuthorizationDetails", 2),
            throttled("ListVirtualMFADevices", 1),
            throttled("GetCredentialReport", 1),
            throttled("GetLoginProfile", 3),
        ]),
    )
    .await;
    let through = common::account_config(&account)
        .await
        .into_builder()
        .endpoint_url(&proxy.url)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(4))
        .build();
    // A service user without a password: its login profile is read live.
    iam.create_user().user_name("svc").send().await.unwrap();
    let s = collect_account(&aws_sdk_iam::Client::new(&through), &account, &fast())
        .await
        .unwrap();
    assert_eq!(find(&s, "alice").status, MfaStatus::Enabled);
    assert_eq!(find(&s, "carol").status, MfaStatus::Disabled);
    assert_eq!(find(&s, "svc").status, MfaStatus::NotApplicable);
    let log = proxy.log.lock().unwrap().clone();
    for action in [
        "GetAccountAuthorizationDetails",
        "ListVirtualMFADevices",
        "GetCredentialReport",
        "GetLoginProfile",
    ] {
        assert!(
            log.iter().any(|l| l.contains(action)),
            "{action} was throttled: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_user_created_after_the_report_and_a_device_removed_since_are_read_live() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    common::seed_user(&iam, "early", true).await;
    collect_account(&iam, &account, &fast()).await.unwrap();
    // The report is now generated; the changes below come after it.
    common::seed_user(&iam, "late", false).await;
    common::remove_mfa(&iam, &account, "early").await;
    let s = collect_account(&iam, &account, &fast()).await.unwrap();
    assert_eq!(find(&s, "late").status, MfaStatus::Disabled);
    assert!(find(&s, "late").attributes.console_login);
    assert_eq!(
        find(&s, "early").status,
        MfaStatus::Disabled,
        "removed device seen live"
    );
}

#[tokio::test]
async fn a_role_account_is_read_through_sts_assume_role_under_its_account_id() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    common::seed_user(&iam, "mallory", false).await;
    let arn = format!("arn:aws:iam::{account}:role/mfa-monitor-audit");
    let monitor = AwsIamMonitor::new(
        common::account_config(&common::unique_account()).await,
        vec![AwsAccount::Role {
            arn: arn.clone(),
            account_id: account.clone(),
        }],
    )
    .with_report_polling(FAST.interval, FAST.max_wait);
    assert_eq!(monitor.targets(), vec![arn.clone()]);
    assert_eq!(
        monitor.provisional_key(&arn).to_string(),
        format!("aws:{account}")
    );
    let s = monitor.collect(&arn).await.unwrap();
    assert_eq!(s.key.to_string(), format!("aws:{account}"));
    assert_eq!(find(&s, "mallory").status, MfaStatus::Disabled);
    let check = monitor.check(&arn).await;
    assert!(check.ok, "{check:?}");
    assert_eq!(check.component, format!("aws:{account}"));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_not_an_empty_account() {
    if common::skip_without_moto() {
        return;
    }
    let base = common::base_config().await;
    let broken = base
        .into_builder()
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    let monitor = AwsIamMonitor::new(broken, vec![AwsAccount::SelfAccount]);
    let err = monitor.collect("self").await.unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Call {
                operation: "sts:GetCallerIdentity",
                ..
            }
        ),
        "{err}"
    );
    let check = monitor.check("self").await;
    assert!(!check.ok);
    assert_eq!(check.component, "aws:self");
}

#[tokio::test]
async fn the_tag_named_by_mfa_email_tag_gives_a_users_address_and_a_value_that_is_not_one_is_dropped(
) {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let iam = aws_sdk_iam::Client::new(&common::account_config(&account).await);
    let tag = |key: &str, value: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .unwrap()
    };
    for (user, tags) in [
        (
            "alice",
            vec![tag("Work-Email", "alice@example.com"), tag("team", "data")],
        ),
        ("bob", vec![tag("work-email", "not an address")]),
        ("carol", vec![tag("email", "carol@example.com")]),
    ] {
        common::seed_user(&iam, user, false).await;
        iam.tag_user()
            .user_name(user)
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }
    let options = ReadOptions {
        email_tag: mfa_monitor::config::values::TagKey::parse("MFA_EMAIL_TAG", "work-email")
            .unwrap(),
        ..fast()
    };

    let s = collect_account(&iam, &account, &options).await.unwrap();
    let email = |name: &str| find(&s, name).attributes.email.clone();
    assert_eq!(
        email("alice").as_deref(),
        Some("alice@example.com"),
        "the key matched without case"
    );
    assert_eq!(email("bob"), None, "not an address: dropped");
    assert_eq!(
        find(&s, "bob").status,
        MfaStatus::Disabled,
        "bob still read"
    );
    assert_eq!(email("carol"), None, "`email` is not the configured tag");

    let default = collect_account(&iam, &account, &fast()).await.unwrap();
    assert_eq!(
        find(&default, "carol").attributes.email.as_deref(),
        Some("carol@example.com"),
        "the default tag is `email`"
    );
}
