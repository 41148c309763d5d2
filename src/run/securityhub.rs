//! The Security Hub step of a pass (`MFA_SECURITYHUB=true`), after the
//! alerts: the findings brought in line with the committed state
//! (`domain::securityhub::plan`), imported 100 at a time, and each batch's
//! accepted findings recorded before the next batch goes. Reported like a
//! channel (`securityhub` in the run summary's channels): a failure fails
//! the pass, and what was not accepted is imported again next pass.

use std::collections::BTreeSet;

use chrono::Utc;
use tracing::{error, info, warn};

use super::{ChannelOutcome, ChannelResult, Pass};
use crate::domain::report::{build, Filter};
use crate::domain::securityhub::{plan, Synced, BATCH};
use crate::domain::Exemptions;
use crate::notifiers::asff::{self, finding_id};

pub const CHANNEL: &str = "securityhub";

impl Pass<'_> {
    pub(super) async fn sync_securityhub(&self, exemptions: &Exemptions) -> Option<ChannelOutcome> {
        let hub = self.securityhub?;
        let now = Utc::now();
        let mut accepted = 0;
        let result: Result<usize, String> = async {
            let target = hub.hub().await.map_err(|e| e.to_string())?.clone();
            let targets = self.store.targets().await.map_err(|e| e.to_string())?;
            let synced = self
                .store
                .securityhub_synced()
                .await
                .map_err(|e| e.to_string())?;
            let rows = build(&targets, exemptions, Filter::All, now).rows;
            let imports = plan(&rows, &synced, now);
            let mut rejected_total = 0;
            for batch in imports.chunks(BATCH) {
                let findings: Vec<_> = batch.iter().map(|i| asff::of(&target, i, now)).collect();
                let rejected = hub.import(&findings).await.map_err(|e| e.to_string())?;
                for r in &rejected {
                    warn!(finding = %r.id, code = %r.code, message = %r.message, "Security Hub rejected a finding; it is imported again next pass");
                }
                let refused: BTreeSet<&str> = rejected.iter().map(|r| r.id.as_str()).collect();
                let updates: Vec<(String, Option<Synced>)> = batch
                    .iter()
                    .filter(|i| !refused.contains(finding_id(&i.principal).as_str()))
                    .map(|i| (i.principal.clone(), i.record.clone()))
                    .collect();
                self.store
                    .record_securityhub(&updates)
                    .await
                    .map_err(|e| e.to_string())?;
                accepted += updates.len();
                rejected_total += rejected.len();
            }
            if rejected_total > 0 {
                return Err(format!(
                    "{rejected_total} finding(s) rejected by Security Hub (logged); imported again next pass"
                ));
            }
            Ok(imports.len())
        }
        .await;
        Some(match result {
            Ok(n) => {
                info!(imported = n, "Security Hub findings in step with the state");
                ChannelOutcome {
                    channel: CHANNEL.to_owned(),
                    result: ChannelResult::Sent,
                    notices: n,
                    error: None,
                }
            }
            Err(e) => {
                error!(accepted, error = %e, "Security Hub findings not all imported; the rest go next pass");
                ChannelOutcome {
                    channel: CHANNEL.to_owned(),
                    result: ChannelResult::Failed,
                    notices: accepted,
                    error: Some(e),
                }
            }
        })
    }
}
