//! The terminal interface: `run`, `report`, `status`, `check`, with
//! `--json`, `-q`/`-v`, and on the first three `--source`, `--target` and
//! `--fail-on-findings`; `completions` and the man pages (`docs.rs`).
//! Exit codes (contract): 0 all well, 1 a source or channel failed,
//! 2 bad configuration or usage, 3 findings (only with --fail-on-findings).

mod args;
mod docs;
mod exempt;
mod findings;
mod narrow;
mod output;
mod scope;
mod watch;

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;

pub use args::{Cli, Command, Scope};
pub use scope::{Selection, TargetSelector};

use crate::app::App;
use crate::config::Config;
use crate::domain::report::Filter;
use crate::domain::TargetKey;
use crate::run::Deadline;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;
pub const EXIT_FINDINGS: u8 = 3;

/// Where output goes: results on stdout (JSON with `--json`; people's text
/// unless `--quiet`), errors always on stderr, notes on stderr unless
/// `--quiet`.
#[derive(Debug, Clone, Copy)]
struct Print {
    json: bool,
    quiet: bool,
}

impl Print {
    fn result(&self, value: &impl Serialize, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("serializes")
            );
        } else if !self.quiet {
            print!("{}", text());
        }
    }

    fn error(&self, message: impl std::fmt::Display) {
        eprintln!("mfa-monitor: {message}");
    }

    fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// The exit code, saying so when findings set it.
    fn finish(&self, failed: bool, found: Option<usize>) -> u8 {
        let code = findings::exit_code(failed, found);
        if code == EXIT_FINDINGS {
            self.note(findings::message(found.unwrap_or_default()));
        }
        code
    }
}

pub async fn main(cli: Cli) -> ExitCode {
    let print = Print {
        json: cli.json,
        quiet: cli.quiet,
    };
    match &cli.command {
        Command::Completions { shell } => {
            docs::completions(*shell, &mut std::io::stdout());
            return ExitCode::from(EXIT_OK);
        }
        Command::Man { dir } => {
            return ExitCode::from(match docs::man_pages(dir) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    print.error(format!("cannot write man pages to {}: {e}", dir.display()));
                    EXIT_FAILED
                }
            });
        }
        Command::Run {
            dry_run: false,
            scope,
        } if !scope.selection().is_everything() => {
            print.error(
                "--source and --target need --dry-run: a real pass reads and commits every \
                 configured target, as a pass over some would leave the others unread until \
                 the next full pass (see `mfa-monitor run --help`)",
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        _ => {}
    }
    let config = match Config::from_env(false) {
        Ok(c) => c,
        Err(e) => {
            print.error(format!("bad configuration: {e}"));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            print.error(format!("bad configuration: {e}"));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    tracing::debug!(
        state = %app.config.state,
        targets = app.monitors.iter().map(|m| m.targets().len()).sum::<usize>(),
        channels = ?app.config.channel_names(),
        "configured"
    );
    ExitCode::from(match cli.command {
        Command::Run { dry_run, scope } => run(app, dry_run, &scope, print).await,
        Command::Report {
            filter,
            send,
            by,
            format,
            output,
            scope,
        } => {
            let out = ReportOut { format, output };
            report(app, filter, send, by, &scope, &out, print).await
        }
        Command::Status { scope } => status(app, &scope, print).await,
        Command::Check => check(app, print).await,
        Command::Exempt(command) => exempt::exempt(app, command, print).await,
        Command::Completions { .. } | Command::Man { .. } => unreachable!("handled above"),
    })
}

async fn run(mut app: App, dry_run: bool, scope: &Scope, print: Print) -> u8 {
    let selection = scope.selection();
    // Sources left out are not read at all (only a dry run has a selection).
    app.monitors.retain(|m| selection.keeps_source(m.source()));
    let progress = !print.quiet && !print.json && std::io::stderr().is_terminal();
    let (watch, monitors) = watch::Watch::wrap(std::mem::take(&mut app.monitors), progress);
    app.monitors = monitors;
    // Without a budget: collection's own bound plus time to commit and deliver.
    let budget = app
        .config
        .pass_budget
        .unwrap_or(app.config.target_timeout + std::time::Duration::from_secs(120));
    let summary = app.run(dry_run, Deadline::after(budget)).await;
    let failed = summary.failed();
    let seen = watch.seen();
    let keys: Vec<TargetKey> = seen.iter().map(|s| s.key.clone()).collect();
    let unmatched = selection.unmatched(&keys);
    if !unmatched.is_empty() && !failed {
        print.error(selection.unmatched_error(&unmatched, &keys, "configured"));
        return EXIT_CONFIG;
    }
    let summary = narrow::summary(summary, &selection);
    print.result(&summary, || output::run_text(&summary));
    if failed {
        if print.quiet {
            print.error(summary.failure_text());
        }
        if !unmatched.is_empty() {
            print.note(format!(
                "--target {} matched no target read; it may be one that failed",
                unmatched.join(",")
            ));
        }
    }
    let found = scope.fail_on_findings.then(|| {
        seen.iter()
            .filter(|s| selection.keeps(&s.key))
            .flat_map(|s| &s.non_compliant)
            .filter(|(id, status)| findings::is_finding(id, *status, &app.config.exemptions))
            .count()
    });
    print.finish(failed, found)
}

/// Where and how `report` writes the report (`--format`, `--output`).
struct ReportOut {
    format: Option<args::ReportFormat>,
    output: Option<std::path::PathBuf>,
}

impl ReportOut {
    /// `--json` is `--format json`; with another format it is a usage error.
    fn format(&self, print: Print) -> Result<args::ReportFormat, String> {
        use args::ReportFormat::{Json, Table};
        match (self.format, print.json) {
            (None, false) => Ok(Table),
            (None, true) | (Some(Json), _) => Ok(Json),
            (Some(f), false) => Ok(f),
            (Some(f), true) => Err(format!(
                "--json asks for --format json, but --format is {}",
                clap::ValueEnum::to_possible_value(&f)
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            )),
        }
    }
}

async fn report(
    mut app: App,
    filter: Filter,
    send: bool,
    by: Option<args::ReportBy>,
    scope: &Scope,
    out: &ReportOut,
    print: Print,
) -> u8 {
    // Checked before anything is read or sent.
    let format = match out.format(print) {
        Ok(f) => f,
        Err(e) => {
            print.error(e);
            return EXIT_CONFIG;
        }
    };
    let selection = scope.selection();
    let found = match read_state(&mut app, &selection, print).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    match app.report(filter, send).await {
        Ok((report, outcomes)) if by == Some(args::ReportBy::Person) => {
            let people = crate::domain::people::by_person(&report.rows, &app.people);
            print.result(
                &serde_json::json!({"people": people, "channels": outcomes}),
                || crate::notifiers::people_table::people_table(&people),
            );
            let failed = outcomes.iter().any(|o| o.error.is_some());
            print.finish(failed, scope.fail_on_findings.then_some(found))
        }
        Ok((report, outcomes)) => {
            let text = match format {
                args::ReportFormat::Table => Ok(output::report_text(&report, &outcomes)),
                args::ReportFormat::Json => Ok(format!(
                    "{}\n",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"report": report, "channels": outcomes})
                    )
                    .expect("serializes")
                )),
                args::ReportFormat::Csv => {
                    crate::notifiers::csv::render(&report).map_err(|e| e.to_string())
                }
                args::ReportFormat::Html => {
                    crate::notifiers::html::render(&report).map_err(|e| e.to_string())
                }
                args::ReportFormat::Ocsf => Ok(crate::notifiers::ocsf::render(&report)),
            };
            let written = text.and_then(|text| match &out.output {
                Some(path) => std::fs::write(path, text)
                    .map_err(|e| format!("could not write --output {}: {e}", path.display())),
                // The table is chatter `--quiet` silences; the data formats
                // are what was asked for.
                None if format == args::ReportFormat::Table && print.quiet => Ok(()),
                None => {
                    print!("{text}");
                    Ok(())
                }
            });
            if let Err(e) = &written {
                print.error(e);
            }
            let failed = outcomes.iter().any(|o| o.error.is_some());
            // Channel results are in the table and the JSON; the other
            // formats and --quiet say a failed channel on stderr.
            if print.quiet
                || !matches!(format, args::ReportFormat::Table | args::ReportFormat::Json)
            {
                for o in &outcomes {
                    if let Some(e) = &o.error {
                        print.error(format!("channel {}: {e}", o.channel));
                    }
                }
            }
            print.finish(
                failed || written.is_err(),
                scope.fail_on_findings.then_some(found),
            )
        }
        Err(e) => {
            print.error(e);
            EXIT_FAILED
        }
    }
}

