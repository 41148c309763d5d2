//! Slack through an incoming webhook, sending what `slack_blocks.rs`
//! renders. The webhook URL is a secret: never printed.
//!
//! A webhook post has no idempotency key: Slack posts every request it
//! takes. So a post is repeated only when Slack cannot have taken it: the
//! connection was never made, or Slack answered 429 with `Retry-After`
//! (its documented answer to posts over the rate limit of about one a
//! second, a refusal). After a timeout, a dropped connection or a 5xx the
//! post fails at once, its alerts stay pending, and the next pass posts
//! them (README, Guarantees: the one duplicate window).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::digest::Digest;
use super::slack_blocks::{payload, report_payload};
use super::{Notifier, NotifyError};
use crate::domain::report::Report;
use crate::http::{HttpClient, Retry};

pub struct SlackNotifier {
    http: HttpClient,
    url: SecretString,
}

impl SlackNotifier {
    pub fn new(http: HttpClient, url: SecretString) -> Self {
        Self { http, url }
    }

    fn error(message: String) -> NotifyError {
        NotifyError {
            channel: "slack",
            message,
            source: None,
        }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn channel(&self) -> &str {
        "slack"
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.post(&payload(digest)).await
    }

    async fn send_report(&self, report: &Report) -> Result<(), NotifyError> {
        self.post(&report_payload(report)).await
    }

    async fn check(&self) -> Result<String, NotifyError> {
        // A webhook cannot be probed without posting to the channel.
        Ok("webhook configured (not called: a test post would notify the channel)".into())
    }
}

impl SlackNotifier {
    async fn post(&self, body: &Value) -> Result<(), NotifyError> {
        let url = self.url.expose_secret();
        let resp = self
            .http
            .send_with(Retry::UnlessSent, |c, _| c.post(url).json(body))
            .await
            .map_err(|e| Self::error(format!("posting to SLACK_WEBHOOK_URL failed: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        // Slack answers errors with a short plain-text code.
        let code: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(100)
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let hint = match code.as_str() {
            "no_service"
            | "channel_not_found"
            | "channel_is_archived"
            | "no_team"
            | "team_disabled" => {
                "; the webhook no longer exists: create a new one and update SLACK_WEBHOOK_URL"
            }
            "invalid_token" | "action_prohibited" => {
                "; the webhook was revoked: update SLACK_WEBHOOK_URL"
            }
            "invalid_payload" | "too_many_attachments" => {
                "; Slack rejected the message format (a bug: please report it)"
            }
            _ => "",
        };
        Err(Self::error(format!(
            "SLACK_WEBHOOK_URL answered HTTP {status} `{code}`{hint}"
        )))
    }
}
