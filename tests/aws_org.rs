//! AWS coverage that follows the organization (`AWS_IAM_ACCOUNTS` entry
//! `org:ROLE_NAME`): the real binary against moto's Organizations, STS and
//! IAM, with the fault proxy where moto cannot fail on its own (a role that
//! cannot be assumed, throttling, a listing that fails).
mod common;

use aws_sdk_organizations::types::OrganizationFeatureSet as FeatureSet;
use common::{account_config, account_env, run_binary, seed_user, unique_account, FaultProxy};
use serde_json::{json, Value};

const ROLE: &str = "MfaMonitorAudit";

/// A fresh organization in moto: its management account and members.
struct Org {
    management: String,
    members: Vec<String>,
    client: aws_sdk_organizations::Client,
    dir: tempfile::TempDir,
}

impl Org {
    async fn new(members: usize) -> Self {
        let management = unique_account();
        let client = aws_sdk_organizations::Client::new(&account_config(&management).await);
        client
            .create_organization()
            .feature_set(FeatureSet::All)
            .send()
            .await
            .expect("moto Organizations CreateOrganization");
        let mut org = Self {
            management,
            members: Vec::new(),
            client,
            dir: tempfile::tempdir().unwrap(),
        };
        for _ in 0..members {
            org.add_member().await;
        }
        org
    }

    async fn add_member(&mut self) -> String {
        let n = self.members.len();
        let out = self
            .client
            .create_account()
            .email(format!("member{n}-{}@example.com", self.management))
            .account_name(format!("member{n}"))
            .send()
            .await
            .unwrap();
        let id = out
            .create_account_status
            .and_then(|s| s.account_id)
            .expect("moto creates the account at once");
        self.members.push(id.clone());
        id
    }

    async fn iam(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&account_config(account).await)
    }

    async fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = account_env(&self.management).await;
        env.push(("AWS_IAM_ACCOUNTS".into(), format!("org:{ROLE}")));
        env.push((
            "MFA_STATE_FILE".into(),
            self.dir.path().join("state.json").to_str().unwrap().into(),
        ));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join("state.json")).unwrap()).unwrap()
    }
}

async fn pass(env: &[(String, String)]) -> (i32, Value) {
    let ran = run_binary(&["run", "--json"], env).await;
    let v = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
    (ran.code, v)
}

fn result(v: &Value, target: &str) -> String {
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == format!("aws:{target}"))
        .map(|t| t["result"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "absent".into())
}

fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    )
}

