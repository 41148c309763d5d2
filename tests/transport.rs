//! Transport rules of every HTTP source and channel: redirects are not
//! followed, a plain-http URL is refused unless it is on this machine, and
//! secrets that cannot be right are refused before anything is called.
mod common;

use mfa_monitor::http::HttpError;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A server answering every request with `status` and a `Location` to
/// `elsewhere`, which would answer 200.
async fn redirecting(status: u16, elsewhere: &MockServer) -> MockServer {
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("followed"))
        .mount(elsewhere)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(elsewhere)
        .await;
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(status).insert_header(
                "location",
                format!(
                    "http://localhost:{}/landing/s3cret",
                    elsewhere.address().port()
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_the_hosts_and_is_not_followed() {
    let elsewhere = MockServer::start().await;
    for status in [301, 302, 307, 308] {
        let server = redirecting(status, &elsewhere).await;
        let http = common::fast_http();
        let url = format!("{}/api/v3/orgs/acme", server.uri());
        let err = http.send(|c| c.get(&url)).await.unwrap_err();
        assert!(
            matches!(&err, HttpError::Redirect { status: s, host, to }
                if s.as_u16() == status && host == "127.0.0.1" && to.as_deref() == Some("localhost")),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&status.to_string()) && text.contains("not followed"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret") && !text.contains("/api/v3"),
            "{text}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "asked once, as a redirect is no failure to retry"
        );
    }
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

/// The binary's environment for a GitHub source and a local state file,
/// with no AWS call possible (nothing here needs one).
fn github_env(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("GITHUB_ORGS", "acme"),
        ("GITHUB_TOKEN", "ghp_0123456789abcdefABCDEF"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push((
        "MFA_STATE_FILE".into(),
        dir.path().join("state.json").to_str().unwrap().into(),
    ));
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

#[tokio::test]
async fn an_http_github_api_url_off_this_machine_is_refused_with_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["run"][..], &["check"]] {
        let ran = common::run_binary(
            command,
            &github_env(
                &dir,
                &[("GITHUB_API_URL", "http://github.example.com/api/v3")],
            ),
        )
        .await;
        assert_eq!(ran.code, 2, "{command:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("GITHUB_API_URL") && ran.stderr.contains("https"),
            "{}",
            ran.stderr
        );
    }
    assert!(
        !dir.path().join("state.json").exists(),
        "nothing ran, nothing was written"
    );
}

#[tokio::test]
async fn a_github_token_with_whitespace_inside_is_refused_with_exit_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run_binary(
        &["run"],
        &github_env(
            &dir,
            &[("GITHUB_TOKEN", "ghp_s3cretHalf ghp_s3cretOtherHalf")],
        ),
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("GITHUB_TOKEN") && ran.stderr.contains("whitespace"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("s3cret") && !ran.stdout.contains("s3cret"));
}

#[tokio::test]
async fn a_slack_webhook_url_that_is_not_slacks_is_refused_with_exit_2_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "https://hooks.slack.com.example.net/services/T0/B0/s3cret",
        "http://hooks.slack.com/services/T0/B0/s3cret",
    ] {
        let ran =
            common::run_binary(&["run"], &github_env(&dir, &[("SLACK_WEBHOOK_URL", url)])).await;
        assert_eq!(ran.code, 2, "{url}: {}", ran.stderr);
        assert!(ran.stderr.contains("SLACK_WEBHOOK_URL"), "{}", ran.stderr);
        assert!(
            !ran.stderr.contains("s3cret") && !ran.stdout.contains("s3cret"),
            "{}",
            ran.stderr
        );
    }
}

#[tokio::test]
async fn a_token_pasted_with_a_trailing_newline_still_authenticates() {
    let server = MockServer::start().await;
    common::github_fake::serve(&server, "acme", &common::github_fake::standard_org()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = format!("  {}\r\n", common::github_fake::TOKEN);
    let uri = server.uri();
    let ran = common::run_binary(
        &["check"],
        &github_env(&dir, &[("GITHUB_TOKEN", &token), ("GITHUB_API_URL", &uri)]),
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
}
