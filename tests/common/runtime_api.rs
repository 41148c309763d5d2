//! A local Lambda Runtime API (wiremock) that hands the built binary its
//! invocations and receives its answers, as the Lambda service does.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// Serves `invocations` one after the other, each to end within `left`,
/// then holds further polls open.
pub async fn runtime_api_serving(invocations: &[(Value, &str)], left: Duration) -> MockServer {
    let server = MockServer::start().await;
    let deadline = chrono::Utc::now().timestamp_millis() + left.as_millis() as i64;
    for (n, (event, request_id)) in invocations.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path(NEXT))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(event)
                    .insert_header("Lambda-Runtime-Aws-Request-Id", *request_id)
                    .insert_header("Lambda-Runtime-Deadline-Ms", deadline.to_string().as_str())
                    .insert_header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:mfa-monitor",
                    )
                    .insert_header(
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
                    ),
            )
            .up_to_n_times(1)
            .with_priority(1 + n as u8)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .with_priority(1 + invocations.len() as u8)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

/// [`invoke`] for several invocations served by one process (one sandbox):
/// the answers in the order of `request_ids`.
pub async fn invoke_all(
    server: &MockServer,
    request_ids: &[&str],
    env: Vec<(String, String)>,
) -> (Vec<(String, Value)>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-monitor"));
    cmd.env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", server.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "mfa-monitor")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/mfa-monitor")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("binary starts");
    let answered: Vec<Request> = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let reqs = server.received_requests().await.unwrap_or_default();
            let found: Vec<Request> = request_ids
                .iter()
                .filter_map(|id| {
                    let prefix = format!("/2018-06-01/runtime/invocation/{id}/");
                    reqs.iter()
                        .find(|r| r.url.path().starts_with(&prefix))
                        .cloned()
                })
                .collect();
            if found.len() == request_ids.len() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the function answered every invocation within 120 s");
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let answers = answered
        .into_iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
            (r.url.path().to_owned(), body)
        })
        .collect();
    (answers, printed)
}
