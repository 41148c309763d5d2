//! Secrets given as `X_SECRET_ID` are read from Secrets Manager (moto) and
//! never appear in errors or debug output.
mod common;

use mfa_monitor::config::{secret_var, SecretSource, SecretVar};
use mfa_monitor::secrets;
use secrecy::ExposeSecret;

#[tokio::test]
async fn a_secret_id_is_resolved_from_secrets_manager() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let name = common::unique("webhook");
    sm.create_secret()
        .name(&name)
        .secret_string("https://hooks.example.invalid/T000/B000/s3cr3t-value")
        .send()
        .await
        .unwrap();
    let var = secret_var("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_SECRET_ID", |k| {
        (k == "SLACK_WEBHOOK_URL_SECRET_ID").then(|| name.clone())
    })
    .unwrap()
    .unwrap();
    assert!(!format!("{var:?}").contains("s3cr3t"));
    let value = secrets::resolve(&var, &sm).await.unwrap();
    assert_eq!(
        value.expose_secret(),
        "https://hooks.example.invalid/T000/B000/s3cr3t-value"
    );
}

#[tokio::test]
async fn a_missing_secret_names_the_variable_and_the_id_but_no_value() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let var = SecretVar {
        variable: "GITHUB_TOKEN",
        id_variable: "GITHUB_TOKEN_SECRET_ID",
        source: SecretSource::SecretsManager("does-not-exist".into()),
    };
    let err = secrets::resolve(&var, &sm).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.variable(), "GITHUB_TOKEN_SECRET_ID");
    assert!(text.starts_with("could not read secret"), "{text}");
    assert!(text.contains("does-not-exist"), "{text}");
    assert!(text.contains("ResourceNotFound"), "{text}");
    assert!(!err.is_transient(), "a missing secret stays missing");
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_a_transient_failure() {
    // No moto needed: nothing listens on port 9.
    let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let var = SecretVar {
        variable: "GITHUB_TOKEN",
        id_variable: "GITHUB_TOKEN_SECRET_ID",
        source: SecretSource::SecretsManager("gh".into()),
    };
    let err = secrets::resolve(&var, &sm).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.variable(), "GITHUB_TOKEN_SECRET_ID");
}

#[tokio::test]
async fn a_secret_stored_with_a_trailing_newline_is_read_without_it_and_a_blank_one_is_refused() {
    if common::skip_without_moto() {
        return;
    }
    let cfg = common::account_config(&common::unique_account()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let pasted = common::unique("token");
    sm.create_secret()
        .name(&pasted)
        .secret_string("  ghp_s3cr3tValue\r\n")
        .send()
        .await
        .unwrap();
    let blank = common::unique("blank");
    sm.create_secret()
        .name(&blank)
        .secret_string(" \n")
        .send()
        .await
        .unwrap();
    let var = |id: &str| SecretVar {
        variable: "GITHUB_TOKEN",
        id_variable: "GITHUB_TOKEN_SECRET_ID",
        source: SecretSource::SecretsManager(id.to_owned()),
    };
    let value = secrets::resolve(&var(&pasted), &sm).await.unwrap();
    assert_eq!(value.expose_secret(), "ghp_s3cr3tValue");
    let err = secrets::resolve(&var(&blank), &sm).await.unwrap_err();
    assert_eq!(err.variable(), "GITHUB_TOKEN_SECRET_ID");
    assert!(err.to_string().contains("empty"), "{err}");
}