/// The role is not in `account`: AssumeRole into it is refused.
fn role_missing(account: &str) -> Value {
    json!({"action": "AssumeRole", "body_contains": account, "status": 403,
           "headers": {"Content-Type": "text/xml"},
           "body": sts_error("AccessDenied", &format!("User is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{account}:role/{ROLE}"))})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_active_account_is_read_once_the_excluded_one_not_and_a_missing_role_fails_alone() {
    if common::skip_without_moto() {
        return;
    }
    let org = Org::new(3).await;
    let (a, b, c) = (&org.members[0], &org.members[1], &org.members[2]);
    seed_user(&org.iam(&org.management).await, "boss", false).await;
    seed_user(&org.iam(a).await, "alice", false).await;
    seed_user(&org.iam(b).await, "bob", false).await;
    seed_user(&org.iam(c).await, "carol", true).await;
    let proxy = FaultProxy::start(&common::moto_url(), json!([role_missing(c)])).await;
    let env = org
        .env(&[
            ("AWS_ENDPOINT_URL_STS", &proxy.url),
            ("AWS_IAM_EXCLUDE_ACCOUNTS", b),
            // `self` too: the management account must still be read once.
            ("AWS_IAM_ACCOUNTS", &format!("self,org:{ROLE}")),
        ])
        .await;

    let (code, v) = pass(&env).await;
    assert_eq!(code, 1, "one account failed: {v}");
    assert_eq!(result(&v, &org.management), "baseline", "{v}");
    assert_eq!(result(&v, a), "baseline", "{v}");
    assert_eq!(result(&v, b), "absent", "excluded: {v}");
    assert_eq!(result(&v, c), "failed", "{v}");
    assert_eq!(
        v["targets"].as_array().unwrap().len(),
        3,
        "each account once, the management account not twice: {v}"
    );
    let failed = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == format!("aws:{c}"))
        .unwrap();
    assert!(
        failed["error"].as_str().unwrap().contains("AssumeRole"),
        "{failed}"
    );
    let state = org.state();
    let stored: Vec<&String> = state["targets"].as_object().unwrap().keys().collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(
        state["targets"][format!("aws:{a}")]["principals"]["alice"]["status"],
        "disabled"
    );

    let check = run_binary(&["check"], &env).await;
    assert_eq!(check.code, 1, "{}\n{}", check.stdout, check.stderr);
    let text = format!("{}{}", check.stdout, check.stderr);
    assert!(text.contains(&format!("aws:{c}")), "{text}");
    assert!(text.contains("cannot be read: 1 of 3"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_joins_gets_a_baseline_and_one_that_closes_one_notice_and_is_retired() {
    if common::skip_without_moto() {
        return;
    }
    let mut org = Org::new(2).await;
    let a = org.members[0].clone();
    for (account, user) in [
        (&org.management, "boss"),
        (&a, "alice"),
        (&org.members[1], "bob"),
    ] {
        seed_user(&org.iam(account).await, user, false).await;
    }
    let env = org.env(&[]).await;
    let (code, v) = pass(&env).await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["targets"].as_array().unwrap().len(), 3, "{v}");

    let d = org.add_member().await;
    seed_user(&org.iam(&d).await, "dave", false).await;
    org.client
        .close_account()
        .account_id(&a)
        .send()
        .await
        .unwrap();

    let (code, v) = pass(&env).await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        result(&v, &d),
        "baseline",
        "a new account is a baseline: {v}"
    );
    assert_eq!(v["changes"]["aws"]["removed"], 1, "one notice: {v}");
    assert!(
        v["changes"]["aws"].get("new_without_mfa").is_none(),
        "no alert per user of the new account: {v}"
    );
    let state = org.state();
    let gone = &state["targets"][format!("aws:{a}")];
    assert!(gone["principals"].as_object().unwrap().is_empty(), "{gone}");
    assert!(gone["settings"]["retired_at"].is_string(), "{gone}");
    assert_eq!(
        state["discovered"]["aws:organization"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let (code, v) = pass(&env).await;
    assert_eq!(code, 0, "{v}");
    assert!(v["changes"].as_object().unwrap().is_empty(), "silence: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_still_reads_every_known_account_and_retires_none() {
    if common::skip_without_moto() {
        return;
    }
    let org = Org::new(2).await;
    seed_user(&org.iam(&org.members[0]).await, "alice", false).await;
    let (code, _) = pass(&org.env(&[]).await).await;
    assert_eq!(code, 0);
    let before = org.state()["targets"].clone();

    let proxy = FaultProxy::start(
        &common::moto_url(),
        json!([{"target": "AWSOrganizationsV20161128.ListAccounts", "status": 500,
                "headers": {"Content-Type": "application/x-amz-json-1.1"},
                "body": json!({"__type": "ServiceException", "message": "internal"}).to_string()}]),
    )
    .await;
    let env = org
        .env(&[("AWS_ENDPOINT_URL_ORGANIZATIONS", &proxy.url)])
        .await;
    let (code, v) = pass(&env).await;
    assert_eq!(code, 1, "{v}");
    assert_eq!(result(&v, "organization"), "failed", "{v}");
    for account in [&org.management, &org.members[0], &org.members[1]] {
        assert_eq!(result(&v, account), "unchanged", "{v}");
    }
    assert_eq!(org.state()["targets"], before, "nothing retired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_read_within_the_concurrency_bound_and_throttled_sts_is_retried() {
    if common::skip_without_moto() {
        return;
    }
    let org = Org::new(5).await;
    for m in &org.members {
        seed_user(&org.iam(m).await, "user", false).await;
    }
    let throttled = json!({"action": "AssumeRole", "times": 2, "status": 400,
        "headers": {"Content-Type": "text/xml"},
        "body": sts_error("Throttling", "Rate exceeded")});
    let slow = json!({"action": "AssumeRole", "delay": 0.3, "count_in_flight": true});
    let proxy = FaultProxy::start(&common::moto_url(), json!([throttled, slow])).await;
    let env = org
        .env(&[
            ("AWS_ENDPOINT_URL_STS", &proxy.url),
            ("MFA_TARGET_CONCURRENCY", "2"),
        ])
        .await;
    let (code, v) = pass(&env).await;
    assert_eq!(code, 0, "throttling retried: {v}");
    assert_eq!(v["targets"].as_array().unwrap().len(), 6, "{v}");
    for m in &org.members {
        assert_eq!(result(&v, m), "baseline", "{v}");
    }
    let most = proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix("in_flight AssumeRole "))
        .map(|n| n.parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert_eq!(most, 2, "at most MFA_TARGET_CONCURRENCY accounts at once");
}
