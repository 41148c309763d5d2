//! Sources of MFA status, one file per source behind one trait.

pub mod aws_iam;
pub mod github;
pub mod snowflake;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::{BoxError, CheckItem};

/// Why a target could not be read completely. Any of these makes the target
/// `source_failed` and leaves its stored state untouched.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A call failed; `message` is the full cause chain, free of secrets.
    #[error("{operation} failed: {message}")]
    Call {
        operation: &'static str,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A listing that did not arrive whole (a page missing, a truncated
    /// result): never read as "fewer principals".
    #[error("incomplete listing: {0}")]
    Incomplete(String),
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Cut short so the pass could still commit before its deadline.
    #[error("not finished in the {0:?} left before the pass deadline")]
    Deadline(Duration),
}

#[async_trait]
pub trait Monitor: Send + Sync {
    fn source(&self) -> Source;

    /// The configured targets, as labels the operator wrote (an org, `self`,
    /// a role ARN). Each is collected on its own with its own timeout.
    fn targets(&self) -> Vec<String>;

    /// The key a target is reported under when it fails before the source
    /// could say its real id (e.g. the account id behind `self`).
    fn provisional_key(&self, target: &str) -> TargetKey {
        TargetKey::new(self.source(), target)
    }

    /// A complete snapshot of one target, or an error. Never a partial one.
    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError>;

    /// Reachability and permissions of one target, for `mfa-monitor check`.
    async fn check(&self, target: &str) -> CheckItem;
}
