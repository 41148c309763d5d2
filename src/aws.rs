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

/// The whole cause chain of an SDK error on one line. SDK errors print only
/// "service error" with `Display`; this names the code and message.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(err).to_string()
}