async fn status(mut app: App, scope: &Scope, print: Print) -> u8 {
    let selection = scope.selection();
    let found = match read_state(&mut app, &selection, print).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    match app.status().await {
        Ok(report) => {
            print.result(&report, || {
                output::status_text(&report, &app.config.exemptions)
            });
            print.finish(false, scope.fail_on_findings.then_some(found))
        }
        Err(e) => {
            print.error(e);
            EXIT_FAILED
        }
    }
}

async fn check(app: App, print: Print) -> u8 {
    let items = app.check().await;
    print.result(&items, || output::check_text(&items));
    if print.quiet {
        for i in items.iter().filter(|i| !i.ok) {
            print.error(format!("check failed: {}: {}", i.component, i.detail));
        }
    }
    if items.iter().all(|i| i.ok) {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Reads the stored targets once and puts the selected ones in front of
/// the store for `status` and `report`; returns the findings among them,
/// or the exit code: 1 when the state cannot be read, 2 for a `--target`
/// that matches nothing stored.
async fn read_state(app: &mut App, selection: &Selection, print: Print) -> Result<usize, u8> {
    let store = std::mem::replace(
        &mut app.store,
        Box::new(crate::state::memory::MemoryStore::new()),
    );
    let (narrowed, known) = match narrow::ReadOnce::read(store, selection.clone()).await {
        Ok(read) => read,
        Err((store, e)) => {
            app.store = store;
            print.error(e);
            return Err(EXIT_FAILED);
        }
    };
    let found = findings::in_stored(&narrowed.targets, &app.config.exemptions);
    app.store = Box::new(narrowed);
    let unmatched = selection.unmatched(&known);
    if !unmatched.is_empty() {
        print.error(selection.unmatched_error(&unmatched, &known, "in the state"));
        return Err(EXIT_CONFIG);
    }
    Ok(found)
}
