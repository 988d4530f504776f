//! Starting a sync node (`lab serve sync-node`).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Explained;
use crate::service::{self, process, CommonArgs};

use super::crdt::NodeId;
use super::node::{NodeConfig, SyncNode};

/// `lab serve sync-node`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// This node's id in the cluster (unique, a small number).
    #[arg(long, default_value_t = 1)]
    pub id: NodeId,
    /// The other nodes, as id=url, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = id_url,
        default_value = "2=http://localhost:7002,3=http://localhost:7003"
    )]
    pub peers: Vec<Option<(NodeId, String)>>,
    #[arg(long, env = "LAB_SYNC_DB", default_value = "data/sync-node.sqlite3")]
    pub db: PathBuf,
    /// Client requests per window above which the node switches to CRDT-only.
    #[arg(long, env = "HIGH_REQUEST", default_value_t = 50)]
    pub high_request: u64,
    /// Below this many requests per window it switches back (default: half of HIGH_REQUEST).
    #[arg(long)]
    pub low_request: Option<u64>,
    /// The load window, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// How often the node pulls its peers' state, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub anti_entropy_ms: u64,
}

/// One `--peers` item: a node's id and base URL. An empty item is no peer, so that
/// `--peers ''` runs a node alone.
fn id_url(text: &str) -> Result<Option<(NodeId, String)>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let (id, url): (NodeId, String) = process::key_value(text, "id=url")?;
    Ok(Some((id, url.trim_end_matches('/').to_owned())))
}

/// Open the node's database and serve it (default port 7001) until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs { common, id, peers, db, high_request, low_request, window_ms, anti_entropy_ms } =
        args;
    let name = common.name_or(&format!("node-{id}"));
    let addr = common.addr(7001);
    let config = NodeConfig {
        id,
        name: name.clone(),
        bind: addr.ip().to_string(),
        port: addr.port(),
        peers: peers.into_iter().flatten().collect(),
        high: high_request,
        low: low_request.unwrap_or(high_request / 2),
        window: Duration::from_millis(window_ms.max(10)),
        anti_entropy: Duration::from_millis(anti_entropy_ms.max(10)),
    };
    let service = super::service(&name).with_bugs(&common.bugs).map_err(Explained)?;
    let node = SyncNode::open(config, &db, &service).await?;
    node.spawn_background();
    let events = service.events();
    let (app, io) = super::router(service, node);
    // Open Socket.IO connections (long polls especially) would hold a graceful shutdown
    // forever: close them when the stop comes.
    service::run(process::listen(addr).await?, app, async move {
        service::stop_signal(events).await;
        tokio::spawn(async move { io.close().await });
    })
    .await?;
    Ok(())
}
