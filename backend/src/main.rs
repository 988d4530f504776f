//! `lab`: the one binary of the lab. `lab up` runs everything; `lab serve <service>` runs one
//! service. See `lab --help`.

use clap::Parser;
use std::io::IsTerminal;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = backend::cli::Cli::parse();
    init_logging();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line saying what went wrong and why; the backtrace only when asked for, and
            // never for an error that explains itself.
            let backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
                && !err.is::<backend::cli::Explained>();
            let text = if backtrace { format!("{err:?}") } else { format!("{err:#}") };
            eprintln!("error: {text}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let ansi = std::env::var("LAB_LOG_ANSI")
        .map_or_else(|_| std::io::stderr().is_terminal(), |v| v != "0");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hickory_server=warn".into()),
        )
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}
