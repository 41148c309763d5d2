//! The end-of-pass records operators read: the `run summary` log line and
//! CloudWatch Embedded Metric Format records (namespace `MfaMonitor`,
//! dimension `Source`, and the same metrics without a dimension summed
//! over sources), one per source that has targets; one `ChannelFailures`
//! record per channel that failed (dimension `Channel`, and without); and
//! `PendingAlerts` / `PendingAlertAgeMinutes` (no dimension) while alerts
//! stay undelivered. The alarms in template.yaml read these names.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::domain::Source;
use crate::run::{ChannelResult, RunSummary, TargetResult};

pub const NAMESPACE: &str = "MfaMonitor";

#[derive(Default)]
struct PerSource {
    principals: usize,
    non_compliant: usize,
    changes: usize,
    failures: usize,
}

fn per_source(summary: &RunSummary) -> BTreeMap<Source, PerSource> {
    let mut by: BTreeMap<Source, PerSource> = BTreeMap::new();
    for t in &summary.targets {
        let e = by.entry(t.source).or_default();
        e.principals += t.principals;
        e.non_compliant += t.non_compliant;
        e.changes += t.changes;
        if t.result == TargetResult::Failed {
            e.failures += 1;
        }
    }
    by
}

/// EMF records for a pass: one per source, one per failed channel, one for
/// what is still pending.
pub fn emf_records(summary: &RunSummary) -> Vec<Value> {
    let mut records = source_records(summary);
    records.extend(delivery_records(summary));
    records
}

/// One EMF record of `metrics` (name, unit, value). With a `dimension`
/// (name, value) each metric is published under it and, through the empty
/// set, also without one, so one alarm covers every source or channel.
fn record(
    summary: &RunSummary,
    dimension: Option<(&str, &str)>,
    metrics: &[(&str, &str, Value)],
) -> Value {
    let dimensions = match dimension {
        Some((name, _)) => json!([[name], []]),
        None => json!([[]]),
    };
    let mut record = json!({
        "_aws": {
            "Timestamp": summary.started_at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>()
            }]
        },
        "run_id": summary.run_id,
    });
    if let Some((name, value)) = dimension {
        record[name] = json!(value);
    }
    for (name, _, value) in metrics {
        record[*name] = value.clone();
    }
    record
}

/// Only what went wrong is recorded: a channel that delivered adds no
/// `ChannelFailures` point and nothing pending adds no `PendingAlerts`
/// point, and the alarms treat missing data as not breaching.
fn delivery_records(summary: &RunSummary) -> Vec<Value> {
    let mut records: Vec<Value> = summary
        .channels
        .iter()
        .filter(|c| c.result == ChannelResult::Failed)
        .map(|c| {
            record(
                summary,
                Some(("Channel", &c.channel)),
                &[("ChannelFailures", "Count", json!(1))],
            )
        })
        .collect();
    if let Some(p) = summary.pending.filter(|p| p.orphaned > 0) {
        records.push(record(
            summary,
            None,
            &[("OrphanedAlerts", "Count", json!(p.orphaned))],
        ));
    }
    if let Some(p) = summary.pending.filter(|p| p.alerts > 0) {
        records.push(record(
            summary,
            None,
            &[
                ("PendingAlerts", "Count", json!(p.alerts)),
                // CloudWatch has no minutes unit.
                ("PendingAlertAgeMinutes", "None", json!(p.oldest_minutes)),
            ],
        ));
    }
    records
}

fn source_records(summary: &RunSummary) -> Vec<Value> {
    per_source(summary)
        .into_iter()
        .map(|(source, m)| {
            record(
                summary,
                Some(("Source", source.as_str())),
                &[
                    ("Principals", "Count", json!(m.principals)),
                    ("NonCompliant", "Count", json!(m.non_compliant)),
                    ("Changes", "Count", json!(m.changes)),
                    ("SourceFailures", "Count", json!(m.failures)),
                    ("DurationMs", "Milliseconds", json!(summary.duration_ms)),
                ],
            )
        })
        .collect()
}

/// Logs the final `run summary` record (counts per source and change
/// kind): in Lambda one structured JSON line followed by the metrics
/// records; in a terminal one compact log line.
pub fn log_run_summary(summary: &RunSummary) {
    if crate::logging::format() == crate::logging::LogFormat::Json {
        crate::logging::emit_record(&json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": "INFO",
            "target": "mfa_monitor::run",
            "message": "run summary",
            "run_id": summary.run_id,
            "ok": !summary.failed(),
            "duration_ms": summary.duration_ms,
            "targets": summary.targets,
            "changes": summary.changes,
            "channels": summary.channels,
        }));
        for record in emf_records(summary) {
            crate::logging::emit_record(&record);
        }
    } else {
        tracing::info!(
            targets = summary.targets.len(),
            source_failures = summary.targets.iter().filter(|t| t.result == TargetResult::Failed).count(),
            changes = %serde_json::to_string(&summary.changes).unwrap_or_default(),
            duration_ms = summary.duration_ms,
            dry_run = summary.dry_run,
            "run summary"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{ChannelOutcome, PendingAlerts};

    fn summary(channels: Vec<(&str, ChannelResult)>, pending: Option<PendingAlerts>) -> RunSummary {
        RunSummary {
            run_id: "r".into(),
            ok: true,
            dry_run: false,
            started_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            duration_ms: 1,
            targets: Vec::new(),
            changes: BTreeMap::new(),
            channels: channels
                .into_iter()
                .map(|(c, result)| ChannelOutcome {
                    channel: c.into(),
                    result,
                    notices: 1,
                    error: None,
                })
                .collect(),
            would_send: Vec::new(),
            skipped: None,
            error: None,
            pending,
        }
    }

    fn names(records: &[Value]) -> Vec<String> {
        records
            .iter()
            .flat_map(|r| {
                r["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_failed_channel_and_what_stays_pending_are_metrics() {
        let s = summary(
            vec![
                ("email", ChannelResult::Failed),
                ("slack", ChannelResult::Sent),
            ],
            Some(PendingAlerts {
                alerts: 3,
                oldest_minutes: 125,
                orphaned: 0,
            }),
        );
        let r = emf_records(&s);
        assert_eq!(
            names(&r),
            ["ChannelFailures", "PendingAlerts", "PendingAlertAgeMinutes"]
        );
        assert_eq!(r[0]["Channel"], "email");
        assert_eq!(
            r[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Channel"], []])
        );
        assert_eq!(r[1]["PendingAlertAgeMinutes"], 125);
    }

    #[test]
    fn delivered_alerts_leave_no_delivery_metrics() {
        let s = summary(
            vec![("email", ChannelResult::Sent)],
            Some(PendingAlerts {
                alerts: 0,
                oldest_minutes: 0,
                orphaned: 0,
            }),
        );
        assert!(emf_records(&s).is_empty());
    }

    #[test]
    fn alerts_kept_for_a_channel_no_longer_configured_are_their_own_metric() {
        let s = summary(
            vec![("email", ChannelResult::Sent)],
            Some(PendingAlerts {
                alerts: 0,
                oldest_minutes: 0,
                orphaned: 2,
            }),
        );
        let r = emf_records(&s);
        assert_eq!(names(&r), ["OrphanedAlerts"]);
        assert_eq!(r[0]["OrphanedAlerts"], 2);
    }
}
