//! AWS Security Hub findings (`MFA_SECURITYHUB=true`), pure: one finding
//! per principal without MFA (or with only a weak factor) and not exempt,
//! and what one sync must import given what earlier syncs had Security Hub
//! accept. The ASFF of each is `notifiers/asff.rs`.
//!
//! Bookkeeping mirrors the channels' (nothing lost, nothing twice): the
//! store keeps, per principal id, the fingerprint of the finding last
//! accepted. A sync imports the findings whose fingerprint differs (new or
//! changed) and archives the ids no longer wanted (MFA on again, removed,
//! or exempted); only what Security Hub accepted is recorded, so a failed
//! import is retried by the next pass and an accepted one is never sent
//! again unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::Row;

/// BatchImportFindings takes at most this many findings per call.
pub const BATCH: usize = 100;

/// What the store keeps of an accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synced {
    /// `status/admin`: a change of either is an update of the finding.
    pub fingerprint: String,
    /// The finding's `CreatedAt`, kept so that updates and the archiving
    /// say the same.
    pub created_at: DateTime<Utc>,
}

/// Where the findings are imported: the account and Region the monitor
/// runs in (its product ARN, `product/ACCOUNT/default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Hub {
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }
}

fn fingerprint(row: &Row) -> String {
    format!("{}/{}", row.status.as_str(), row.admin)
}

/// One import of a sync: the principal, its row while it lacks MFA
/// (`None`: archive its finding), the finding's `CreatedAt`, and what to
/// record once Security Hub accepted it (`None` removes the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import<'a> {
    pub principal: String,
    pub row: Option<&'a Row>,
    pub created_at: DateTime<Utc>,
    pub record: Option<Synced>,
}

/// What to import so that Security Hub holds exactly one active finding
/// per principal in `rows` lacking MFA and not exempt.
pub fn plan<'a>(
    rows: &'a [Row],
    synced: &BTreeMap<String, Synced>,
    now: DateTime<Utc>,
) -> Vec<Import<'a>> {
    let mut out = Vec::new();
    let mut wanted = std::collections::BTreeSet::new();
    for r in rows
        .iter()
        .filter(|r| r.status.is_non_compliant() && !r.exempt)
    {
        wanted.insert(r.principal.as_str());
        let fp = fingerprint(r);
        match synced.get(&r.principal) {
            Some(s) if s.fingerprint == fp => {}
            before => {
                let created_at = before.map_or(now, |s| s.created_at);
                out.push(Import {
                    principal: r.principal.clone(),
                    row: Some(r),
                    created_at,
                    record: Some(Synced {
                        fingerprint: fp,
                        created_at,
                    }),
                });
            }
        }
    }
    for (id, s) in synced {
        if !wanted.contains(id.as_str()) {
            out.push(Import {
                principal: id.clone(),
                row: None,
                created_at: s.created_at,
                record: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{build, fixtures, Filter};
    use crate::domain::{Exemptions, MfaStatus, Source};

    fn rows(bob: MfaStatus, exempt_root: bool) -> Vec<Row> {
        let t = vec![fixtures::target(
            Source::Aws,
            "111122223333",
            &[
                ("bob", bob, false, 3),
                ("<root>", MfaStatus::Disabled, true, 1),
                ("amy", MfaStatus::Enabled, false, 0),
            ],
        )];
        let ex = if exempt_root {
            Exemptions::parse("aws:111122223333/<root>").unwrap()
        } else {
            Exemptions::default()
        };
        build(&t, &ex, Filter::All, Utc::now()).rows
    }

    #[test]
    fn an_accepted_finding_is_not_sent_again_and_a_fixed_or_exempted_one_is_archived_once() {
        let now = Utc::now();
        let r = rows(MfaStatus::Disabled, false);
        let first = plan(&r, &BTreeMap::new(), now);
        assert_eq!(first.len(), 2, "bob and the root");
        let synced: BTreeMap<String, Synced> = first
            .into_iter()
            .map(|i| (i.principal, i.record.unwrap()))
            .collect();
        assert!(plan(&r, &synced, now).is_empty());
        let fixed_rows = rows(MfaStatus::Enabled, true);
        let fixed = plan(&fixed_rows, &synced, now);
        assert_eq!(fixed.len(), 2);
        assert!(fixed.iter().all(|i| i.row.is_none() && i.record.is_none()));
        assert!(fixed
            .iter()
            .all(|i| i.created_at == synced[&i.principal].created_at));
    }
}
