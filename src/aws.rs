//! Shared AWS SDK set-up: one place for timeouts, retries and error text.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the standard SDK configuration (honours `AWS_ENDPOINT_URL`,
/// `AWS_REGION` and the usual credential chain) with bounded attempts and
/// timeouts on every call.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// The cause chain of an error on one line, each cause's `Display` only.
/// SDK errors print just "service error" at the top; the code and message
/// sit in the sources. (`DisplayErrorContext` would add a `Debug` dump of
/// the raw HTTP response: long, and no place for response bodies.)
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    parts.join(": ")
}

/// [`error_text`] of an SDK error, with the HTTP status of the answer when
/// there was one: an answer that is not the service's (a proxy's 501, a
/// load balancer's 502) carries no error code, only "unhandled error".
pub fn sdk_error_text<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String
where
    E: std::error::Error + 'static,
{
    let text = error_text(err);
    match err.raw_response() {
        Some(r) => format!("{text} (HTTP {})", r.status().as_u16()),
        None => text,
    }
}

/// An S3 client for `sdk`. A local endpoint (moto, `AWS_ENDPOINT_URL`) has
/// no per-bucket host names: buckets are addressed by path there.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut conf = aws_sdk_s3::config::Builder::from(sdk);
    if sdk.endpoint_url().is_some() {
        conf = conf.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("service error")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("AccessDenied: not allowed")]
    struct Inner;

    #[test]
    fn the_cause_chain_is_joined_without_debug_dumps() {
        assert_eq!(
            error_text(&Outer(Inner)),
            "service error: AccessDenied: not allowed"
        );
    }
}
