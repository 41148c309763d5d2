//! The built binary run as Lambda runs it: a local Runtime API server
//! (wiremock) hands it a Scheduled Event and receives the response.
mod common;

use std::time::Duration;

use common::runtime_api::{invoke_all, runtime_api_serving};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves one invocation with `event`, then holds further polls open.
async fn runtime_api(event: &Value, request_id: &str) -> MockServer {
    runtime_api_with_deadline(event, request_id, Duration::from_secs(120)).await
}

/// A Runtime API whose one invocation must end within `left`.
async fn runtime_api_with_deadline(event: &Value, request_id: &str, left: Duration) -> MockServer {
    runtime_api_serving(&[(event.clone(), request_id)], left).await
}

/// Starts the binary against the Runtime API and waits for its answer to
/// `request_id` (a response or an error); returns the path posted to, the
/// body, and what the binary printed.
async fn invoke(
    server: &MockServer,
    request_id: &str,
    env: Vec<(String, String)>,
) -> (String, Value, String) {
    let (mut answers, printed) = invoke_all(server, &[request_id], env).await;
    let (posted, body) = answers.remove(0);
    (posted, body, printed)
}

#[tokio::test]
async fn a_scheduled_event_runs_one_pass_and_returns_the_run_summary() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    let (account, to) = (&world.account, &world.to);
    common::seed_user(&world.iam, "heidi", false).await;
    let env = world.table_env().await;
    let event: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge-scheduled-event.json")).unwrap();
    let server = runtime_api(&event, "req-1").await;

    let (posted, summary, printed) = invoke(&server, "req-1", env).await;

    assert_eq!(
        posted, "/2018-06-01/runtime/invocation/req-1/response",
        "{summary}\n{printed}"
    );
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["targets"][0]["target"], format!("aws:{account}"));
    assert_eq!(summary["targets"][0]["result"], "baseline");
    assert_eq!(summary["channels"][0]["channel"], "email");
    assert_eq!(summary["channels"][0]["result"], "sent");
    assert_eq!(common::sent_emails_to(to).await.len(), 1);

    // Logs: JSON lines on stdout, each with the pass's run_id, ending with
    // the run summary and the metrics records.
    let run_id = summary["run_id"].as_str().unwrap();
    let lines: Vec<Value> = printed
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines.len() >= 3, "{printed}");
    let pass_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("message").is_some())
        .collect();
    assert!(pass_lines
        .iter()
        .all(|l| l["run_id"] == run_id || l.get("run_id").is_none()));
    let summary_line = pass_lines
        .iter()
        .find(|l| l["message"] == "run summary")
        .expect("a run summary record");
    assert_eq!(summary_line["run_id"], run_id);
    assert_eq!(summary_line["changes"], summary["changes"]);
    let emf = lines
        .iter()
        .find(|l| l.get("_aws").is_some())
        .expect("an EMF metrics record");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "MfaMonitor"
    );
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Source"], []]),
        "per source, and summed over sources for one alarm"
    );
    assert_eq!(emf["Source"], "aws");
    assert_eq!(emf["Principals"], 2, "heidi and <root>");
    assert!(
        lines
            .iter()
            .all(|l| l.get("ChannelFailures").is_none() && l.get("PendingAlerts").is_none()),
        "every channel delivered: no delivery metrics\n{printed}"
    );
}

