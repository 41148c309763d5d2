//! The CLI's channel when no other is configured: prints the message.

use async_trait::async_trait;

use super::digest::Digest;
use super::email::email;
use super::table::table;
use super::{Notifier, NotifyError};

pub struct StdoutNotifier;

#[async_trait]
impl Notifier for StdoutNotifier {
    fn channel(&self) -> &str {
        "stdout"
    }

    async fn send(&self, digest: &Digest) -> Result<(), NotifyError> {
        let message = email(digest);
        // Alerts go to stderr so that `--json` keeps stdout machine-readable.
        eprintln!("\n{}\n{}", message.subject, message.text);
        Ok(())
    }

    async fn send_report(&self, report: &crate::domain::report::Report) -> Result<(), NotifyError> {
        eprintln!("{}", table(report));
        Ok(())
    }

    async fn check(&self) -> Result<String, NotifyError> {
        Ok("alerts are printed to the terminal (no channel configured)".into())
    }
}
