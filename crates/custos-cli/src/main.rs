//! The `custos` command.

/// `println!` for text meant for a person's terminal: control characters escaped
/// ([`render::terminal`]), so no stored text can move the cursor or erase a marker.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::render::emit(&format!("{}\n", format_args!($($t)*)))
    };
}

mod audit_cmd;
mod auth;
mod autonomy_cmd;
mod bench;
mod build;
mod cli;
mod doctor_cmd;
mod evidence_cmd;
mod findings_cmd;
mod iam_cmd;
mod identity_cmd;
mod policy_cmd;
mod remote;
mod remote_cmd;
mod render;
mod replay_cmd;
mod serve_cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG").unwrap_or_else(|_| "warn".into())
    };
    match cli.log_format {
        cli::LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        cli::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_RUNTIME);
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", render::terminal(&e.error.to_string()));
            ExitCode::from(e.code)
        }
    }
}
