//! Exemptions that end: each with a reason, an owner and an expiry date,
//! kept in the state store and managed with `mfa-monitor exempt`. The
//! permanent ones of `MFA_EXEMPT` (break-glass accounts) stay beside them.
//! Pure: the rules for a new exemption and for which are in force today.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::policy::Exemptions;
use super::principal::PrincipalId;

/// `MFA_EXEMPT_MAX_DAYS` when unset: an exception longer than a year is a
/// decision, not an exception.
pub const DEFAULT_MAX_DAYS: i64 = 365;

/// One exemption as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    pub principal: PrincipalId,
    /// The last day it is in force (UTC); from the next day the principal
    /// is judged like any other.
    pub until: NaiveDate,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Who added it (the caller's AWS identity, or the local user).
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

impl Exemption {
    pub fn in_force(&self, today: NaiveDate) -> bool {
        today <= self.until
    }

    /// Days left, counting today; negative once expired.
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.until - today).num_days() + 1
    }
}

/// Why `exempt add` refuses an exemption: each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExemptionError {
    #[error("`{0}` is not a principal id of the form SOURCE:TARGET/NAME (e.g. github:acme/octocat): {1}")]
    Id(String, String),
    #[error("--until `{0}` is not a date of the form YYYY-MM-DD")]
    Date(String),
    #[error("--until {0} is in the past (today is {1})")]
    Past(NaiveDate, NaiveDate),
    #[error("--until {0} is {1} days away, beyond the bound of {2} days (MFA_EXEMPT_MAX_DAYS)")]
    TooFar(NaiveDate, i64, i64),
    #[error("--reason is empty: say why the account may go without MFA")]
    NoReason,
}

/// What `exempt add` was given, before it is checked.
pub struct Request<'a> {
    pub principal: &'a str,
    pub until: &'a str,
    pub reason: &'a str,
    /// Already checked as an e-mail address where it is read.
    pub owner: Option<String>,
    pub added_by: String,
}

/// Checks a new exemption against today's date and the bound.
pub fn validate(
    r: Request<'_>,
    now: DateTime<Utc>,
    max_days: i64,
) -> Result<Exemption, ExemptionError> {
    let principal: PrincipalId =
        r.principal
            .parse()
            .map_err(|e: super::principal::ParseIdError| {
                ExemptionError::Id(r.principal.to_owned(), e.0)
            })?;
    let until = NaiveDate::parse_from_str(r.until.trim(), "%Y-%m-%d")
        .map_err(|_| ExemptionError::Date(r.until.to_owned()))?;
    let today = now.date_naive();
    if until < today {
        return Err(ExemptionError::Past(until, today));
    }
    let days = (until - today).num_days();
    if days > max_days {
        return Err(ExemptionError::TooFar(until, days, max_days));
    }
    let reason = r.reason.trim();
    if reason.is_empty() {
        return Err(ExemptionError::NoReason);
    }
    Ok(Exemption {
        principal,
        until,
        reason: reason.to_owned(),
        owner: r.owner,
        added_by: r.added_by,
        added_at: now,
    })
}

/// What was done to an exemption, as the next pass tells every channel
/// (an `info` line), so that nobody exempts quietly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionAction {
    Added,
    /// Replaced by `exempt add` for a principal already exempt.
    Changed,
    Removed,
}

/// One exemption change, journaled by the store with the change itself
/// and delivered by the next pass that commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExemptionNotice {
    pub action: ExemptionAction,
    pub principal: PrincipalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Who did it (the local user running `mfa-monitor exempt`).
    pub by: String,
    pub at: DateTime<Utc>,
}

impl ExemptionNotice {
    /// `exempt add` of `e`, replacing `previous` if there was one.
    pub fn put(e: &Exemption, previous: Option<&Exemption>) -> Self {
        ExemptionNotice {
            action: if previous.is_some() {
                ExemptionAction::Changed
            } else {
                ExemptionAction::Added
            },
            principal: e.principal.clone(),
            until: Some(e.until),
            reason: Some(e.reason.clone()),
            owner: e.owner.clone(),
            by: e.added_by.clone(),
            at: e.added_at,
        }
    }

