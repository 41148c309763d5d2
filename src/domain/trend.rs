//! The trend: one small record per target per day (the state at the first
//! committed pass of that UTC day), and what reports draw from them: the
//! last 12 weeks per source and this week against last week. Pure.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::snapshot::StoredTarget;
use super::{PrincipalRecord, Source, TargetKey};

/// How long a record is kept: the 12 weeks drawn, and some.
pub const KEEP_DAYS: i64 = 100;
/// The days drawn: 12 weeks.
pub const SHOWN_DAYS: i64 = 84;
/// A target whose passes failed for a while keeps its last count this many
/// days; beyond, it is read as gone (a retired account must not be counted
/// for weeks).
pub const CARRY_DAYS: i64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendRecord {
    /// `SOURCE:TARGET`.
    pub target: String,
    pub day: NaiveDate,
    pub principals: usize,
    pub non_compliant: usize,
    pub admins_without_mfa: usize,
}

impl TrendRecord {
    /// The key that orders a target's records by day (`SOURCE:TARGET#DAY`).
    pub fn key(&self) -> String {
        format!("{}#{}", self.target, self.day)
    }

    pub fn source(&self) -> Option<Source> {
        self.target.split(':').next()?.parse().ok()
    }
}

/// The record of `key` on `day` over the state a commit leaves: the stored
/// principals with `deletes` removed and `upserts` written.
pub fn record_after(
    key: &TargetKey,
    prev: Option<&StoredTarget>,
    upserts: &[PrincipalRecord],
    deletes: &[String],
    day: NaiveDate,
) -> TrendRecord {
    let mut state: BTreeMap<&str, &PrincipalRecord> = prev
        .map(|p| p.principals.iter().map(|(n, r)| (n.as_str(), r)).collect())
        .unwrap_or_default();
    for d in deletes {
        state.remove(d.as_str());
    }
    for u in upserts {
        state.insert(u.name.as_str(), u);
    }
    let present = state.values().filter(|p| p.absent_since.is_none());
    let (mut principals, mut non_compliant, mut admins) = (0, 0, 0);
    for p in present {
        principals += 1;
        if p.status.is_non_compliant() {
            non_compliant += 1;
            admins += usize::from(p.attributes.admin);
        }
    }
    TrendRecord {
        target: key.to_string(),
        day,
        principals,
        non_compliant,
        admins_without_mfa: admins,
    }
}

/// One day of a source's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub day: NaiveDate,
    pub principals: usize,
    pub non_compliant: usize,
    pub admins_without_mfa: usize,
}

/// Per source, the last `SHOWN_DAYS` days ending `today`: for each day the
/// sum over targets of each one's latest record at most `CARRY_DAYS` old.
/// Days no target has a record for are left out.
pub fn series(records: &[TrendRecord], today: NaiveDate) -> BTreeMap<Source, Vec<DayCount>> {
    let mut by_target: BTreeMap<&str, Vec<&TrendRecord>> = BTreeMap::new();
    for r in records {
        by_target.entry(r.target.as_str()).or_default().push(r);
    }
    for list in by_target.values_mut() {
        list.sort_by_key(|r| r.day);
    }
    let mut out: BTreeMap<Source, Vec<DayCount>> = BTreeMap::new();
    for offset in (0..SHOWN_DAYS).rev() {
        let day = today - Duration::days(offset);
        let mut sums: BTreeMap<Source, DayCount> = BTreeMap::new();
        for list in by_target.values() {
            let Some(latest) = list.iter().rev().find(|r| r.day <= day) else {
                continue;
            };
            if (day - latest.day).num_days() > CARRY_DAYS {
                continue;
            }
            let Some(source) = latest.source() else {
                continue;
            };
            let sum = sums.entry(source).or_insert(DayCount {
                day,
                principals: 0,
                non_compliant: 0,
                admins_without_mfa: 0,
            });
            sum.principals += latest.principals;
            sum.non_compliant += latest.non_compliant;
            sum.admins_without_mfa += latest.admins_without_mfa;
        }
        for (source, count) in sums {
            out.entry(source).or_default().push(count);
        }
    }
    out
}

/// "This week vs last week" for one source: today's count of accounts
/// without MFA against the count seven days before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeekOverWeek {
    pub non_compliant: usize,
    /// `None`: no record from a week ago.
    pub week_ago: Option<usize>,
}

impl WeekOverWeek {
    /// "2 without MFA, 3 fewer than last week (5)".
    pub fn phrase(&self) -> String {
        let now = self.non_compliant;
        match self.week_ago {
            None => format!("{now} without MFA (no record from a week ago yet)"),
            Some(then) if then == now => format!("{now} without MFA, the same as last week"),
            Some(then) if now < then => {
                format!(
                    "{now} without MFA, {} fewer than last week ({then})",
                    then - now
                )
            }
            Some(then) => format!(
                "{now} without MFA, {} more than last week ({then})",
                now - then
            ),
        }
    }

    pub fn line(&self, source: Source) -> String {
        format!("{}: {}", source.display_name(), self.phrase())
    }
}

/// Per source with a record today (or within `CARRY_DAYS`), the week over
/// week comparison.
pub fn week_over_week(
    series: &BTreeMap<Source, Vec<DayCount>>,
    today: NaiveDate,
) -> BTreeMap<Source, WeekOverWeek> {
    let week_ago = today - Duration::days(7);
    series
        .iter()
        .filter_map(|(source, days)| {
            let now = days.iter().find(|d| d.day == today)?;
            Some((
                *source,
                WeekOverWeek {
                    non_compliant: now.non_compliant,
                    week_ago: days
                        .iter()
                        .find(|d| d.day == week_ago)
                        .map(|d| d.non_compliant),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(target: &str, day: NaiveDate, nc: usize) -> TrendRecord {
        TrendRecord {
            target: target.into(),
            day,
            principals: 10,
            non_compliant: nc,
            admins_without_mfa: 0,
        }
    }

    fn d(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, n).unwrap()
    }

    #[test]
    fn targets_of_a_source_add_up_and_a_missed_day_carries_the_last_count() {
        let records = vec![
            rec("github:a", d(1), 3),
            rec("github:b", d(1), 2),
            rec("github:a", d(3), 1),
            rec("aws:1", d(2), 4),
        ];
        let s = series(&records, d(3));
        let gh = &s[&Source::Github];
        let at = |day| gh.iter().find(|c| c.day == day).unwrap().non_compliant;
        assert_eq!(at(d(1)), 5);
        assert_eq!(at(d(2)), 5, "no record on the 2nd: both carried");
        assert_eq!(at(d(3)), 3, "a's new count, b's carried");
        assert_eq!(s[&Source::Aws].len(), 2, "from the 2nd only");
    }

    #[test]
    fn a_target_silent_for_more_than_a_week_stops_counting() {
        let records = vec![
            rec("github:a", d(1), 3),
            rec("github:b", d(1), 2),
            rec("github:b", d(20), 2),
        ];
        let s = series(&records, d(20));
        let last = s[&Source::Github].last().unwrap();
        assert_eq!((last.day, last.non_compliant), (d(20), 2));
    }

    #[test]
    fn week_over_week_says_fewer_more_or_the_same() {
        let records = vec![rec("github:a", d(1), 5), rec("github:a", d(8), 2)];
        let s = series(&records, d(8));
        let w = week_over_week(&s, d(8));
        assert_eq!(
            w[&Source::Github].line(Source::Github),
            "GitHub: 2 without MFA, 3 fewer than last week (5)"
        );
        let w = week_over_week(&series(&records[..1], d(1)), d(1));
        assert_eq!(w[&Source::Github].week_ago, None);
    }
}
