//! The command line as clap reads it (contract: subcommand and flag names).
//! The completions and man pages are generated from these definitions.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand};

use super::scope::{Selection, TargetSelector};
use crate::domain::report::Filter;
use crate::domain::Source;

/// Shown after `--help` and in the man page.
const EXIT_CODES: &str = "\
Exit codes:
  0  all well
  1  a source or channel failed, or the state could not
     be read or written
  2  bad configuration or usage (the message names the
     variable or flag at fault)
  3  only with --fail-on-findings: non-compliant principals
     (MFA disabled or insecure, not exempt) among those
     looked at; 1 and 2 win over 3

Colour only on a terminal, never with NO_COLOR set.
Logs go to stderr.";

#[derive(Debug, Parser)]
#[command(
    name = "mfa-monitor",
    version,
    about = "Alerts when accounts in GitHub, AWS IAM or Snowflake lose or lack MFA",
    after_long_help = EXIT_CODES
)]
pub struct Cli {
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors (and the JSON with --json); log errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More logs on stderr: -v info, -vv debug.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log level `-q`/`-v` chose; `None` leaves it to `RUST_LOG`.
    pub fn log_level(&self) -> Option<&'static str> {
        match (self.quiet, self.verbose) {
            (true, _) => Some("error"),
            (false, 0) => None,
            (false, 1) => Some("info"),
            (false, _) => Some("debug"),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: collect, diff against stored state, alert, commit.
    ///
    /// --source and --target need --dry-run: a real pass reads and commits
    /// every configured target, because a pass over some of them would leave
    /// the others unread until the next full pass, their changes not alerted
    /// and their failures not counted. Configure fewer targets to monitor
    /// fewer.
    Run {
        /// Collect and diff, print what would be sent; neither notify nor commit.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// The status of every principal from the stored state, non-compliant first.
    Report {
        /// `enabled`: MFA on; `disabled`: no MFA, SMS only, or unknown.
        #[arg(long, value_enum, default_value = "all")]
        filter: Filter,
        /// Also mail it (HTML table) and post a Slack summary; with --source
        /// or --target, the narrowed report is what is sent.
        #[arg(long)]
        send: bool,
        /// `person`: each person (linked by e-mail through MFA_PEOPLE_FILE,
        /// else the address the source gives: Snowflake EMAIL, the IAM tag
        /// MFA_EMAIL_TAG) with their accounts in every source, people
        /// lacking MFA first; accounts linked to nobody apart.
        #[arg(long, value_enum)]
        by: Option<ReportBy>,
        /// `table` (the default), `json` (the same as --json), `csv` (one
        /// row per principal, formula cells neutralised), `html` (one
        /// self-contained page with filters) or `ocsf` (one OCSF Compliance
        /// Finding per principal without MFA, as JSON lines).
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Writes the report to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        scope: Scope,
    },
    /// What the state store holds.
    Status {
        #[command(flatten)]
        scope: Scope,
    },
    /// Configuration and reachability of every source and channel.
    Check,
    /// Exemptions that end: add, list or remove them in the state store,
    /// without a redeploy. Each change shows as an `info` line in the next
    /// pass's message.
    #[command(subcommand)]
    Exempt(ExemptCommand),
    /// Prints a shell completion script.
    ///
    /// E.g. `mfa-monitor completions bash > /etc/bash_completion.d/mfa-monitor`,
    /// or `mfa-monitor completions zsh > ~/.zfunc/_mfa-monitor`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Writes the man pages, one per command, into DIR.
    ///
    /// E.g. `mfa-monitor man /usr/local/share/man/man1`. The repository's
    /// copies in docs/man/ are made by `cargo run --quiet -- man docs/man`.
    Man { dir: PathBuf },
}

/// `report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Html,
    Ocsf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ExemptCommand {
    /// Exempts a principal until a date (inclusive), with a reason.
    ///
    /// E.g. `mfa-monitor exempt add github:acme/contractor --until 2026-12-31
    /// --reason "hardware key on order" --owner sec@example.com`.
    Add {
        /// SOURCE:TARGET/NAME, e.g. aws:123456789012/alice.
        principal: String,
        /// The last day the exemption holds (YYYY-MM-DD, UTC), at most
        /// MFA_EXEMPT_MAX_DAYS (365) days ahead.
        #[arg(long)]
        until: String,
        /// Why the account may go without MFA until then.
        #[arg(long)]
        reason: String,
        /// Who answers for it (an e-mail address).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Every exemption: the stored ones with their days left, and the
    /// permanent ones of MFA_EXEMPT.
    List,
    /// Ends a principal's exemption now.
    Remove {
        /// SOURCE:TARGET/NAME.
        principal: String,
    },
}

/// Which sources and targets a command looks at, and whether findings
/// among them fail it.
#[derive(Debug, Clone, Default, Args)]
pub struct Scope {
    /// Only this source: github, aws or snowflake (repeat it, or a comma list).
    #[arg(
        long = "source",
        value_name = "SOURCE",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(Source::ALL.map(Source::as_str))
            .map(|s| s.parse::<Source>().expect("a possible value")),
    )]
    pub sources: Vec<Source>,
    /// Only this target: an org, account id or Snowflake account (`acme`), or
    /// SOURCE:TARGET (`github:acme`); repeat it, or a comma list. A target
    /// that matches nothing is an error (exit 2). A dry run reads every
    /// target of the selected sources and shows the chosen ones, and any
    /// that failed.
    #[arg(long = "target", value_name = "TARGET", value_delimiter = ',')]
    pub targets: Vec<TargetSelector>,
    /// Exit 3 when non-compliant principals (MFA disabled or insecure, not
    /// exempt) are among those looked at: `report` counts them whatever
    /// --filter lists.
    #[arg(long)]
    pub fail_on_findings: bool,
}

impl Scope {
    pub fn selection(&self) -> Selection {
        Selection::new(self.sources.clone(), self.targets.clone())
    }
}

/// `report --by`: how the report is grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportBy {
    /// One entry per person, linked by e-mail.
    Person,
}
