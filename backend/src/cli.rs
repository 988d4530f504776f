//! The `lab` command line: `lab up` runs the whole lab, `lab serve <service>` runs one service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::catalog::Ports;
use crate::control::{self, UpConfig};
use crate::{service, shop};

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "A distributed computing and data redundancy lab"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every service as its own process, plus the dashboard and control plane (:8080).
    Up(UpArgs),
    /// Run one service in this process.
    Serve {
        #[command(subcommand)]
        service: ServeCommand,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address every service binds (loopback by default: nobody off this machine can reach the lab).
    #[arg(long, env = "LAB_BIND", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Port of the dashboard and control plane.
    #[arg(long, env = "LAB_CONTROL_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Let the OS choose every port (a second lab beside a running one, as the tests do).
    #[arg(long)]
    pub free_ports: bool,
    /// The built dashboard.
    #[arg(long, env = "LAB_DIST", default_value = "dist")]
    pub dist: PathBuf,
    /// Where services keep their databases.
    #[arg(long, env = "LAB_DATA", default_value = "data")]
    pub data: PathBuf,
    /// How often the control plane checks every service's health, in milliseconds.
    #[arg(long, env = "LAB_HEALTH_INTERVAL_MS", default_value_t = 1000)]
    pub health_interval_ms: u64,
}

/// What every service takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The service's name in the lab (shop-a, model-b, ...).
    #[arg(long)]
    pub name: Option<String>,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Port to listen on (each service has its workshop default).
    #[arg(long)]
    pub port: Option<u16>,
}

impl CommonArgs {
    fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.bind, self.port.unwrap_or(default_port))
    }
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// An e-commerce API server (the workshop's server A or B; default port 3001).
    Shop {
        #[command(flatten)]
        common: CommonArgs,
        /// The SQLite file; servers given the same file share the shop.
        #[arg(long, env = "LAB_SHOP_DB", default_value = "data/shop.sqlite3")]
        db: PathBuf,
    },
}

impl ServeCommand {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            ServeCommand::Shop { common, db } => {
                let name = common.name.clone().unwrap_or_else(|| "shop".to_owned());
                let store = shop::ShopStore::open(&db).await?;
                tracing::info!(service = %name, db = %db.display(), "shop store open");
                serve(common.addr(3001), shop::router(&name, store)).await
            }
        }
    }
}

/// Serve one service's router until Ctrl-C or SIGTERM.
async fn serve(addr: SocketAddr, app: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    service::run(listener, app, service::shutdown_signal()).await?;
    Ok(())
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(args) => {
                let ports = if args.free_ports {
                    Ports::free(args.bind)?
                } else {
                    Ports {
                        control: args.port,
                        ..Ports::default()
                    }
                };
                control::up(UpConfig {
                    bind: args.bind,
                    ports,
                    dist: args.dist,
                    data: args.data,
                    health_interval: Duration::from_millis(args.health_interval_ms.max(50)),
                })
                .await
            }
            Command::Serve { service } => service.run().await,
        }
    }
}
