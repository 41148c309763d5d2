use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    mfa_monitor::logging::init(lambda);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mfa-monitor: cannot start the async runtime: {e}");
            return ExitCode::from(mfa_monitor::cli::EXIT_FAILED);
        }
    };
    if lambda {
        return match runtime.block_on(mfa_monitor::lambda::serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "Lambda runtime stopped");
                ExitCode::from(mfa_monitor::cli::EXIT_FAILED)
            }
        };
    }
    let cli = mfa_monitor::cli::Cli::parse();
    runtime.block_on(mfa_monitor::cli::main(cli))
}
