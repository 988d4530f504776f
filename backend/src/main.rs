//! `lab`: the one binary of the lab. `lab up` runs everything; `lab serve <service>` runs one
//! service. See `lab --help`.

use clap::Parser;
use std::io::IsTerminal;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = backend::cli::Cli::parse();
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
    cli.run().await
}
