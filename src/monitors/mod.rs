//! Sources of MFA status, one file per source behind one trait.

pub mod aws_iam;
pub mod aws_org;
pub mod github;
pub mod snowflake;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Source, TargetKey, TargetSnapshot};
use crate::error::{BoxError, CheckItem};

/// How many of the principals whose address was refused one warning names.
const REFUSED_SAMPLE: usize = 10;

/// The holders' addresses a source gives (Snowflake's `EMAIL`, an IAM
/// user tag), checked at the boundary. One that is not an e-mail address
/// is dropped and its principal read as usual: a mistyped address must not
/// fail the target. The refusals are told once per target, naming the
/// principals and never the addresses.
#[derive(Debug, Default)]
pub(crate) struct SourceEmails {
    refused: Vec<String>,
}

impl SourceEmails {
    /// The address for `principal`, if `raw` holds one; empty is none.
    pub fn check(&mut self, principal: &str, raw: Option<&str>) -> Option<String> {
        let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
        let checked = crate::config::values::EmailAddress::checked(raw);
        if checked.is_none() {
            self.refused.push(principal.to_owned());
        }
        checked.map(crate::config::values::EmailAddress::into_string)
    }

    /// One warning for the target if any address was refused; `field` says
    /// where the addresses were read.
    pub fn warn_refused(&self, target: &TargetKey, field: &str) {
        if self.refused.is_empty() {
            return;
        }
        let sample: Vec<&str> = self
            .refused
            .iter()
            .take(REFUSED_SAMPLE)
            .map(String::as_str)
            .collect();
        tracing::warn!(
            target = %target,
            field,
            refused = self.refused.len(),
            principals = ?sample,
            "values that are not e-mail addresses were ignored; these principals are linked to a person only through the people file"
        );
    }
}

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

/// What one discovery scope (an AWS organization, a GitHub enterprise)
/// found: the targets it holds now, or why they could not be listed. A
/// listing that is not whole is an error, never fewer targets: the pass
/// retires a target that is no longer found.
#[derive(Debug)]
pub struct Discovery {
    /// The scope's own key (e.g. `aws:o-a1b2c3d4e5`), under which its
    /// health and its members are kept.
    pub scope: TargetKey,
    pub found: Result<Vec<TargetKey>, MonitorError>,
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

    /// Targets the monitor finds by itself, one `Discovery` per scope, on
    /// top of the configured ones (ARCHITECTURE.md §3, discovery).
    async fn discover(&self) -> Vec<Discovery> {
        Vec::new()
    }

    /// The label `collect` reads a discovered target by.
    fn label_for(&self, key: &TargetKey) -> String {
        key.target.clone()
    }

    /// A complete snapshot of one target, or an error. Never a partial one.
    async fn collect(&self, target: &str) -> Result<TargetSnapshot, MonitorError>;

    /// Reachability and permissions of one target, for `mfa-monitor check`.
    async fn check(&self, target: &str) -> CheckItem;
}
