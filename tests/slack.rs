//! The Slack channel against a local server playing the incoming webhook,
//! and the message snapshots (email HTML, email text, Slack JSON).
mod common;

use std::time::Duration;

use chrono::DateTime;
use mfa_monitor::domain::change::BaselineEntry;
use mfa_monitor::domain::{
    BaselineSummary, Change, ChangeKind, MfaStatus, Notice, Source, TargetKey,
};
use mfa_monitor::http::{HttpClient, RetryPolicy};
use mfa_monitor::notifiers::digest::digest;
use mfa_monitor::notifiers::email::email;
use mfa_monitor::notifiers::slack::SlackNotifier;
use mfa_monitor::notifiers::slack_blocks::{payload, MAX_BLOCKS, MAX_HEADER, MAX_TEXT};
use mfa_monitor::notifiers::Notifier;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn at() -> chrono::DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn change(source: Source, target: &str, name: &str, kind: ChangeKind, admin: bool) -> Notice {
    let (previous, current) = match kind {
        ChangeKind::MfaDisabled => (Some(MfaStatus::Enabled), Some(MfaStatus::Disabled)),
        ChangeKind::NewWithoutMfa => (None, Some(MfaStatus::Disabled)),
        ChangeKind::MfaEnabled => (Some(MfaStatus::Disabled), Some(MfaStatus::Enabled)),
        ChangeKind::Removed => (Some(MfaStatus::Enabled), None),
        _ => (None, None),
    };
    Notice::Change(Change {
        target: TargetKey::new(source, target),
        principal: (!name.is_empty()).then(|| name.to_owned()),
        kind,
        severity: mfa_monitor::domain::policy::severity(kind, admin),
        previous,
        current,
        admin,
        detail: None,
        detected_at: at(),
    })
}

/// One pass's worth of notices across every source.
fn mixed() -> Vec<Notice> {
    vec![
        change(
            Source::Aws,
            "123456789012",
            "<root>",
            ChangeKind::MfaDisabled,
            true,
        ),
        change(
            Source::Aws,
            "123456789012",
            "bob",
            ChangeKind::MfaDisabled,
            false,
        ),
        change(
            Source::Aws,
            "123456789012",
            "dave",
            ChangeKind::NewWithoutMfa,
            false,
        ),
        change(
            Source::Github,
            "acme",
            "",
            ChangeKind::RequirementDisabled,
            false,
        ),
        change(
            Source::Github,
            "acme",
            "<!channel> <https://evil|x>",
            ChangeKind::MfaDisabled,
            false,
        ),
        change(
            Source::Github,
            "acme",
            "octocat",
            ChangeKind::MfaEnabled,
            false,
        ),
        change(
            Source::Snowflake,
            "myorg-acct",
            "BOB",
            ChangeKind::BypassActive,
            true,
        ),
        Notice::Baseline(BaselineSummary {
            target: TargetKey::new(Source::Snowflake, "myorg-acct"),
            principals: 5,
            non_compliant: 1,
            unknown: 0,
            exempt: 0,
            listed: vec![BaselineEntry {
                name: "<img src=x onerror=alert(1)>".into(),
                status: MfaStatus::Disabled,
                admin: false,
            }],
            omitted: 0,
            mfa_required: None,
            detected_at: at(),
        }),
    ]
}

fn many(n: usize) -> Vec<Notice> {
    (0..n)
        .map(|i| {
            change(
                Source::Github,
                "acme",
                &format!("member-{i:05}"),
                ChangeKind::MfaDisabled,
                i % 7 == 0,
            )
        })
        .collect()
}

/// Every limit Slack enforces on a webhook payload.
fn assert_within_limits(p: &Value) {
    let blocks = p["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
    assert!(p["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => assert!(b["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER),
            "section" => assert!(b["text"]["text"].as_str().unwrap().chars().count() <= MAX_TEXT),
            "context" => {
                for e in b["elements"].as_array().unwrap() {
                    assert!(e["text"].as_str().unwrap().chars().count() <= MAX_TEXT);
                }
            }
            other => panic!("unexpected block {other}"),
        }
    }
}

fn all_text(p: &Value) -> String {
    p.to_string()
}

#[test]
fn payloads_for_1_60_and_5000_changes_stay_within_slack_limits() {
    for n in [1, 60, 5000] {
        let d = digest(&many(n), &[]).unwrap();
        let p = payload(&d);
        assert_within_limits(&p);
        let text = all_text(&p);
        let shown = text.matches("member-").count();
        let hidden: usize = if shown < n {
            let marker = "… and ";
            let start = text.rfind(marker).expect("a count of what is not shown") + marker.len();
            text[start..].split(' ').next().unwrap().parse().unwrap()
        } else {
            0
        };
        assert_eq!(shown + hidden, n, "every change is shown or counted ({n})");
    }
}