#[tokio::test]
async fn an_exemption_added_in_the_terminal_holds_in_lambda_on_the_same_table_and_is_told_once() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    let account = &world.account;
    common::seed_user(&world.iam, "ivan", true).await;
    common::seed_user(&world.iam, "judy", true).await;
    let env = world.table_env().await;
    let server = runtime_api(&serde_json::json!({}), "req-1").await;
    let (_, summary, printed) = invoke(&server, "req-1", env.clone()).await;
    assert_eq!(summary["ok"], true, "{summary}\n{printed}");

    // An operator's terminal, with the same table, adds the exemption.
    let until = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let ivan = format!("aws:{account}/ivan");
    let ran = common::run_binary(
        &[
            "exempt",
            "add",
            &ivan,
            "--until",
            &until,
            "--reason",
            "lost phone",
        ],
        &env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    common::remove_mfa(&world.iam, account, "ivan").await;
    common::remove_mfa(&world.iam, account, "judy").await;
    let server = runtime_api(&serde_json::json!({}), "req-2").await;
    let (_, summary, printed) = invoke(&server, "req-2", env.clone()).await;
    assert_eq!(summary["ok"], true, "{summary}\n{printed}");
    assert_eq!(
        summary["changes"]["aws"],
        serde_json::json!({"mfa_disabled": 1}),
        "judy only: {summary}"
    );
    let mails = common::sent_emails_to(&world.to).await;
    assert_eq!(mails.len(), 2, "baseline, then this pass");
    let body = mails[1]["body"].as_str().unwrap();
    assert!(body.contains(&format!("aws:{account}/judy")), "{body}");
    assert!(
        body.contains("exemption added by") && body.contains("lost phone"),
        "the exemption is told: {body}"
    );
    assert_eq!(
        body.matches(ivan.as_str()).count(),
        body.matches("exemption added by").count(),
        "the exempt account is named only where its exemption is told: {body}"
    );

    // Listed from the terminal as Lambda left it; not told again.
    let listed = common::run_binary(&["exempt", "list", "--json"], &env).await;
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(rows[0]["principal"], ivan.as_str());
    let server = runtime_api(&serde_json::json!({}), "req-3").await;
    let (_, summary, _) = invoke(&server, "req-3", env).await;
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(
        common::sent_emails_to(&world.to).await.len(),
        2,
        "nothing new to tell: {summary}"
    );
}

#[tokio::test]
async fn a_channel_that_refuses_is_a_channel_failures_metric_and_its_alert_a_pending_one() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    common::seed_user(&world.iam, "ivan", false).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;
    let mut env = world.table_env().await;
    env.push((
        "SLACK_WEBHOOK_URL".into(),
        format!("{}/services/T0/B0/x", slack.uri()),
    ));
    let event: Value =
        serde_json::from_str(include_str!("fixtures/eventbridge-scheduled-event.json")).unwrap();
    let server = runtime_api(&event, "req-9").await;

    let (_, summary, printed) = invoke(&server, "req-9", env).await;

    let lines: Vec<Value> = printed
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("ChannelFailures").is_some())
        .collect();
    assert_eq!(failures.len(), 1, "{summary}\n{printed}");
    assert_eq!(failures[0]["Channel"], "slack");
    assert_eq!(failures[0]["ChannelFailures"], 1);
    assert_eq!(
        failures[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Channel"], []])
    );
    let pending = lines
        .iter()
        .find(|l| l.get("PendingAlerts").is_some())
        .expect("a PendingAlerts record");
    assert_eq!(
        pending["PendingAlerts"], 1,
        "the baseline, pending for slack"
    );
    assert_eq!(pending["PendingAlertAgeMinutes"], 0);
    assert_eq!(
        pending["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        serde_json::json!([
            {"Name": "PendingAlerts", "Unit": "Count"},
            {"Name": "PendingAlertAgeMinutes", "Unit": "None"}
        ])
    );
}

#[tokio::test]
async fn a_configuration_error_is_reported_as_a_lambda_error_naming_the_variable() {
    if common::skip_without_moto() {
        return;
    }
    let server = runtime_api(&serde_json::json!({}), "req-2").await;
    let env = vec![
        ("AWS_IAM_ACCOUNTS".to_owned(), "self".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    let (posted, body, _) = invoke(&server, "req-2", env).await;
    assert_eq!(posted, "/2018-06-01/runtime/invocation/req-2/error");
    assert_eq!(body["errorType"], "ConfigError");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("MFA_STATE_TABLE"),
        "{body}"
    );
}

#[tokio::test]
async fn a_report_event_mails_the_status_report_and_returns_its_counts() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    let (account, to) = (&world.account, &world.to);
    common::seed_user(&world.iam, "ivy", false).await;
    let env = world.table_env().await;
    let server = runtime_api(&serde_json::json!({}), "req-3").await;
    let (posted, _, _) = invoke(&server, "req-3", env.clone()).await;
    assert!(posted.ends_with("/response"), "the pass ran first");

    let server = runtime_api(&serde_json::json!({"mode": "report"}), "req-4").await;
    let (posted, body, printed) = invoke(&server, "req-4", env).await;
    assert_eq!(
        posted, "/2018-06-01/runtime/invocation/req-4/response",
        "{body}\n{printed}"
    );
    assert_eq!(body["mode"], "report");
    assert_eq!(body["counts"]["aws"]["principals"], 2, "{body}");
    assert_eq!(body["channels"][0]["result"], "sent");
    let mails = common::sent_emails_to(to).await;
    assert_eq!(mails.len(), 2, "the baseline, then the report");
    assert!(
        mails[1]["subject"]
            .as_str()
            .unwrap()
            .contains("MFA status report"),
        "{}",
        mails[1]
    );
    assert!(mails[1]["body"]
        .as_str()
        .unwrap()
        .contains(&format!("aws:{account}/ivy")));
}

