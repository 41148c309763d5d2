//! A team channel of the routing file: a Slack or SES channel under the
//! name the file gives it, which is the name its pending alerts are kept
//! under (ARCHITECTURE.md §3, routing).

use async_trait::async_trait;

use super::digest::Digest;
use super::{Notifier, NotifyError};
use crate::domain::report::Report;

pub struct NamedChannel {
    name: String,
    inner: Box<dyn Notifier>,
}

impl NamedChannel {
    pub fn new(name: impl Into<String>, inner: Box<dyn Notifier>) -> Self {
        Self {
            name: name.into(),
            inner,
        }
    }

    /// What it is underneath: `email` or `slack`.
    pub fn kind(&self) -> &str {
        self.inner.channel()
    }
}

#[async_trait]
impl Notifier for NamedChannel {
    fn channel(&self) -> &str {
        &self.name
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.inner.send(digest).await
    }

    async fn send_report(&self, report: &Report) -> Result<(), NotifyError> {
        self.inner.send_report(report).await
    }

    async fn check(&self) -> Result<String, NotifyError> {
        let detail = self.inner.check().await?;
        Ok(format!(
            "{} channel of the routing file: {detail}",
            self.kind()
        ))
    }
}