#[test]
fn names_cannot_inject_links_or_mentions_in_slack_or_markup_in_email() {
    let d = digest(&mixed(), &[]).unwrap();
    let p = all_text(&payload(&d));
    assert!(
        !p.contains("<!channel>") && !p.contains("<https://evil|x>"),
        "{p}"
    );
    assert!(p.contains("&lt;!channel&gt; &lt;https://evil|x&gt;"), "{p}");
    let m = email(&d);
    assert!(!m.html.contains("<img") && m.html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!m.html.contains("<!channel>"));
}

#[test]
fn the_messages_of_one_pass_match_their_reviewed_snapshots() {
    let d = digest(
        &mixed(),
        &["github:acme: the token is not an owner of acme".into()],
    )
    .unwrap();
    let m = email(&d);
    insta::assert_snapshot!("email_subject", m.subject);
    insta::assert_snapshot!("email_text", m.text);
    insta::assert_snapshot!(
        "email_html",
        m.html.replace("<tr>", "\n<tr>").replace("<h", "\n<h")
    );
    insta::assert_snapshot!(
        "slack_json",
        serde_json::to_string_pretty(&payload(&d)).unwrap()
    );
}

fn slack(server: &MockServer) -> SlackNotifier {
    let http = common::fast_http();
    SlackNotifier::new(
        http,
        format!("{}/services/T000/B000/s3cretWebhookPath", server.uri()).into(),
    )
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_the_message_is_posted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("rate_limited"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/s3cretWebhookPath"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let d = digest(&mixed(), &[]).unwrap();
    let started = std::time::Instant::now();
    slack(&server).send(&d).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let posted = server.received_requests().await.unwrap();
    assert_eq!(posted.len(), 2);
    let body: Value = serde_json::from_slice(&posted[1].body).unwrap();
    assert_eq!(body, payload(&d));
}

#[tokio::test]
async fn a_rejected_post_names_the_variable_and_never_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&server)
        .await;
    let err = slack(&server)
        .send(&digest(&mixed(), &[]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SLACK_WEBHOOK_URL") && err.contains("no_service"),
        "{err}"
    );
    assert!(
        !err.contains("s3cretWebhookPath") && !err.contains("/services/"),
        "{err}"
    );

    let closed = SlackNotifier::new(
        HttpClient::new(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }),
        "http://127.0.0.1:9/services/T000/B000/s3cretWebhookPath"
            .to_owned()
            .into(),
    );
    let err = closed
        .send(&digest(&mixed(), &[]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("s3cretWebhookPath"), "{err}");
}

/// A webhook client whose retries are slow enough to tell apart: the
/// first retry waits at least 250 ms.
fn slow_retry_http(request_timeout: Duration) -> HttpClient {
    HttpClient::new(RetryPolicy {
        first_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_millis(500),
        request_timeout,
        ..RetryPolicy::default()
    })
}

#[tokio::test]
async fn a_webhook_answering_500_is_not_posted_again_within_the_pass() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal_error"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let err = slack(&server)
        .send(&digest(&mixed(), &[]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "Slack may have posted it: the alert stays pending for the next pass"
    );
    assert!(err.contains("500") && err.contains("not repeated"), "{err}");
    assert!(!err.contains("s3cretWebhookPath"), "{err}");
}

#[tokio::test]
async fn a_webhook_that_times_out_after_taking_the_post_is_not_posted_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let notifier = SlackNotifier::new(
        slow_retry_http(Duration::from_millis(500)),
        format!("{}/services/T000/B000/s3cretWebhookPath", server.uri()).into(),
    );
    let err = notifier
        .send(&digest(&mixed(), &[]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "{err}");
    assert!(err.contains("not repeated"), "{err}");
    assert!(!err.contains("s3cretWebhookPath"), "{err}");
}

#[tokio::test]
async fn a_refused_connection_to_the_webhook_is_retried_as_nothing_was_sent() {
    // A free port, closed for the first attempt and served from 200 ms on;
    // the first retry comes 250-500 ms after the refusal.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notifier = SlackNotifier::new(
        slow_retry_http(Duration::from_secs(5)),
        format!("http://127.0.0.1:{port}/services/T000/B000/s3cretWebhookPath").into(),
    );
    let d = digest(&mixed(), &[]).unwrap();
    let started = std::time::Instant::now();
    let serve = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        server
    };
    let (sent, server) = tokio::join!(notifier.send(&d), serve);
    sent.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "posted only after a retry"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_redirected_webhook_post_is_a_channel_failure_that_never_shows_the_url() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&elsewhere)
        .await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(308).insert_header(
            "location",
            format!("{}/services/T000/B000/s3cretWebhookPath", elsewhere.uri()).as_str(),
        ))
        .mount(&server)
        .await;
    let err = slack(&server)
        .send(&digest(&mixed(), &[]).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SLACK_WEBHOOK_URL") && err.contains("308") && err.contains("not followed"),
        "{err}"
    );
    assert!(
        !err.contains("s3cretWebhookPath") && !err.contains("/services/"),
        "{err}"
    );
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the alert went nowhere the configuration does not name"
    );
}

