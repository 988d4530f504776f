//! Starting the fronts: `lab serve mirroring` (sync) and `lab serve replication` (async).

use std::time::Duration;

use crate::cli::Explained;
use crate::service::{process, CommonArgs};

use super::{Front, FrontConfig, Mode};

/// `lab serve mirroring`.
#[derive(Debug, clap::Args)]
pub struct MirroringArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// One of the two stores: taken for the primary until the stores say which is (each
    /// keeps its role on disk, e.g. after a failover).
    #[arg(long, default_value = "http://localhost:3011")]
    pub primary: String,
    /// The other store: taken for the mirror until the stores say which is.
    #[arg(long, default_value = "http://localhost:3012")]
    pub mirror: String,
    /// How long a write waits for the mirror's confirmation before it is refused.
    #[arg(long, default_value_t = 500)]
    pub mirror_timeout_ms: u64,
}

/// `lab serve replication`.
#[derive(Debug, clap::Args)]
pub struct ReplicationArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// One of the two stores: taken for the primary until the stores say which is (each
    /// keeps its role on disk, e.g. after a failover).
    #[arg(long, default_value = "http://localhost:3021")]
    pub primary: String,
    /// The other store: taken for the mirror until the stores say which is.
    #[arg(long, default_value = "http://localhost:3022")]
    pub mirror: String,
    /// Ship the change log every this many milliseconds (0: only on `POST /sync`).
    #[arg(long, default_value_t = 0)]
    pub interval_ms: u64,
}

/// Serve the mirroring front (default port 3010) until Ctrl-C or SIGTERM.
pub async fn serve_mirroring(args: MirroringArgs) -> anyhow::Result<()> {
    let config = FrontConfig {
        mode: Mode::Sync,
        primary: args.primary,
        mirror: args.mirror,
        interval: Duration::ZERO,
        mirror_timeout: Duration::from_millis(args.mirror_timeout_ms.max(1)),
    };
    serve_front(args.common, config, "mirroring", 3010).await
}

/// Serve the replication front (default port 3020) until Ctrl-C or SIGTERM.
pub async fn serve_replication(args: ReplicationArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let config = FrontConfig {
        mode: Mode::Async,
        primary: args.primary,
        mirror: args.mirror,
        interval: Duration::from_millis(args.interval_ms),
        mirror_timeout: Duration::ZERO,
    };
    serve_front(args.common, config, "replication", 3020).await
}

async fn serve_front(
    common: CommonArgs,
    config: FrontConfig,
    default_name: &str,
    default_port: u16,
) -> anyhow::Result<()> {
    let name = common.name_or(default_name);
    let service = super::service(&name, config.mode).with_bugs(&common.bugs).map_err(Explained)?;
    tracing::info!(service = %name, stores = ?[&config.primary, &config.mirror], mode = ?config.mode, "front: the stores say which is the primary");
    let front = Front::new(&config, &service);
    tokio::spawn(front.clone().learn_roles_forever());
    tokio::spawn(front.clone().replicate_forever());
    let events = service.events();
    process::serve(common.addr(default_port), super::router(service, front), events).await
}
