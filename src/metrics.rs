//! The end-of-pass records operators read: the `run summary` log line and
//! CloudWatch Embedded Metric Format records (namespace `MfaMonitor`,
//! dimension `Source`, and the same metrics without a dimension summed
//! over sources), one per source that has targets.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::domain::Source;
use crate::run::{RunSummary, TargetResult};

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

/// EMF records for a pass, one per source.
pub fn emf_records(summary: &RunSummary) -> Vec<Value> {
    let ts = summary.started_at.timestamp_millis();
    per_source(summary)
        .into_iter()
        .map(|(source, m)| {
            json!({
                "_aws": {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        // The empty set also publishes each metric without
                        // a dimension, so one alarm covers every source.
                        "Dimensions": [["Source"], []],
                        "Metrics": [
                            {"Name": "Principals", "Unit": "Count"},
                            {"Name": "NonCompliant", "Unit": "Count"},
                            {"Name": "Changes", "Unit": "Count"},
                            {"Name": "SourceFailures", "Unit": "Count"},
                            {"Name": "DurationMs", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "Source": source.as_str(),
                "run_id": summary.run_id,
                "Principals": m.principals,
                "NonCompliant": m.non_compliant,
                "Changes": m.changes,
                "SourceFailures": m.failures,
                "DurationMs": summary.duration_ms,
            })
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
