//! Resolves secrets given as `X_SECRET_ID` from AWS Secrets Manager, once at
//! start, without the whitespace and newlines around the value. Errors name
//! the variable and the secret id, never the value.

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use secrecy::SecretString;

use crate::config::{trimmed, SecretSource, SecretVar};

type ReadError = SdkError<GetSecretValueError, HttpResponse>;

/// Error codes that say "not now" rather than "no": the AWS SDKs'
/// throttling codes, and Secrets Manager's own internal failure.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// `Debug` is the `Display` text (below): the SDK error's own `Debug` dumps
/// the raw HTTP response, which has no place in logs (lambda_runtime logs a
/// handler error's `Debug`).
#[derive(thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret `{secret_id}`: {message}")]
    Read {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
        message: String,
        /// Throttling, a network failure or timeout, or a 5xx: reading
        /// again later may work. A missing secret, a denied access or a
        /// bad id is not.
        transient: bool,
        #[source]
        source: Box<ReadError>,
    },
    #[error("secret `{secret_id}` has no string value")]
    NotAString {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
    },
    #[error("secret `{secret_id}` is empty (or only whitespace)")]
    Empty {
        variable: &'static str,
        id_variable: &'static str,
        secret_id: String,
    },
}

impl std::fmt::Debug for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretError({:?})", self.to_string())
    }
}

impl SecretError {
    /// Whether the failure may pass by itself: see [`SecretError::Read`].
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SecretError::Read {
                transient: true,
                ..
            }
        )
    }

    /// The variable at fault: the `_SECRET_ID` one.
    pub fn variable(&self) -> &'static str {
        match self {
            SecretError::Read { id_variable, .. }
            | SecretError::NotAString { id_variable, .. }
            | SecretError::Empty { id_variable, .. } => id_variable,
        }
    }
}

pub async fn resolve(
    var: &SecretVar,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<SecretString, SecretError> {
    let secret_id = match &var.source {
        SecretSource::Value(v) => return Ok(v.clone()),
        SecretSource::SecretsManager(id) => id,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            variable: var.variable,
            id_variable: var.id_variable,
            secret_id: secret_id.clone(),
            // The SDK error carries the service code and message, not the
            // secret value, which only arrives on success.
            message: crate::aws::error_text(&e),
            transient: is_transient(&e),
            source: Box::new(e),
        })?;
    match out.secret_string {
        Some(s) => {
            let s = trimmed(s);
            if s.is_empty() {
                return Err(SecretError::Empty {
                    variable: var.variable,
                    id_variable: var.id_variable,
                    secret_id: secret_id.clone(),
                });
            }
            Ok(SecretString::from(s))
        }
        None => Err(SecretError::NotAString {
            variable: var.variable,
            id_variable: var.id_variable,
            secret_id: secret_id.clone(),
        }),
    }
}

/// Whether a failed read may succeed if tried again later (the SDK has
/// already retried it): no answer at all (timeout, network), an answer that
/// could not be read, or a throttling, internal or 5xx error. What the
/// service refused for a reason (no such secret, access denied, a bad id,
/// a key it cannot decrypt with) stays refused.
fn is_transient(err: &ReadError) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status();
            e.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.as_u16() == 429
                || status.is_server_error()
        }
        // The request could not even be made: it will not be made later.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;

    fn service_error(status: u16, err: GetSecretValueError) -> ReadError {
        SdkError::service_error(
            err,
            HttpResponse::new(status.try_into().unwrap(), "".into()),
        )
    }

    fn coded(code: &str) -> GetSecretValueError {
        GetSecretValueError::generic(ErrorMetadata::builder().code(code).message("m").build())
    }

    #[test]
    fn throttling_timeouts_network_failures_and_5xx_are_transient() {
        assert!(is_transient(&service_error(
            400,
            coded("ThrottlingException")
        )));
        assert!(is_transient(&service_error(
            400,
            coded("TooManyRequestsException")
        )));
        assert!(is_transient(&service_error(
            500,
            coded("InternalServiceError")
        )));
        assert!(is_transient(&service_error(503, coded("Whatever"))));
        assert!(is_transient(&service_error(429, coded("Whatever"))));
        assert!(is_transient(&SdkError::timeout_error("slow")));
    }

    #[test]
    fn a_missing_secret_a_denied_read_or_a_bad_id_is_not_transient() {
        let missing = GetSecretValueError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Secrets Manager can't find the specified secret.")
                .build(),
        );
        assert!(!is_transient(&service_error(400, missing)));
        for code in [
            "AccessDeniedException",
            "InvalidParameterException",
            "InvalidRequestException",
            "DecryptionFailure",
            "UnrecognizedClientException",
        ] {
            assert!(!is_transient(&service_error(400, coded(code))), "{code}");
        }
        assert!(!is_transient(&SdkError::construction_failure("no region")));
    }
}
