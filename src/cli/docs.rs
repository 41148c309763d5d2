//! Shell completions and man pages, generated from the clap definitions so
//! they never drift from the binary. The repository's man pages are made
//! by `cargo run --quiet -- man docs/man` (a test checks they are current).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::args::Cli;

pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "mfa-monitor", out);
}

/// One page per command, git-style: `mfa-monitor.1`, `mfa-monitor-run.1`, …
/// Nothing in them depends on the date or the machine.
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}
