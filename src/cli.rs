//! The terminal interface: `run`, `status`, `check`, with `--json`.
//! Exit codes (contract): 0 all well, 1 a source or channel failed,
//! 2 bad configuration.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{App, StatusReport};
use crate::config::Config;
use crate::domain::report::Filter;
use crate::domain::MfaStatus;
use crate::notifiers::email;
use crate::run::{Deadline, RunSummary};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "mfa-monitor",
    version,
    about = "Alerts when accounts in GitHub, AWS IAM or Snowflake lose or lack MFA"
)]
pub struct Cli {
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: collect, diff against stored state, alert, commit.
    Run {
        /// Collect and diff, print what would be sent; neither notify nor commit.
        #[arg(long)]
        dry_run: bool,
    },
    /// The status of every principal from the stored state, non-compliant first.
    Report {
        /// `enabled`: MFA on; `disabled`: no MFA, SMS only, or unknown.
        #[arg(long, value_enum, default_value = "all")]
        filter: Filter,
        /// Also mail it (HTML table) and post a Slack summary.
        #[arg(long)]
        send: bool,
    },
    /// What the state store holds.
    Status,
    /// Configuration and reachability of every source and channel.
    Check,
}

pub async fn main(cli: Cli) -> ExitCode {
    let config = match Config::from_env(false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mfa-monitor: bad configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("mfa-monitor: bad configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::Run { dry_run } => {
            // Without a budget: collection's own bound plus time to commit
            // and deliver.
            let budget = app
                .config
                .pass_budget
                .unwrap_or(app.config.target_timeout + std::time::Duration::from_secs(120));
            let summary = app.run(dry_run, Deadline::after(budget)).await;
            print_run(&summary, cli.json);
            ExitCode::from(if summary.failed() {
                EXIT_FAILED
            } else {
                EXIT_OK
            })
        }
        Command::Report { filter, send } => match app.report(filter, send).await {
            Ok((report, outcomes)) => {
                if cli.json {
                    let v = serde_json::json!({"report": report, "channels": outcomes});
                    println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
                } else {
                    print!("{}", crate::notifiers::table::table(&report));
                    for o in &outcomes {
                        println!(
                            "channel {:<10} {}",
                            o.channel,
                            o.error.as_deref().unwrap_or("sent")
                        );
                    }
                }
                let failed = outcomes.iter().any(|o| o.error.is_some());
                ExitCode::from(if failed { EXIT_FAILED } else { EXIT_OK })
            }
            Err(e) => {
                eprintln!("mfa-monitor: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        },
        Command::Status => match app.status().await {
            Ok(report) => {
                if cli.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report).expect("serializes")
                    );
                } else {
                    print!("{}", status_text(&report));
                }
                ExitCode::from(EXIT_OK)
            }
            Err(e) => {
                eprintln!("mfa-monitor: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        },
        Command::Check => {
            let items = app.check().await;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&items).expect("serializes")
                );
            } else {
                for i in &items {
                    println!(
                        "{:<5} {:<40} {}",
                        if i.ok { "ok" } else { "FAIL" },
                        i.component,
                        i.detail
                    );
                }
            }
            ExitCode::from(if items.iter().all(|i| i.ok) {
                EXIT_OK
            } else {
                EXIT_FAILED
            })
        }
    }
}

fn print_run(summary: &RunSummary, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(summary).expect("serializes")
        );
        return;
    }
    for t in &summary.targets {
        let result = serde_json::to_value(t.result).expect("serializes");
        println!(
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
        println!(
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
        println!("pass skipped: {why}");
    }
    if let Some(e) = &summary.error {
        println!("pass failed: {e}");
    }
    if summary.dry_run {
        let warnings: Vec<String> = summary
            .targets
            .iter()
            .flat_map(|t| t.warnings.iter().map(move |w| format!("{}: {w}", t.target)))
            .collect();
        match email::render(&summary.would_send, &warnings) {
            Some(m) => println!(
                "\n(dry run: nothing sent, nothing committed) would send:\n{}\n{}",
                m.subject, m.text
            ),
            None => println!("\n(dry run: nothing sent, nothing committed) nothing to send"),
        }
    }
}

fn status_text(report: &StatusReport) -> String {
    use std::fmt::Write;
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
            let _ = writeln!(
                out,
                "  {:<10} {}{}  since {}",
                p.status.as_str(),
                t.key.principal(p.name.clone()),
                if p.attributes.admin { " [admin]" } else { "" },
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
