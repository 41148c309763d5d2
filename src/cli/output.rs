//! What each command prints on stdout for people (`--json` prints the
//! model instead, in `mod.rs`).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::app::StatusReport;
use crate::domain::report::Report;
use crate::domain::{Exemptions, MfaStatus};
use crate::error::CheckItem;
use crate::notifiers::email;
use crate::run::{ChannelOutcome, RunSummary};

pub fn run_text(summary: &RunSummary) -> String {
    let mut out = String::new();
    for t in &summary.targets {
        let result = serde_json::to_value(t.result).expect("serializes");
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:>6} principals {:>5} without MFA {:>4} changes{}",
            t.target,
            result.as_str().unwrap_or_default(),
            t.principals,
            t.non_compliant,
            t.changes,
            t.error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    for c in &summary.channels {
        let result = serde_json::to_value(c.result).expect("serializes");
        let _ = writeln!(
            out,
            "channel {:<20} {}{}",
            c.channel,
            result.as_str().unwrap_or_default(),
            c.error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        );
    }
    if let Some(why) = &summary.skipped {
        let _ = writeln!(out, "pass skipped: {why}");
    }
    if let Some(e) = &summary.error {
        let _ = writeln!(out, "pass failed: {e}");
    }
    if summary.dry_run {
        let warnings: Vec<String> = summary
            .targets
            .iter()
            .flat_map(|t| t.warnings.iter().map(move |w| format!("{}: {w}", t.target)))
            .collect();
        match email::render(&summary.would_send, &warnings) {
            Some(m) => {
                let _ = writeln!(
                    out,
                    "\n(dry run: nothing sent, nothing committed) would send:\n{}\n{}",
                    m.subject, m.text
                );
            }
            None => out.push_str("\n(dry run: nothing sent, nothing committed) nothing to send\n"),
        }
    }
    out
}

pub fn report_text(report: &Report, outcomes: &[ChannelOutcome]) -> String {
    let mut out = crate::notifiers::table::table(report);
    for o in outcomes {
        let _ = writeln!(
            out,
            "channel {:<10} {}",
            o.channel,
            o.error.as_deref().unwrap_or("sent")
        );
    }
    out
}

pub fn check_text(items: &[CheckItem]) -> String {
    let mut out = String::new();
    for i in items {
        let _ = writeln!(
            out,
            "{:<5} {:<40} {}",
            if i.ok { "ok" } else { "FAIL" },
            i.component,
            i.detail
        );
    }
    out
}

pub fn status_text(report: &StatusReport, exemptions: &Exemptions) -> String {
    let mut out = format!("state: {}\n", report.location);
    if report.targets.is_empty() {
        out.push_str("no target recorded yet: run `mfa-monitor run` first\n");
    }
    for t in &report.targets {
        let counts: BTreeMap<MfaStatus, usize> = t.count_by_status();
        let counts_text: Vec<String> = MfaStatus::ALL
            .iter()
            .filter_map(|s| counts.get(s).map(|n| format!("{n} {s}")))
            .collect();
        let _ = writeln!(
            out,
            "\n{}  (version {}, updated {})\n  {} principals: {}",
            t.key,
            t.version,
            t.updated_at.format("%Y-%m-%d %H:%M UTC"),
            t.present().count(),
            counts_text.join(", ")
        );
        let mut flagged: Vec<_> = t
            .present()
            .filter(|p| p.status.is_non_compliant() || p.status == MfaStatus::Unknown)
            .collect();
        flagged.sort_by(|a, b| {
            (!a.attributes.admin, a.status, &a.name).cmp(&(!b.attributes.admin, b.status, &b.name))
        });
        for p in flagged {
            let id = t.key.principal(p.name.clone());
            let _ = writeln!(
                out,
                "  {:<10} {}{}{}  since {}",
                p.status.as_str(),
                id,
                if p.attributes.admin { " [admin]" } else { "" },
                if exemptions.contains(&id) {
                    " (exempt)"
                } else {
                    ""
                },
                p.status_since.format("%Y-%m-%d %H:%M UTC")
            );
        }
    }
    for (target, h) in &report.failing {
        let _ = writeln!(
            out,
            "\n{target}: FAILING, {} pass(es) in a row since {}{}: {}",
            h.failures,
            h.since.map_or_else(
                || "?".into(),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
            ),
            if h.alerted { " (alerted)" } else { "" },
            h.last_error.as_deref().unwrap_or("")
        );
    }
    let pending: usize = report.pending.iter().map(|e| e.notices.len()).sum();
    if pending > 0 {
        let channels: Vec<String> = report
            .pending
            .iter()
            .flat_map(|e| e.channels.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let _ = writeln!(
            out,
            "\n{pending} alert(s) pending delivery to: {}",
            channels.join(", ")
        );
    }
    out
}
