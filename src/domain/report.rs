//! The status report: every principal of every source from the stored
//! state, non-compliant first, with how long each has lacked MFA. Pure:
//! built from stored targets here; rendered by `notifiers::{table, email,
//! slack_blocks}` and sent by the channels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::readiness::{blocked_at_enforcement, ReadinessEntry};
use super::snapshot::{StoredTarget, TargetSettings};
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
    /// When the monitor first saw the principal.
    pub first_seen: DateTime<Utc>,
    pub exempt: bool,
    /// The last day of a stored exemption; `None` for an exempt principal
    /// means permanent (`MFA_EXEMPT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_until: Option<chrono::NaiveDate>,
    /// Holds a programmatic access token (Snowflake).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_pat: bool,
    /// The admin's MFA methods as read, or why they could not be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_methods: Option<String>,
    /// What the source says to do about the principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Why MFA does not apply, for a `not_applicable` principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<NaReason>,
    /// The holder's address as the source gave it: what links the row to
    /// a person when the people file does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
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
    /// Who Snowflake will block when it enforces MFA (every principal,
    /// whatever the filter).
    pub enforcement_readiness: Vec<ReadinessEntry>,
    /// Target-level switches and details, per target (`SOURCE:TARGET`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetSettings>,
    /// Principals without MFA for more than `remind_days` days, oldest
    /// first (exempt ones left out): the reminder, instead of hourly alerts.
    pub open_beyond: Vec<Reminder>,
    /// The bound of `open_beyond` (`MFA_REMIND_DAYS`); 0 when not asked.
    pub remind_days: u64,
    /// Exemptions in force for principals that have MFA (or no longer need
    /// it): they can be removed.
    pub exemptions_no_longer_needed: Vec<String>,
    /// Per source, today's accounts without MFA against a week ago (from
    /// the trend records; absent before the first record).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub week_over_week: BTreeMap<Source, super::trend::WeekOverWeek>,
    /// Per source, the last 12 weeks, for the HTML report's chart (not in
    /// the JSON: 84 points per source are the page's business).
    #[serde(skip)]
    pub trend: BTreeMap<Source, Vec<super::trend::DayCount>>,
    /// The HTML page of this report in the report bucket, when stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_report: Option<ReportLink>,
}

impl ReportLink {
    /// What the messages say beside the link: how long it works, and where
    /// the page stays after.
    pub fn caveat(&self) -> String {
        format!(
            "the link works until {} at most (less when the credentials that signed it expire first); the page stays at {}",
            self.expires_at.format("%Y-%m-%d %H:%M UTC"),
            self.object
        )
    }
}

/// Where the HTML page of a sent report is (`MFA_REPORT_BUCKET`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLink {
    /// `s3://BUCKET/KEY`.
    pub object: String,
    /// A pre-signed GET link: a bearer secret while valid, so it goes into
    /// the messages only, never into logs or the JSON output.
    #[serde(skip)]
    pub url: String,
    /// The link's asked-for end; earlier when the credentials that signed
    /// it expire first.
    pub expires_at: DateTime<Utc>,
}

/// One line of the reminder section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub principal: String,
    pub days_without_mfa: i64,
    pub admin: bool,
}

/// Every principal without MFA (or with a weak factor) for more than
/// `days` days and not exempt, oldest first.
pub fn open_beyond(
    targets: &[StoredTarget],
    exemptions: &Exemptions,
    days: u64,
    now: DateTime<Utc>,
) -> Vec<Reminder> {
    let mut out: Vec<Reminder> = targets
        .iter()
        .flat_map(|t| t.present().map(move |p| (t, p)))
        .filter(|(_, p)| p.status.is_non_compliant())
        .map(|(t, p)| Reminder {
            principal: t.key.principal(p.name.clone()).to_string(),
            days_without_mfa: (now - p.status_since).num_days().max(0),
            admin: p.attributes.admin,
        })
        .filter(|r| r.days_without_mfa > days as i64)
        .filter(|r| !r.principal.parse().is_ok_and(|id| exemptions.contains(&id)))
        .collect();
    out.sort_by(|a, b| {
        (std::cmp::Reverse(a.days_without_mfa), &a.principal)
            .cmp(&(std::cmp::Reverse(b.days_without_mfa), &b.principal))
    });
    out
}

/// Exemptions in force (`ids`) whose principal is stored with MFA on or
/// without a way to sign in: no longer needed.
pub fn no_longer_needed<'a>(
    targets: &[StoredTarget],
    ids: impl IntoIterator<Item = &'a super::PrincipalId>,
) -> Vec<String> {
    let mut out: Vec<String> = ids
        .into_iter()
        .filter(|id| {
            targets
                .iter()
                .find(|t| t.key == id.target_key())
                .and_then(|t| t.principals.get(&id.name))
                .is_some_and(|p| {
                    p.absent_since.is_none()
                        && matches!(p.status, MfaStatus::Enabled | MfaStatus::NotApplicable)
                })
        })
        .map(|id| id.to_string())
        .collect();
    out.sort();
    out
}

