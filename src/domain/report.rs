//! The status report: every principal of every source from the stored
//! state, non-compliant first, with how long each has lacked MFA. Pure:
//! built from stored targets here; rendered by `notifiers::{table, email,
//! slack_blocks}` and sent by the channels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::snapshot::StoredTarget;
use super::{Exemptions, MfaStatus, NaReason, Source};

/// `--filter`: `enabled` is MFA verified on; `disabled` is everything that
/// is not (no MFA, only SMS, or unknown); `all` adds accounts that cannot
/// log in interactively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    All,
    Enabled,
    Disabled,
}

impl Filter {
    fn keeps(self, status: MfaStatus) -> bool {
        match self {
            Filter::All => true,
            Filter::Enabled => status == MfaStatus::Enabled,
            Filter::Disabled => status.is_non_compliant() || status == MfaStatus::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub principal: String,
    pub source: Source,
    pub status: MfaStatus,
    pub admin: bool,
    /// `console`, `none`, or the source's account type.
    pub login: String,
    /// Whole days since the principal lost or first lacked MFA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_without_mfa: Option<i64>,
    pub exempt: bool,
    /// Why MFA does not apply, for a `not_applicable` principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<NaReason>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub principals: usize,
    pub enabled: usize,
    pub non_compliant: usize,
    pub unknown: usize,
    pub not_applicable: usize,
    pub exempt: usize,
    pub critical: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub filter: Filter,
    /// Per source, over every principal (not only the filtered rows).
    pub counts: BTreeMap<Source, Counts>,
    pub rows: Vec<Row>,
}

fn rank(status: MfaStatus) -> u8 {
    match status {
        MfaStatus::Disabled => 0,
        MfaStatus::Insecure => 1,
        MfaStatus::Unknown => 2,
        MfaStatus::Enabled => 3,
        MfaStatus::NotApplicable => 4,
    }
}

pub fn build(
    targets: &[StoredTarget],
    exemptions: &Exemptions,
    filter: Filter,
    now: DateTime<Utc>,
) -> Report {
    let mut counts: BTreeMap<Source, Counts> = BTreeMap::new();
    let mut rows = Vec::new();
    for t in targets {
        for p in t.present() {
            let id = t.key.principal(p.name.clone());
            let exempt = exemptions.contains(&id);
            let c = counts.entry(t.key.source).or_default();
            c.principals += 1;
            match p.status {
                MfaStatus::Enabled => c.enabled += 1,
                s if s.is_non_compliant() => c.non_compliant += 1,
                MfaStatus::Unknown => c.unknown += 1,
                _ => c.not_applicable += 1,
            }
            c.exempt += usize::from(exempt);
            let critical = p.status.is_non_compliant() && p.attributes.admin && !exempt;
            c.critical += usize::from(critical);
            if !filter.keeps(p.status) {
                continue;
            }
            let login = if p.attributes.console_login {
                p.attributes
                    .kind
                    .as_ref()
                    .map_or_else(|| "console".into(), |k| k.to_string())
            } else {
                "none".into()
            };
            rows.push(Row {
                principal: id.to_string(),
                source: t.key.source,
                status: p.status,
                admin: p.attributes.admin,
                login,
                days_without_mfa: p
                    .status
                    .is_non_compliant()
                    .then(|| (now - p.status_since).num_days().max(0)),
                exempt,
                reason: (p.status == MfaStatus::NotApplicable)
                    .then(|| p.attributes.reason.clone())
                    .flatten(),
            });
        }
    }
    rows.sort_by(|a, b| {
        (
            a.source,
            rank(a.status),
            !a.admin,
            std::cmp::Reverse(a.days_without_mfa),
            &a.principal,
        )
            .cmp(&(
                b.source,
                rank(b.status),
                !b.admin,
                std::cmp::Reverse(b.days_without_mfa),
                &b.principal,
            ))
    });
    Report {
        generated_at: now,
        filter,
        counts,
        rows,
    }
}

impl Row {
    /// The status as shown, with an exemption said.
    pub fn status_text(&self) -> String {
        match (&self.reason, self.exempt) {
            (Some(r), _) => format!("{} ({r})", self.status),
            (None, true) => format!("{} (exempt)", self.status),
            (None, false) => self.status.to_string(),
        }
    }
}

impl Report {
    /// The one-line summary every rendering starts with.
    pub fn headline(&self) -> String {
        let nc: usize = self.counts.values().map(|c| c.non_compliant).sum();
        let total: usize = self.counts.values().map(|c| c.principals).sum();
        let critical: usize = self.counts.values().map(|c| c.critical).sum();
        format!("MFA status report: {nc} of {total} accounts without MFA or with a weak factor ({critical} admin)")
    }
}

/// Stored targets of two sources, shared by the report's tests and its
/// renderers' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::domain::{Attributes, NaReason, PrincipalRecord, TargetKey};
    use chrono::TimeZone;

    pub(crate) fn target(
        source: Source,
        name: &str,
        people: &[(&str, MfaStatus, bool, i64)],
    ) -> StoredTarget {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        StoredTarget {
            key: TargetKey::new(source, name),
            version: 1,
            settings: Default::default(),
            updated_at: now,
            principals: people
                .iter()
                .map(|(n, s, admin, days)| {
                    (
                        n.to_string(),
                        PrincipalRecord {
                            name: n.to_string(),
                            status: *s,
                            attributes: Attributes {
                                admin: *admin,
                                console_login: *s != MfaStatus::NotApplicable,
                                reason: (*s == MfaStatus::NotApplicable)
                                    .then_some(NaReason::NoConsolePassword),
                                ..Attributes::default()
                            },
                            first_seen: now - chrono::Duration::days(400),
                            status_since: now - chrono::Duration::days(*days),
                            absent_since: None,
                        },
                    )
                })
                .collect(),
        }
    }

    pub(crate) fn sample() -> Vec<StoredTarget> {
        vec![
            target(
                Source::Aws,
                "123456789012",
                &[
                    ("alice", MfaStatus::Enabled, true, 90),
                    ("bob", MfaStatus::Disabled, false, 12),
                    ("<root>", MfaStatus::Disabled, true, 3),
                    ("ci", MfaStatus::NotApplicable, false, 100),
                ],
            ),
            target(
                Source::Github,
                "acme",
                &[
                    ("octocat", MfaStatus::Insecure, false, 40),
                    ("hubot", MfaStatus::Unknown, false, 1),
                ],
            ),
        ]
    }

    pub(crate) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{now, sample};
    use super::*;

    #[test]
    fn a_not_applicable_row_says_why_in_its_status_and_its_json() {
        let r = build(&sample(), &Exemptions::default(), Filter::All, now());
        let ci = r
            .rows
            .iter()
            .find(|r| r.principal.ends_with("/ci"))
            .unwrap();
        assert_eq!(ci.status_text(), "not_applicable (no_console_password)");
        let json = serde_json::to_value(ci).unwrap();
        assert_eq!(json["reason"], "no_console_password");
        let bob = r
            .rows
            .iter()
            .find(|r| r.principal.ends_with("/bob"))
            .unwrap();
        assert!(serde_json::to_value(bob).unwrap().get("reason").is_none());
    }

    #[test]
    fn filters_keep_enabled_or_everything_not_verified_enabled() {
        let ex = Exemptions::default();
        let names = |f| {
            build(&sample(), &ex, f, now())
                .rows
                .into_iter()
                .map(|r| r.principal)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Filter::Enabled), ["aws:123456789012/alice"]);
        assert_eq!(
            names(Filter::Disabled),
            [
                "github:acme/octocat",
                "github:acme/hubot",
                "aws:123456789012/<root>",
                "aws:123456789012/bob"
            ]
        );
        assert_eq!(names(Filter::All).len(), 6);
    }

    #[test]
    fn non_compliant_come_first_admins_first_with_days_without_mfa() {
        let r = build(&sample(), &Exemptions::default(), Filter::All, now());
        let aws: Vec<_> = r.rows.iter().filter(|r| r.source == Source::Aws).collect();
        assert_eq!(aws[0].principal, "aws:123456789012/<root>");
        assert_eq!(aws[0].days_without_mfa, Some(3));
        assert_eq!(aws[1].days_without_mfa, Some(12));
        assert_eq!(aws[2].days_without_mfa, None, "enabled");
        assert_eq!(r.counts[&Source::Aws].critical, 1);
    }
}
