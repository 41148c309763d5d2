//! The weekly report's page in S3 (`MFA_REPORT_BUCKET`): the HTML report
//! put under `reports/`, and a pre-signed GET link to it for the e-mail and
//! the Slack summary.
//!
//! A pre-signed link is asked for 7 days, S3's most for Signature V4; but
//! a link signed with temporary credentials (the Lambda role's) stops
//! working when those credentials expire, within hours
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html).
//! So the messages also name the object, which whoever may read the bucket
//! opens from the console for as long as the lifecycle rule keeps it.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use crate::domain::report::ReportLink;

/// The longest a Signature V4 pre-signed URL may be asked for.
pub const LINK_DAYS: u64 = 7;

#[derive(Debug, thiserror::Error)]
#[error("could not store the HTML report in s3://{bucket}/{key}: {message}")]
pub struct ReportBucketError {
    pub bucket: String,
    pub key: String,
    pub message: String,
}

pub struct ReportBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ReportBucket {
    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str) -> Self {
        Self {
            client: crate::aws::s3_client(sdk),
            bucket: bucket.to_owned(),
        }
    }

    /// Puts `html` as `reports/YYYY-MM-DDTHHMMZ.html` and signs a link.
    pub async fn store(
        &self,
        html: String,
        now: DateTime<Utc>,
    ) -> Result<ReportLink, ReportBucketError> {
        let key = format!("reports/{}.html", now.format("%Y-%m-%dT%H%MZ"));
        let err = |message: String| ReportBucketError {
            bucket: self.bucket.clone(),
            key: key.clone(),
            message,
        };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/html; charset=utf-8")
            // The page is private data: never cached by a browser or proxy
            // beyond the link's life.
            .cache_control("private, no-store")
            .body(ByteStream::from(html.into_bytes()))
            .send()
            .await
            .map_err(|e| err(crate::aws::error_text(&e)))?;
        let expires_in = Duration::from_secs(LINK_DAYS * 24 * 3600);
        let presigning = PresigningConfig::builder()
            .start_time(now.into())
            .expires_in(expires_in)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let signed = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| err(crate::aws::error_text(&e)))?;
        Ok(ReportLink {
            object: format!("s3://{}/{key}", self.bucket),
            url: signed.uri().to_owned(),
            expires_at: now + chrono::Duration::days(LINK_DAYS as i64),
        })
    }
}