/// The order of statuses in every rendering: the worst first.
pub fn rank(status: MfaStatus) -> u8 {
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
                first_seen: p.first_seen,
                exempt,
                exempt_until: None,
                has_pat: p.attributes.has_pat,
                mfa_methods: p.attributes.mfa_methods.as_ref().map(|m| m.summary()),
                hint: p.attributes.hint.clone(),
                reason: (p.status == MfaStatus::NotApplicable)
                    .then(|| p.attributes.reason.clone())
                    .flatten(),
                email: p.attributes.email.clone(),
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
        enforcement_readiness: blocked_at_enforcement(targets),
        open_beyond: Vec::new(),
        remind_days: 0,
        exemptions_no_longer_needed: Vec::new(),
        week_over_week: BTreeMap::new(),
        trend: BTreeMap::new(),
        html_report: None,
        targets: targets
            .iter()
            .filter(|t| {
                t.settings.retired_at.is_none()
                    && (!t.settings.requirements.is_empty() || !t.settings.details.is_empty())
            })
            .map(|t| (t.key.to_string(), t.settings.clone()))
            .collect(),
    }
}

impl Row {
    /// What else there is to know: a PAT, the MFA methods, the hint (the
    /// reason is in the status).
    pub fn notes(&self) -> String {
        let mut notes = Vec::new();
        if self.has_pat {
            notes.push("PAT".to_owned());
        }
        if let Some(m) = &self.mfa_methods {
            notes.push(format!("methods: {m}"));
        }
        if let Some(h) = &self.hint {
            notes.push(h.clone());
        }
        notes.join("; ")
    }

    /// The status as shown, with an exemption said.
    pub fn status_text(&self) -> String {
        match (&self.reason, self.exempt) {
            (Some(r), _) => format!("{} ({r})", self.status),
            (None, true) => match self.exempt_until {
                Some(until) => format!("{} (exempt until {until})", self.status),
                None => format!("{} (exempt, permanent)", self.status),
            },
            (None, false) => self.status.to_string(),
        }
    }
}

impl Report {
    /// Says which exemptions end and when: a row exempt through a stored
    /// exemption in force gets its last day; one exempt through
    /// `MFA_EXEMPT` stays permanent (that one wins when both exist).
    pub fn set_exemption_ends(
        &mut self,
        stored: &[crate::domain::exemption::Exemption],
        permanent: &Exemptions,
        today: chrono::NaiveDate,
    ) {
        let ends: BTreeMap<String, chrono::NaiveDate> = stored
            .iter()
            .filter(|e| e.in_force(today) && !permanent.contains(&e.principal))
            .map(|e| (e.principal.to_string(), e.until))
            .collect();
        for row in self.rows.iter_mut().filter(|r| r.exempt) {
            row.exempt_until = ends.get(&row.principal).copied();
        }
    }

    /// Draws the trend in from the stored records.
    pub fn set_trend(&mut self, records: &[super::trend::TrendRecord]) {
        let today = self.generated_at.date_naive();
        self.trend = super::trend::series(records, today);
        self.week_over_week = super::trend::week_over_week(&self.trend, today);
    }

    /// "This week vs last week", one line per source.
    pub fn week_lines(&self) -> Vec<String> {
        self.week_over_week
            .iter()
            .map(|(source, w)| w.line(*source))
            .collect()
    }

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
                            exempt: false,
                            grace_until: None,
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
    fn target_requirements_and_details_are_listed_and_a_retired_target_is_left_out() {
        let mut targets = sample();
        targets[0]
            .settings
            .details
            .insert("invited".into(), "2 pending: <newbie>, 1 by email".into());
        targets[0]
            .settings
            .requirements
            .insert("enterprise_two_factor_required".into(), false);
        let r = build(&targets, &Exemptions::default(), Filter::All, now());
        let key = targets[0].key.to_string();
        let shown = &r.targets[&key];
        assert!(!shown.requirements["enterprise_two_factor_required"]);
        assert_eq!(shown.details["invited"], "2 pending: <newbie>, 1 by email");
        let table = crate::notifiers::table::table(&r);
        assert!(table.contains("invited: 2 pending"), "{table}");
        let html = crate::notifiers::email::report_email(&r).html;
        assert!(
            html.contains("&lt;newbie&gt;") && !html.contains("<newbie>"),
            "{html}"
        );
        targets[0].settings.retired_at = Some(now());
        let r = build(&targets, &Exemptions::default(), Filter::All, now());
        assert!(!r.targets.contains_key(&key));
    }

    #[test]
    fn the_reminder_lists_exactly_those_open_beyond_the_bound_oldest_first_without_the_exempt() {
        // sample(): bob 12 days, <root> 3 days, octocat (weak) 40 days.
        let none = Exemptions::default();
        let names = |r: Vec<Reminder>| -> Vec<(String, i64)> {
            r.into_iter()
                .map(|r| (r.principal, r.days_without_mfa))
                .collect()
        };
        assert_eq!(
            names(open_beyond(&sample(), &none, 10, now())),
            [
                ("github:acme/octocat".to_owned(), 40),
                ("aws:123456789012/bob".to_owned(), 12)
            ]
        );
        assert_eq!(
            names(open_beyond(&sample(), &none, 12, now())),
            [("github:acme/octocat".to_owned(), 40)],
            "more than the bound, not as many"
        );
        let ex = Exemptions::parse("github:acme/octocat").unwrap();
        assert_eq!(
            names(open_beyond(&sample(), &ex, 10, now())),
            [("aws:123456789012/bob".to_owned(), 12)]
        );
        let ids = Exemptions::parse("aws:123456789012/alice, aws:123456789012/bob").unwrap();
        assert_eq!(
            no_longer_needed(&sample(), ids.iter()),
            ["aws:123456789012/alice"],
            "alice has MFA; bob still needs his"
        );
    }

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
