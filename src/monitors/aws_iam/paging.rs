//! What every IAM read shares: the error of a failed call, paging to the
//! last page, and the throttling-aware retry of the per-user reads.

use std::future::Future;
use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use tracing::debug;

use super::limiter::Aimd;
use crate::error::BoxError;
use crate::monitors::MonitorError;

/// Bound on pages of one listing: a marker that never ends is a failure,
/// not an endless pass.
pub const MAX_PAGES: usize = 10_000;

pub fn call<E>(operation: &'static str, err: E) -> MonitorError
where
    E: std::error::Error + Send + Sync + 'static,
{
    MonitorError::Call {
        operation,
        message: crate::aws::error_text(&err),
        source: Some(Box::new(err) as BoxError),
    }
}

/// Follows `IsTruncated`/`Marker` to the last page. A page that says more
/// follow but gives no marker, or a listing that never ends, is an error:
/// a partial listing must never read as fewer users.
pub async fn all_pages<T, F, Fut>(
    operation: &'static str,
    mut fetch: F,
) -> Result<Vec<T>, MonitorError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, bool, Option<String>), MonitorError>>,
{
    let mut items = Vec::new();
    let mut marker = None;
    for page in 1..=MAX_PAGES {
        let (mut batch, truncated, next) = fetch(marker.take()).await?;
        items.append(&mut batch);
        match (truncated, next) {
            (false, _) => return Ok(items),
            (true, Some(m)) if !m.is_empty() => marker = Some(m),
            (true, _) => {
                return Err(MonitorError::Incomplete(format!(
                    "{operation}: page {page} says more follow but gives no marker"
                )))
            }
        }
    }
    Err(MonitorError::Incomplete(format!(
        "{operation}: more than {MAX_PAGES} pages"
    )))
}

/// The error codes IAM and STS answer when they throttle.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// What a failed attempt means for the next one.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Throttled,
    /// A timeout, a dropped connection or a 5xx: worth another try.
    Transient,
    /// A denial, a missing entity, a bad request: the same answer again.
    Final,
}

pub fn classify<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Attempt {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Attempt::Transient,
        SdkError::ResponseError(_) => Attempt::Transient,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                Attempt::Throttled
            } else if matches!(
                code,
                "ServiceFailure" | "ServiceUnavailable" | "InternalFailure"
            ) {
                Attempt::Transient
            } else {
                Attempt::Final
            }
        }
        _ => Attempt::Final,
    }
}

/// Attempts per per-user read (the SDK's own retries are off for these
/// calls, so that the limiter sees every throttled attempt).
pub const PER_USER_ATTEMPTS: u32 = 8;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Runs one per-user call under the limiter: a throttled attempt halves
/// the concurrency and is retried after a jittered exponential wait, a
/// transient one is retried the same way, and an answer grows the limit.
/// `ok` decides whether an error is an answer (e.g. `NoSuchEntity` for
/// a user without a login profile).
pub async fn limited<T, E, R, F, Fut>(
    limiter: &Aimd,
    operation: &'static str,
    mut send: F,
) -> Result<Result<T, SdkError<E, R>>, MonitorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = {
            let _slot = limiter.acquire().await;
            send().await
        };
        let err = match result {
            Ok(v) => {
                limiter.on_success();
                return Ok(Ok(v));
            }
            Err(e) => e,
        };
        let kind = classify(&err);
        match kind {
            Attempt::Final => {
                limiter.on_success();
                return Ok(Err(err));
            }
            Attempt::Throttled => limiter.on_throttle(),
            Attempt::Transient => {}
        }
        if attempt >= PER_USER_ATTEMPTS {
            return Err(call(operation, err));
        }
        let ceiling = BACKOFF_BASE
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(BACKOFF_CAP);
        let wait = ceiling.mul_f64(0.5 + fastrand::f64() / 2.0);
        debug!(
            operation,
            attempt,
            ?kind,
            wait_ms = wait.as_millis() as u64,
            limit = limiter.limit(),
            "per-user read retried"
        );
        tokio::time::sleep(wait).await;
    }
}
