//! Channels, one file each (`ses.rs`, `slack.rs`, `stdout.rs`), behind one
//! trait; the renderers beside them (`digest.rs` the message model,
//! `email.rs`, `slack_blocks.rs`, `table.rs`, `csv.rs`, `html.rs`, `ocsf.rs`, `escape.rs`) turn a digest or
//! a report into what a channel sends. The account holder's own word
//! (`person.rs`, by `ses.rs`'s `PersonEmailer` and `slack_dm.rs`, together
//! `teller.rs`) is no `Notifier`: it goes to one address, not a channel. Nothing in `domain/` depends on
//! this module.

pub mod asff;
pub mod csv;
pub mod digest;
pub mod email;
pub mod escape;
pub mod html;
pub mod named;
pub mod ocsf;
pub mod people_table;
pub mod person;
pub mod ses;
pub mod slack;
pub mod slack_blocks;
pub mod slack_dm;
pub mod stdout;
pub mod table;
pub mod teller;
pub mod trend_chart;

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
    pub source: Option<crate::error::BoxError>,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Channel name as stored with pending alerts: `email`, `slack`, `stdout`,
    /// or a team channel's name from the routing file (`named.rs`).
    fn channel(&self) -> &str;

    async fn send(&self, digest: &digest::Digest) -> Result<(), NotifyError>;

    /// Sends the status report (email: the full table; Slack: a summary).
    async fn send_report(&self, report: &crate::domain::report::Report) -> Result<(), NotifyError>;

    /// Reachability and configuration, for `mfa-monitor check`.
    async fn check(&self) -> Result<String, NotifyError>;
}