#[tokio::test]
async fn a_report_event_stores_the_html_page_in_the_report_bucket_and_mails_its_link() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    common::seed_user(&world.iam, "ivy", false).await;
    let s3 = common::s3_client(&world.cfg);
    let bucket = common::unique("weekly");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut env = world.table_env().await;
    env.push(("MFA_REPORT_BUCKET".to_owned(), bucket.clone()));
    let server = runtime_api(&serde_json::json!({}), "req-5").await;
    invoke(&server, "req-5", env.clone()).await;

    let server = runtime_api(&serde_json::json!({"mode": "report"}), "req-6").await;
    let (posted, body, printed) = invoke(&server, "req-6", env).await;
    assert!(posted.ends_with("/response"), "{body}\n{printed}");
    let object = body["html_report"]["object"].as_str().unwrap();
    let key = object.strip_prefix(&format!("s3://{bucket}/")).unwrap();
    let page = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let page = String::from_utf8(page.body.collect().await.unwrap().to_vec()).unwrap();
    assert!(page.contains(&format!("aws:{}/ivy", world.account)));
    assert!(
        !printed.contains("X-Amz-Signature"),
        "the link is never logged"
    );
    let mails = common::sent_emails_to(&world.to).await;
    let html = mails.last().unwrap()["body"].as_str().unwrap();
    let link = html
        .split("<a href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a link in the report e-mail")
        .replace("&amp;", "&");
    let fetched = reqwest::get(&link).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.unwrap(), page);
}

#[tokio::test]
async fn near_its_deadline_a_pass_fails_the_slow_target_and_still_commits_the_rest() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    common::seed_user(&world.iam, "ivan", false).await;
    let github = MockServer::start().await;
    common::github_fake::serve(&github, "acme", &common::github_fake::standard_org()).await;
    let proxy = common::FaultProxy::start(
        &common::moto_url(),
        serde_json::json!([{"action": "GetAccountAuthorizationDetails", "delay": 120}]),
    )
    .await;
    let mut env = world.table_env().await;
    env.extend(
        [
            ("AWS_ENDPOINT_URL_IAM", proxy.url.clone()),
            ("GITHUB_ORGS", "acme".into()),
            ("GITHUB_TOKEN", common::github_fake::TOKEN.into()),
            ("GITHUB_API_URL", github.uri()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let server =
        runtime_api_with_deadline(&serde_json::json!({}), "req-9", Duration::from_secs(15)).await;
    let started = std::time::Instant::now();

    let (posted, summary, printed) = invoke(&server, "req-9", env).await;

    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "answered after {took:?}: {printed}"
    );
    assert_eq!(
        posted, "/2018-06-01/runtime/invocation/req-9/response",
        "{summary}\n{printed}"
    );
    let targets = summary["targets"].as_array().unwrap();
    let iam = targets.iter().find(|t| t["source"] == "aws").unwrap();
    assert_eq!(iam["result"], "failed", "{summary}");
    assert!(
        iam["error"]
            .as_str()
            .unwrap()
            .contains("left before the pass deadline"),
        "{summary}"
    );
    let gh = targets.iter().find(|t| t["source"] == "github").unwrap();
    assert_eq!(gh["result"], "baseline", "committed in time: {summary}");
    assert_eq!(summary["channels"][0]["result"], "sent", "{summary}");
    let mails = common::sent_emails_to(&world.to).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0]["body"].as_str().unwrap().contains("github:acme"));
}

/// A Slack webhook URL (a local server answering `ok`) stored in Secrets
/// Manager in the scenario's account; returns the server and the secret's
/// name.
async fn slack_secret(world: &common::Scenario) -> (MockServer, String) {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let secret = common::unique("webhook");
    aws_sdk_secretsmanager::Client::new(&world.cfg)
        .create_secret()
        .name(&secret)
        .secret_string(format!("{}/services/T0/B0/s3cretPath", slack.uri()))
        .send()
        .await
        .unwrap();
    (slack, secret)
}

