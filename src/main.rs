use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use mfa_monitor::cli::{self, Cli};

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        mfa_monitor::logging::init(true, None);
        return block_on(async {
            match mfa_monitor::lambda::serve().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "Lambda runtime stopped");
                    ExitCode::from(cli::EXIT_FAILED)
                }
            }
        });
    }
    // Parsed first: `-q`/`-v` choose the log level.
    let cli = Cli::parse();
    mfa_monitor::logging::init(false, cli.log_level());
    block_on(cli::main(cli))
}

fn block_on(work: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work),
        Err(e) => {
            eprintln!("mfa-monitor: cannot start the async runtime: {e}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
