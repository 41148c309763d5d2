//! Channels, one file each, behind one trait; `render` builds what they send.

pub mod render;
pub mod ses;
pub mod slack;
pub mod stdout;

use async_trait::async_trait;

/// One rendered email for one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{channel} channel: {message}")]
pub struct NotifyError {
    pub channel: &'static str,
    pub message: String,
    #[source]
    pub source: Option<crate::monitors::BoxError>,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Channel name as stored with pending alerts: `email`, `slack`, `stdout`.
    fn channel(&self) -> &'static str;

    async fn send(&self, digest: &render::Digest) -> Result<(), NotifyError>;

    /// Sends the status report (email: the full table; Slack: a summary).
    async fn send_report(&self, report: &crate::report::Report) -> Result<(), NotifyError>;

    /// Reachability and configuration, for `mfa-monitor check`.
    async fn check(&self) -> Result<String, NotifyError>;
}