    pub fn removed(principal: &PrincipalId, by: &str, at: DateTime<Utc>) -> Self {
        ExemptionNotice {
            action: ExemptionAction::Removed,
            principal: principal.clone(),
            until: None,
            reason: None,
            owner: None,
            by: by.to_owned(),
            at,
        }
    }

    /// The line a message carries, e.g. "exemption added by alice, until
    /// 2027-01-31 (owner sec@example.com): waiting for a hardware key".
    pub fn summary(&self) -> String {
        let verb = match self.action {
            ExemptionAction::Added => "added",
            ExemptionAction::Changed => "changed",
            ExemptionAction::Removed => "removed",
        };
        let mut line = format!("exemption {verb} by {}", self.by);
        if let Some(until) = self.until {
            line.push_str(&format!(", until {until}"));
        }
        if let Some(owner) = &self.owner {
            line.push_str(&format!(" (owner {owner})"));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(": {reason}"));
        }
        line
    }
}

impl Exemptions {
    /// The permanent exemptions plus the stored ones in force today.
    pub fn with_stored(&self, stored: &[Exemption], now: DateTime<Utc>) -> Exemptions {
        let today = now.date_naive();
        let mut all = self.clone();
        for e in stored.iter().filter(|e| e.in_force(today)) {
            all.insert(e.principal.clone());
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
    }

    fn req<'a>(principal: &'a str, until: &'a str, reason: &'a str) -> Request<'a> {
        Request {
            principal,
            until,
            reason,
            owner: None,
            added_by: "tester".into(),
        }
    }

    #[test]
    fn a_good_exemption_is_kept_with_its_reason_and_owner() {
        let mut r = req("github:acme/octocat", "2026-12-31", "  waiting for a key ");
        r.owner = Some("sec@example.com".into());
        let e = validate(r, now(), 365).unwrap();
        assert_eq!(e.reason, "waiting for a key");
        assert_eq!(e.owner.as_deref(), Some("sec@example.com"));
        assert_eq!(e.days_left(now().date_naive()), 30);
    }

    #[test]
    fn each_refusal_names_what_is_wrong() {
        let cases = [
            (req("octocat", "2026-12-31", "x"), "SOURCE:TARGET/NAME"),
            (req("github:acme/octocat", "31/12/2026", "x"), "YYYY-MM-DD"),
            (req("github:acme/octocat", "2026-12-01", "x"), "in the past"),
            (
                req("github:acme/octocat", "2028-01-01", "x"),
                "MFA_EXEMPT_MAX_DAYS",
            ),
            (req("github:acme/octocat", "2026-12-31", "  "), "--reason"),
        ];
        for (r, needle) in cases {
            let e = validate(r, now(), 365).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn a_change_is_told_with_who_until_when_and_why() {
        let e = validate(
            req("aws:123456789012/bob", "2026-12-31", "waiting for a key"),
            now(),
            365,
        )
        .unwrap();
        let added = ExemptionNotice::put(&e, None);
        assert_eq!(added.action, ExemptionAction::Added);
        assert_eq!(
            added.summary(),
            "exemption added by tester, until 2026-12-31: waiting for a key"
        );
        assert_eq!(
            ExemptionNotice::put(&e, Some(&e)).action,
            ExemptionAction::Changed
        );
        let gone = ExemptionNotice::removed(&e.principal, "tester", now());
        assert_eq!(gone.summary(), "exemption removed by tester");
    }

    #[test]
    fn an_exemption_is_in_force_through_its_last_day_and_not_after() {
        let e = validate(req("aws:123456789012/bob", "2026-12-02", "x"), now(), 365).unwrap();
        let base = Exemptions::default();
        assert!(base
            .with_stored(std::slice::from_ref(&e), now())
            .contains(&e.principal));
        let tomorrow = now() + chrono::Duration::days(1);
        assert!(!base
            .with_stored(std::slice::from_ref(&e), tomorrow)
            .contains(&e.principal));
    }
}
