//! Security Hub's `BatchImportFindings` (POST /findings/import), signed
//! with SigV4 by the SDK's signer over the SDK's credential chain; batches
//! of 100, bounded retries (an import of the same `Id` is an update, so a
//! repeat is harmless), and the per-finding result kept: only accepted
//! findings are recorded as synced (`run/securityhub.rs`).

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::securityhub::Hub;
use crate::http::{HttpClient, HttpError, Retry, RetryPolicy};

#[derive(Debug, thiserror::Error)]
pub enum SecurityHubError {
    #[error("security hub: no AWS credentials: {0}")]
    Credentials(String),
    #[error("security hub: could not sign the request: {0}")]
    Sign(String),
    #[error("security hub BatchImportFindings: {0}")]
    Http(#[from] HttpError),
    #[error("security hub BatchImportFindings: HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("security hub BatchImportFindings: unreadable answer: {0}")]
    Malformed(String),
}

/// One rejected finding of an import.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rejected {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ErrorCode", default)]
    pub code: String,
    #[serde(rename = "ErrorMessage", default)]
    pub message: String,
}

#[derive(Deserialize)]
struct ImportOut {
    #[serde(rename = "FailedFindings", default)]
    failed: Vec<Rejected>,
}

pub struct SecurityHub {
    sdk: aws_config::SdkConfig,
    http: HttpClient,
    endpoint: String,
    region: String,
    /// The account and partition, asked of STS on the first sync.
    hub: tokio::sync::OnceCell<Hub>,
}

impl SecurityHub {
    /// Findings go to the account and Region the function runs in; the
    /// endpoint is `AWS_ENDPOINT_URL_SECURITYHUB`, else `AWS_ENDPOINT_URL`,
    /// else the Region's.
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let endpoint = std::env::var("AWS_ENDPOINT_URL_SECURITYHUB")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://securityhub.{region}.amazonaws.com"));
        Self {
            sdk,
            http: HttpClient::new(RetryPolicy::default()),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region,
            hub: tokio::sync::OnceCell::new(),
        }
    }

    /// The account, partition and Region findings are imported into (the
    /// product ARN's), from STS GetCallerIdentity once.
    pub async fn hub(&self) -> Result<&Hub, SecurityHubError> {
        self.hub
            .get_or_try_init(|| async {
                let me = aws_sdk_sts::Client::new(&self.sdk)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| SecurityHubError::Credentials(crate::aws::error_text(&e)))?;
                let account = me.account().unwrap_or_default().to_owned();
                // `arn:PARTITION:sts::ACCOUNT:...`
                let partition = me
                    .arn()
                    .and_then(|a| a.split(':').nth(1))
                    .unwrap_or("aws")
                    .to_owned();
                Ok(Hub {
                    partition,
                    region: self.region.clone(),
                    account,
                })
            })
            .await
    }

    async fn identity(&self) -> Result<Identity, SecurityHubError> {
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| SecurityHubError::Credentials("no credential provider".into()))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| SecurityHubError::Credentials(crate::aws::error_text(&e)))?;
        Ok(creds.into())
    }

    /// Imports up to 100 findings; returns the ones Security Hub rejected
    /// (the rest were accepted).
    pub async fn import(&self, findings: &[Value]) -> Result<Vec<Rejected>, SecurityHubError> {
        let identity = self.identity().await?;
        let url = format!("{}/findings/import", self.endpoint);
        let body = serde_json::to_vec(&json!({ "Findings": findings })).expect("JSON serializes");
        let signed = |time| sign_json_post(&identity, &self.region, &url, &body, time);
        // Signed afresh for each attempt: a signature is valid for minutes.
        let first = signed(SystemTime::now())?;
        let response = self
            .http
            .send_with(Retry::Idempotent, |client, attempt| {
                let headers = if attempt == 1 {
                    first.clone()
                } else {
                    signed(SystemTime::now()).unwrap_or_else(|_| first.clone())
                };
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (name, value) in headers {
                    req = req.header(name, value);
                }
                req
            })
            .await?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SecurityHubError::Malformed(e.without_url().to_string()))?;
        if !status.is_success() {
            // AWS error bodies are `{"Message": ..., "Code"|"__type": ...}`.
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = v["Message"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .unwrap_or("no message")
                .to_owned();
            return Err(SecurityHubError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        let out: ImportOut =
            serde_json::from_str(&text).map_err(|e| SecurityHubError::Malformed(e.to_string()))?;
        Ok(out.failed)
    }
}

/// The SigV4 headers of a JSON POST to Security Hub at `time` (tests sign
/// their GetFindings reads of moto with it too).
pub fn sign_json_post(
    identity: &Identity,
    region: &str,
    url: &str,
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, SecurityHubError> {
    let err = |e: &dyn std::fmt::Display| SecurityHubError::Sign(e.to_string());
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("securityhub")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| err(&e))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| err(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| err(&e))?.into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}
