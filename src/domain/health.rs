//! Source health: how a target's recent passes went, and the one pure rule
//! that turns a pass's outcome into the next health and, at most, one
//! alert (`source_failed` once at the threshold, `source_recovered` once
//! when an alerted target reads again). The pass stores what this returns
//! (ARCHITECTURE.md §3, step 5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Change, ChangeKind, TargetKey};

/// How a target's recent passes went: consecutive failures since the last
/// complete read, and whether the channels were told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Passes in a row that could not read the target.
    pub failures: u32,
    /// When the first of those failures happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The latest failure's cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A `source_failed` alert went to the channels for this run of
    /// failures; a recovery message follows when the target reads again.
    #[serde(default)]
    pub alerted: bool,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.failures == 0 && !self.alerted
    }
}

/// What one pass's outcome does to a target's health: the record to store
/// and the alert it raises, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthStep {
    pub after: Health,
    pub alert: Option<Change>,
}

/// The next health of `key` after a pass that read it (`error` is `None`)
/// or failed to (`error` is the cause). `None` when there is nothing to
/// store: a healthy target read again stays without a record.
pub fn next_health(
    key: &TargetKey,
    before: &Health,
    error: Option<&str>,
    threshold: u32,
    now: DateTime<Utc>,
) -> Option<HealthStep> {
    match error {
        Some(text) => {
            let mut h = before.clone();
            h.failures += 1;
            let since = *h.since.get_or_insert(now);
            h.last_error = Some(text.to_owned());
            let alert = (h.failures >= threshold && !h.alerted).then(|| {
                h.alerted = true;
                let detail = if h.failures == 1 {
                    text.to_owned()
                } else {
                    format!(
                        "{} passes in a row since {}: {text}",
                        h.failures,
                        since.format("%Y-%m-%d %H:%M UTC")
                    )
                };
                Change::of_target(key, ChangeKind::SourceFailed, detail, now)
            });
            Some(HealthStep { after: h, alert })
        }
        None if before.is_healthy() => None,
        None => {
            let alert = before.alerted.then(|| {
                let detail = format!(
                    "read completely again after {} failed passes since {}",
                    before.failures,
                    before.since.unwrap_or(now).format("%Y-%m-%d %H:%M UTC")
                );
                Change::of_target(key, ChangeKind::SourceRecovered, detail, now)
            });
            Some(HealthStep {
                after: Health::default(),
                alert,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Source;

    fn key() -> TargetKey {
        TargetKey::new(Source::Github, "acme")
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn a_healthy_target_read_again_stores_nothing() {
        assert_eq!(
            next_health(&key(), &Health::default(), None, 3, at(0)),
            None
        );
    }

    #[test]
    fn failures_below_the_threshold_count_without_alerting_then_alert_once() {
        let mut h = Health::default();
        for pass in 0..2 {
            let step = next_health(&key(), &h, Some("HTTP 503"), 3, at(pass)).unwrap();
            assert_eq!(step.alert, None, "pass {pass}");
            h = step.after;
        }
        assert_eq!(h.failures, 2);
        assert_eq!(h.since, Some(at(0)));
        let step = next_health(&key(), &h, Some("HTTP 503"), 3, at(2)).unwrap();
        let alert = step.alert.expect("third failure alerts");
        assert_eq!(alert.kind, ChangeKind::SourceFailed);
        assert!(alert.detail.unwrap().starts_with("3 passes in a row since"));
        let again = next_health(&key(), &step.after, Some("HTTP 503"), 3, at(3)).unwrap();
        assert_eq!(again.alert, None, "alerted once per run of failures");
        assert_eq!(again.after.failures, 4);
    }

    #[test]
    fn a_threshold_of_one_alerts_with_the_cause_alone() {
        let step = next_health(&key(), &Health::default(), Some("401"), 1, at(0)).unwrap();
        assert_eq!(step.alert.unwrap().detail.as_deref(), Some("401"));
    }

    #[test]
    fn recovery_is_told_only_when_the_failure_was() {
        let quiet = Health {
            failures: 2,
            since: Some(at(0)),
            last_error: Some("x".into()),
            alerted: false,
        };
        let step = next_health(&key(), &quiet, None, 3, at(2)).unwrap();
        assert_eq!(step.after, Health::default());
        assert_eq!(step.alert, None);
        let told = Health {
            alerted: true,
            ..quiet
        };
        let step = next_health(&key(), &told, None, 3, at(2)).unwrap();
        assert_eq!(step.alert.unwrap().kind, ChangeKind::SourceRecovered);
    }
}
