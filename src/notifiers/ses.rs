//! Email through Amazon SES (v1 `SendEmail`): one message per pass with an
//! HTML table and a plain-text part.

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message as SesMessage};

use super::digest::Digest;
use super::email::{email, report_email};
use super::{Message, Notifier, NotifyError};
use crate::config::EmailConfig;

/// SES accepts at most 50 recipients per message.
const MAX_RECIPIENTS: usize = 50;

pub struct SesNotifier {
    client: aws_sdk_ses::Client,
    config: EmailConfig,
}

impl SesNotifier {
    pub fn new(client: aws_sdk_ses::Client, config: EmailConfig) -> Self {
        Self { client, config }
    }

    fn error(message: String, source: Option<crate::error::BoxError>) -> NotifyError {
        NotifyError {
            channel: "email",
            message,
            source,
        }
    }
}

fn content(text: &str) -> Content {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .expect("data is set")
}

#[async_trait]
impl Notifier for SesNotifier {
    fn channel(&self) -> &str {
        "email"
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.send_message(&email(digest)).await
    }

    async fn send_report(&self, report: &crate::domain::report::Report) -> Result<(), NotifyError> {
        self.send_message(&report_email(report)).await
    }

    async fn check(&self) -> Result<String, NotifyError> {
        self.verify_sender().await
    }
}

impl SesNotifier {
    /// Sends one rendered email to every recipient, 50 per call.
    pub async fn send_message(&self, message: &Message) -> Result<(), NotifyError> {
        let body = Body::builder()
            .text(content(&message.text))
            .html(content(&message.html))
            .build();
        let ses_message = SesMessage::builder()
            .subject(content(&message.subject))
            .body(body)
            .build();
        for recipients in self.config.to.chunks(MAX_RECIPIENTS) {
            let destination = Destination::builder()
                .set_to_addresses(Some(recipients.iter().map(|a| a.to_string()).collect()))
                .build();
            self.client
                .send_email()
                .source(self.config.from.as_str())
                .destination(destination)
                .message(ses_message.clone())
                .send()
                .await
                .map_err(|e| {
                    let text = crate::aws::error_text(&e);
                    let hint = if text.contains("not verified") {
                        "; verify the ALERT_EMAIL_FROM address (and, in the SES sandbox, ALERT_EMAIL_TO) in SES"
                    } else {
                        ""
                    };
                    Self::error(format!("SendEmail failed: {text}{hint}"), Some(Box::new(e)))
                })?;
        }
        Ok(())
    }

    async fn verify_sender(&self) -> Result<String, NotifyError> {
        let out = self
            .client
            .get_identity_verification_attributes()
            .identities(self.config.from.as_str())
            .send()
            .await
            .map_err(|e| {
                Self::error(
                    format!(
                        "GetIdentityVerificationAttributes failed: {}",
                        crate::aws::error_text(&e)
                    ),
                    Some(Box::new(e)),
                )
            })?;
        let status = out
            .verification_attributes
            .get(self.config.from.as_str())
            .map(|a| a.verification_status.as_str().to_owned());
        match status.as_deref() {
            Some("Success") => Ok(format!(
                "sender {} verified; {} recipient(s)",
                self.config.from,
                self.config.to.len()
            )),
            other => Err(Self::error(
                format!(
                    "ALERT_EMAIL_FROM {} is not verified in SES (status: {})",
                    self.config.from,
                    other.unwrap_or("none")
                ),
                None,
            )),
        }
    }
}

/// The holder's own e-mail (`MFA_NOTIFY_PEOPLE`): one plain-text message
/// to one address, from `ALERT_EMAIL_FROM`. Apart from [`SesNotifier`],
/// whose recipients are the team's fixed list.
pub struct PersonEmailer {
    client: aws_sdk_ses::Client,
    from: crate::config::values::EmailAddress,
}

impl PersonEmailer {
    pub fn new(client: aws_sdk_ses::Client, from: crate::config::values::EmailAddress) -> Self {
        Self { client, from }
    }

    /// Sends `message` to `to`. The error names neither address: it is
    /// logged beside the principal id, which is enough to find the person.
    pub async fn send(
        &self,
        to: &str,
        message: &super::person::PersonMessage,
    ) -> Result<(), NotifyError> {
        let destination = Destination::builder().to_addresses(to).build();
        let ses_message = SesMessage::builder()
            .subject(content(&message.subject))
            .body(Body::builder().text(content(&message.text)).build())
            .build();
        self.client
            .send_email()
            .source(self.from.as_str())
            .destination(destination)
            .message(ses_message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                // Only SES's error code: its message may quote the
                // recipient ("identities failed the check: …"), and this
                // text reaches the run summary, logged at info.
                let code = e
                    .as_service_error()
                    .and_then(|s| aws_sdk_ses::error::ProvideErrorMetadata::code(s))
                    .unwrap_or("no answer from SES")
                    .to_owned();
                SesNotifier::error(
                    format!("SendEmail to the account holder failed: {code}"),
                    Some(Box::new(e)),
                )
            })
    }
}