/// Lines the proxy printed for GetSecretValue: one per call it matched.
fn secret_reads(proxy: &common::FaultProxy) -> usize {
    proxy
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("secretsmanager.GetSecretValue"))
        .count()
}

#[tokio::test]
async fn a_start_failing_on_a_throttled_secrets_manager_is_retryable_and_the_next_invocation_runs()
{
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    common::seed_user(&world.iam, "jane", false).await;
    let (slack, secret) = slack_secret(&world).await;
    // Every attempt (the SDK makes 4) of the start at init and of the start
    // again at the first invocation throttled; then each read forwarded
    // and counted.
    let proxy = common::FaultProxy::start(
        &common::moto_url(),
        serde_json::json!([
            {"target": "secretsmanager.GetSecretValue", "times": 8, "status": 400,
             "headers": {"Content-Type": "application/x-amz-json-1.1"},
             "body": serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string()},
            {"target": "secretsmanager.GetSecretValue", "rewrite": []},
        ]),
    )
    .await;
    let mut env = world.table_env().await;
    env.extend([
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            proxy.url.clone(),
        ),
        ("SLACK_WEBHOOK_URL_SECRET_ID".to_owned(), secret.clone()),
    ]);
    let server = runtime_api_serving(
        &[
            (serde_json::json!({}), "req-t1"),
            (serde_json::json!({}), "req-t2"),
        ],
        Duration::from_secs(120),
    )
    .await;

    let (answers, printed) = invoke_all(&server, &["req-t1", "req-t2"], env).await;

    let (posted, body) = &answers[0];
    assert_eq!(
        posted, "/2018-06-01/runtime/invocation/req-t1/error",
        "{body}\n{printed}"
    );
    assert_eq!(body["errorType"], "TransientStartError", "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("SLACK_WEBHOOK_URL_SECRET_ID") && message.contains("Throttling"),
        "{message}"
    );
    let (posted, summary) = &answers[1];
    assert_eq!(
        posted, "/2018-06-01/runtime/invocation/req-t2/response",
        "the same sandbox started again: {summary}\n{printed}"
    );
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["targets"][0]["result"], "baseline", "{summary}");
    assert_eq!(slack.received_requests().await.unwrap().len(), 1);
    assert_eq!(common::sent_emails_to(&world.to).await.len(), 1);
    assert_eq!(
        secret_reads(&proxy),
        9,
        "4 throttled at init, 4 at the first invocation, then one read"
    );
    assert!(!printed.contains("s3cretPath"), "webhook URL printed");
    assert!(
        !printed.contains("HttpResponse"),
        "no raw HTTP dump in the logs: {printed}"
    );
}

#[tokio::test]
async fn a_secret_that_does_not_exist_is_a_configuration_error_kept_for_the_sandbox() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    let proxy = common::FaultProxy::start(
        &common::moto_url(),
        serde_json::json!([{"target": "secretsmanager.GetSecretValue", "rewrite": []}]),
    )
    .await;
    let mut env = world.table_env().await;
    env.extend([
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            proxy.url.clone(),
        ),
        (
            "SLACK_WEBHOOK_URL_SECRET_ID".to_owned(),
            common::unique("no-such-secret"),
        ),
    ]);
    let server = runtime_api_serving(
        &[
            (serde_json::json!({}), "req-c1"),
            (serde_json::json!({}), "req-c2"),
        ],
        Duration::from_secs(120),
    )
    .await;

    let (answers, printed) = invoke_all(&server, &["req-c1", "req-c2"], env).await;

    for (n, (posted, body)) in answers.iter().enumerate() {
        assert!(posted.ends_with("/error"), "{n}: {body}\n{printed}");
        assert_eq!(body["errorType"], "ConfigError", "{body}");
        assert!(
            body["errorMessage"]
                .as_str()
                .unwrap()
                .contains("SLACK_WEBHOOK_URL_SECRET_ID"),
            "{body}"
        );
    }
    assert_eq!(
        secret_reads(&proxy),
        1,
        "read once: a missing secret is not asked for again"
    );
    assert_eq!(common::sent_emails_to(&world.to).await.len(), 0);
}
