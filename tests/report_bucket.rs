//! The weekly report's page in S3 (`MFA_REPORT_BUCKET`) against moto: the
//! real binary stores the HTML report, the e-mail and the Slack summary
//! carry a pre-signed link, and the link fetches the page.
mod common;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct World {
    env: Vec<(String, String)>,
    slack: MockServer,
    to: String,
    account: String,
    _dir: tempfile::TempDir,
}

async fn world(bucket: &str) -> World {
    let account = common::unique_account();
    let cfg = common::account_config(&account).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    common::seed_user(&iam, "ana", true).await;
    common::seed_user(&iam, "<b>ben</b>", false).await;
    let (from, to) = common::email_pair(&cfg).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = common::account_env(&account).await;
    env.extend([
        ("AWS_IAM_ACCOUNTS".to_owned(), "self".to_owned()),
        (
            "MFA_STATE_FILE".to_owned(),
            dir.path().join("state.json").to_str().unwrap().to_owned(),
        ),
        ("MFA_REPORT_BUCKET".to_owned(), bucket.to_owned()),
        ("ALERT_EMAIL_FROM".to_owned(), from),
        ("ALERT_EMAIL_TO".to_owned(), to.clone()),
        (
            "SLACK_WEBHOOK_URL".to_owned(),
            format!("{}/services/T0/B0/x", slack.uri()),
        ),
    ]);
    // The baseline pass, sent to the channels; the report comes after.
    assert_eq!(common::run_binary(&["run"], &env).await.code, 0);
    World {
        env,
        slack,
        to,
        account,
        _dir: dir,
    }
}

/// The Slack posts whose text has the report's headline.
async fn report_posts(slack: &MockServer) -> Vec<Value> {
    slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("MFA status report"))
        })
        .collect()
}

#[tokio::test]
async fn a_sent_report_stores_its_page_and_the_link_in_slack_and_the_email_fetches_it() {
    if common::skip_without_moto() {
        return;
    }
    let bucket = common::unique("reports");
    let w = world(&bucket).await;
    let cfg = common::account_config(&w.account).await;
    common::s3_client(&cfg)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();

    let sent = common::run_binary(&["report", "--send", "--json"], &w.env).await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let out: Value = serde_json::from_str(&sent.stdout).unwrap();
    let object = out["report"]["html_report"]["object"].as_str().unwrap();
    let key = object
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap_or_else(|| panic!("{object}"));
    assert!(
        key.starts_with("reports/") && key.ends_with(".html"),
        "{key}"
    );
    // The link is a bearer secret: in the messages only.
    for text in [&sent.stdout, &sent.stderr] {
        assert!(!text.contains("X-Amz-Signature"), "{text}");
    }

    let stored = common::s3_client(&cfg)
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.content_type(), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(stored.body.collect().await.unwrap().to_vec()).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.200}");
    assert!(page.contains("&#60;b&#62;ben&#60;/b&#62;") || page.contains("&lt;b&gt;ben&lt;/b&gt;"));

    let posts = report_posts(&w.slack).await;
    assert_eq!(posts.len(), 1);
    let blocks = posts[0]["blocks"].to_string();
    let link = blocks
        .split('<')
        .find_map(|part| {
            part.split_once("|Open the full report (HTML)>")
                .map(|(url, _)| url)
        })
        .unwrap_or_else(|| panic!("no link in {blocks}"))
        .replace("&amp;", "&");
    let fetched = reqwest::get(&link).await.unwrap();
    assert_eq!(fetched.status(), 200, "{link}");
    assert_eq!(fetched.text().await.unwrap(), page);
    assert!(
        link.contains("X-Amz-Expires=604800"),
        "7 days asked: {link}"
    );

    let mails = common::sent_emails_to(&w.to).await;
    let report_mail = mails
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("MFA status report"))
        })
        .expect("the report e-mail");
    let html = report_mail["body"].as_str().unwrap();
    assert!(html.contains(&link.replace('&', "&amp;")), "{html:.2000}");
    assert!(html.contains(object), "the object named beside the link");
}

#[tokio::test]
async fn a_bucket_that_cannot_be_written_still_sends_the_report_without_a_link_and_fails_the_run() {
    if common::skip_without_moto() {
        return;
    }
    let bucket = common::unique("missing");
    let w = world(&bucket).await;
    let sent = common::run_binary(&["report", "--send"], &w.env).await;
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert!(sent.stderr.contains(&bucket), "{}", sent.stderr);
    let posts = report_posts(&w.slack).await;
    assert_eq!(posts.len(), 1, "the report still goes out");
    assert!(!posts[0].to_string().contains("Open the full report"));
}
