//! Step 5½ of a pass: the exemption changes made with `mfa-monitor exempt`
//! since the last pass, told to every channel as `info` lines so that
//! nobody exempts quietly (ARCHITECTURE.md §3).

use chrono::Utc;
use tracing::{info, warn};

use super::Pass;
use crate::domain::exemption::ExemptionNotice;
use crate::domain::Notice;
use crate::state::ANNOUNCE_MAX;

impl Pass<'_> {
    /// The journaled changes not yet told, oldest first, at most
    /// [`ANNOUNCE_MAX`] (the rest wait for the next pass). A journal that
    /// cannot be read is told next pass.
    async fn exemption_journal(&self) -> Vec<(String, ExemptionNotice)> {
        match self.store.exemption_notices().await {
            Ok(mut journal) => {
                journal.truncate(ANNOUNCE_MAX);
                journal
            }
            Err(e) => {
                warn!(error = %e, "the exemption changes could not be read; they are told next pass");
                Vec::new()
            }
        }
    }

    /// What a dry run would tell.
    pub(super) async fn exemption_notices(&self) -> Vec<Notice> {
        self.exemption_journal()
            .await
            .into_iter()
            .map(|(_, n)| Notice::Exemption(n))
            .collect()
    }

    /// Stores the journaled changes pending for their channels and marks
    /// them told, in one write, before delivery sends what is pending.
    pub(super) async fn announce_exemptions(&self) {
        let journal = self.exemption_journal().await;
        if journal.is_empty() {
            return;
        }
        for (_, n) in &journal {
            info!(principal = %n.principal, action = ?n.action, by = %n.by, "exemption change told");
        }
        let keys: Vec<String> = journal.iter().map(|(k, _)| k.clone()).collect();
        let notices: Vec<Notice> = journal
            .into_iter()
            .map(|(_, n)| Notice::Exemption(n))
            .collect();
        // Routed like any notice: an exemption in a team's account is told
        // to that team's channel.
        let outbox =
            self.outbox_entry(format!("{}/#exemptions", self.run_id), Utc::now(), &notices);
        if let Err(e) = self.store.announce_exemptions(&keys, Some(outbox)).await {
            warn!(error = %e, "the exemption changes could not be stored for delivery; they are told next pass");
        }
    }
}