#[tokio::test]
async fn slack_failing_on_one_pass_gets_the_alert_once_on_the_next_and_email_is_not_resent() {
    if common::skip_without_moto() {
        return;
    }
    let world = common::Scenario::new().await;
    let (account, to) = (&world.account, &world.to);
    common::seed_user(&world.iam, "kate", false).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal_error"))
        .mount(&server)
        .await;
    let mut env = world.file_env().await;
    env.push((
        "SLACK_WEBHOOK_URL".to_owned(),
        format!("{}/services/T0/B0/s3cret", server.uri()),
    ));
    let first = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(first.code, 1, "a channel failed: {}", first.stderr);
    assert!(
        !first.stdout.contains("s3cret") && !first.stderr.contains("s3cret"),
        "webhook URL printed"
    );
    let v: Value = serde_json::from_str(&first.stdout).unwrap();
    let results: Vec<(&str, &str)> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap(),
                c["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(results, [("email", "sent"), ("slack", "failed")]);
    assert_eq!(common::sent_emails_to(to).await.len(), 1);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a 5xx post may have been taken: not repeated within the pass"
    );

    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let second = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let posts = server.received_requests().await.unwrap();
    assert_eq!(posts.len(), 1, "the pending baseline reaches Slack once");
    assert!(String::from_utf8_lossy(&posts[0].body).contains(&format!("aws:{account}/kate")));
    assert_eq!(
        common::sent_emails_to(to).await.len(),
        1,
        "email, which worked, is not re-sent"
    );

    let third = common::run_binary(&["run", "--json"], &env).await;
    assert_eq!(third.code, 0);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "and not a third time"
    );
}

#[tokio::test]
async fn the_report_is_printed_filtered_and_mailed_as_an_html_table_and_posted_to_slack() {
    if common::skip_without_moto() {
        return;
    }
    let account = common::unique_account();
    let cfg = common::account_config(&account).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    common::seed_user(&iam, "liam", true).await;
    common::seed_user(&iam, "<b>mia</b>", false).await;
    let (from, to) = common::email_pair(&cfg).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = common::account_env(&account).await;
    env.extend([
        ("AWS_IAM_ACCOUNTS".to_owned(), "self".to_owned()),
        (
            "MFA_STATE_FILE".to_owned(),
            state.to_str().unwrap().to_owned(),
        ),
        ("MFA_EXEMPT".to_owned(), format!("aws:{account}/<root>")),
    ]);
    assert_eq!(common::run_binary(&["run"], &env).await.code, 0);

    let all = common::run_binary(&["report"], &env).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(
        all.stdout.contains("PRINCIPAL") && all.stdout.contains(&format!("aws:{account}/liam")),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout.contains("disabled (exempt, permanent)"),
        "exempt shown, not hidden: {}",
        all.stdout
    );
    let disabled = common::run_binary(&["report", "--filter", "disabled", "--json"], &env).await;
    let v: Value = serde_json::from_str(&disabled.stdout).unwrap();
    let rows: Vec<&str> = v["report"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["principal"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            format!("aws:{account}/<root>"),
            format!("aws:{account}/<b>mia</b>")
        ]
    );
    let enabled = common::run_binary(&["report", "--filter", "enabled", "--json"], &env).await;
    let v: Value = serde_json::from_str(&enabled.stdout).unwrap();
    assert_eq!(v["report"]["rows"].as_array().unwrap().len(), 1);

    env.extend([
        ("ALERT_EMAIL_FROM".to_owned(), from),
        ("ALERT_EMAIL_TO".to_owned(), to.clone()),
        (
            "SLACK_WEBHOOK_URL".to_owned(),
            format!("{}/services/T0/B0/x", server.uri()),
        ),
    ]);
    let sent = common::run_binary(&["report", "--send"], &env).await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let mails = common::sent_emails_to(&to).await;
    assert_eq!(mails.len(), 1);
    let html = mails[0]["body"].as_str().unwrap();
    assert!(
        html.contains("<table") && html.contains(&format!("aws:{account}/liam")),
        "{html}"
    );
    assert!(
        html.contains("&lt;b&gt;mia&lt;/b&gt;") && !html.contains("<b>mia</b>"),
        "{html}"
    );
    let posts = server.received_requests().await.unwrap();
    assert_eq!(posts.len(), 1);
    let slack: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("MFA status report"),
        "{slack}"
    );
}
