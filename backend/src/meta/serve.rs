//! Starting the meta-model (`lab serve meta-model`).

use std::path::PathBuf;
use std::time::Duration;

use crate::service::{process, CommonArgs};

use super::Meta;

/// `lab serve meta-model`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Models registered at start (name=url, comma-separated); more can join at run time.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = name_url,
        default_value = "A=http://localhost:5001,B=http://localhost:5002,C=http://localhost:5003"
    )]
    pub models: Vec<(String, String)>,
    /// The ledger (balances, weights, events).
    #[arg(long, env = "LAB_META_DB", default_value = "data/meta.sqlite3")]
    pub db: PathBuf,
    /// How long each model gets to answer, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_ms: u64,
}

/// One `--models` item: a model's name and its URL.
fn name_url(text: &str) -> Result<(String, String), String> {
    process::key_value(text, "name=url")
}

/// Open the ledger and serve the meta-model (default port 6001) until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let name = args.common.name_or("meta-model");
    let service = super::service(&name);
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let meta = Meta::open(&args.db, &args.models, timeout, &service).await?;
    tokio::spawn(meta.clone().settle_forever());
    let events = service.events();
    process::serve(args.common.addr(6001), super::router(service, meta), events).await
}
