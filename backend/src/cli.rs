//! The `lab` command line: `lab up` runs the whole lab, `lab serve <service>` runs one service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::catalog::Ports;
use crate::control::{self, UpConfig};
use crate::{meta, model, redundancy, registry, service, shop, sync_node};

/// An error that says all there is to say — what failed, why, and what to do — so the user gets
/// that one line and never a backtrace (even with `RUST_BACKTRACE` set, as it is on many
/// machines). Other errors show their backtrace when `RUST_BACKTRACE` asks for one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Explained(pub String);

#[derive(Debug, Parser)]
#[command(name = "lab", version, about = "A distributed computing and data redundancy lab")]
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
    /// Call the shop through the registry, retrying on the next server when one fails, and say
    /// which server answered (e.g. `lab client GET /products --repeat 20`).
    Client(ClientArgs),
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// HTTP method.
    pub method: String,
    /// Path on the shop, e.g. /products or /cart/1.
    pub path: String,
    /// JSON body, for POST and PUT.
    pub body: Option<String>,
    /// The registry's URL.
    #[arg(long, env = "LAB_REGISTRY", default_value = "http://localhost:8000")]
    pub registry: String,
    /// Send the request this many times (to watch failover while you stop a server).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Pause between repeats, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
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
    /// Move single services to other ports: `--ports shop-a=4001,node-1=7101` (names as in
    /// `GET /api/services`; `registry-dns` is the registry's UDP DNS port).
    #[arg(long, value_delimiter = ',', value_name = "SERVICE=PORT")]
    pub ports: Vec<String>,
    /// How long to wait for every service to be ready before giving up, in seconds.
    #[arg(long, default_value_t = 60)]
    pub ready_timeout_s: u64,
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
    /// Switch deliberate protocol bugs on from the start (sync nodes:
    /// paxos-ignore-promised-values, paxos-accept-below-promise, crdt-forget-remote-adds;
    /// mirroring: mirror-ack-before-mirror-commit). Off unless named.
    #[arg(long = "bug", value_delimiter = ',', value_name = "NAME")]
    pub bugs: Vec<shared::bugs::Bug>,
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
    /// The health-checked registry of shop servers (the workshop's DNS registry; default 8000),
    /// answering `GET /getServer` and real DNS queries.
    Registry {
        #[command(flatten)]
        common: CommonArgs,
        /// The shop servers to check and hand out, as host:port.
        #[arg(long, value_delimiter = ',', default_value = "localhost:3001,localhost:3002")]
        servers: Vec<String>,
        /// How often each server's `GET /health` is called, in milliseconds.
        #[arg(long, default_value_t = 200)]
        interval_ms: u64,
        /// Failed checks in a row that take an up server down.
        #[arg(long, default_value_t = 2)]
        fall: u32,
        /// Passed checks in a row that bring a down server back.
        #[arg(long, default_value_t = 2)]
        rise: u32,
        /// UDP port of the DNS server (0: no DNS).
        #[arg(long, default_value_t = 8053)]
        dns_port: u16,
        /// The name answered with A and SRV records of the up servers.
        #[arg(long, default_value = "shop.lab.")]
        dns_name: String,
    },
    /// An Iris classifier (the workshop's models A, B, C; default port 5001).
    Model {
        #[command(flatten)]
        common: CommonArgs,
        /// The name in its answers (`"model":"A"`); defaults to the service name.
        #[arg(long)]
        model_name: Option<String>,
        #[arg(long, value_enum, default_value = "random-forest")]
        algo: model::Algorithm,
        /// honest, random, inverted, slow or flapping (also changeable at run time:
        /// `PUT /admin/behavior`).
        #[arg(long, default_value = "honest")]
        behavior: shared::models::Behavior,
    },
    /// The stake-weighted meta-model over the classifiers (default port 6001).
    MetaModel {
        #[command(flatten)]
        common: CommonArgs,
        /// Models registered at start (name=url, comma-separated); more can join at run time.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "A=http://localhost:5001,B=http://localhost:5002,C=http://localhost:5003"
        )]
        models: Vec<String>,
        /// The ledger (balances, weights, events).
        #[arg(long, env = "LAB_META_DB", default_value = "data/meta.sqlite3")]
        db: PathBuf,
        /// How long each model gets to answer, in milliseconds.
        #[arg(long, default_value_t = 300)]
        timeout_ms: u64,
    },
    /// A standalone shop store (primary or mirror) for the redundant shops (3011/3012, 3021/3022).
    Store {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, env = "LAB_STORE_DB", default_value = "data/store.sqlite3")]
        db: PathBuf,
        /// The role of a new store (a store keeps the role it has, e.g. after a promotion).
        #[arg(long, default_value = "primary", value_parser = ["primary", "mirror"])]
        role: String,
    },
    /// The shop with synchronous mirroring (default port 3010).
    Mirroring {
        #[command(flatten)]
        common: CommonArgs,
        /// One of the two stores: taken for the primary until the stores say which is (each
        /// keeps its role on disk, e.g. after a failover).
        #[arg(long, default_value = "http://localhost:3011")]
        primary: String,
        /// The other store: taken for the mirror until the stores say which is.
        #[arg(long, default_value = "http://localhost:3012")]
        mirror: String,
        /// How long a write waits for the mirror's confirmation before it is refused.
        #[arg(long, default_value_t = 500)]
        mirror_timeout_ms: u64,
    },
    /// The shop with asynchronous replication (default port 3020).
    Replication {
        #[command(flatten)]
        common: CommonArgs,
        /// One of the two stores: taken for the primary until the stores say which is (each
        /// keeps its role on disk, e.g. after a failover).
        #[arg(long, default_value = "http://localhost:3021")]
        primary: String,
        /// The other store: taken for the mirror until the stores say which is.
        #[arg(long, default_value = "http://localhost:3022")]
        mirror: String,
        /// Ship the change log every this many milliseconds (0: only on `POST /sync`).
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
    },
    /// A sync node (CRDT + Paxos; default port 7001).
    SyncNode {
        #[command(flatten)]
        common: CommonArgs,
        /// This node's id in the cluster (unique, a small number).
        #[arg(long, default_value_t = 1)]
        id: u64,
        /// The other nodes, as id=url, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "2=http://localhost:7002,3=http://localhost:7003"
        )]
        peers: Vec<String>,
        #[arg(long, env = "LAB_SYNC_DB", default_value = "data/sync-node.sqlite3")]
        db: PathBuf,
        /// Client requests per window above which the node switches to CRDT-only.
        #[arg(long, env = "HIGH_REQUEST", default_value_t = 50)]
        high_request: u64,
        /// Below this many requests per window it switches back (default: half of HIGH_REQUEST).
        #[arg(long)]
        low_request: Option<u64>,
        /// The load window, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        window_ms: u64,
        /// How often the node pulls its peers' state, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        anti_entropy_ms: u64,
    },
}

impl ServeCommand {
    fn common(&self) -> &CommonArgs {
        match self {
            ServeCommand::Shop { common, .. }
            | ServeCommand::Model { common, .. }
            | ServeCommand::MetaModel { common, .. }
            | ServeCommand::Store { common, .. }
            | ServeCommand::Mirroring { common, .. }
            | ServeCommand::Replication { common, .. }
            | ServeCommand::SyncNode { common, .. }
            | ServeCommand::Registry { common, .. } => common,
        }
    }

    async fn run(self) -> anyhow::Result<()> {
        let bugs_here =
            matches!(self, ServeCommand::SyncNode { .. } | ServeCommand::Mirroring { .. });
        if let (false, Some(bug)) = (bugs_here, self.common().bugs.first()) {
            return Err(Explained(format!("{bug} lives in the {} services", bug.lives_in())).into());
        }
        match self {
            ServeCommand::Shop { common, db } => {
                let name = common.name.clone().unwrap_or_else(|| "shop".to_owned());
                let store = shop::ShopStore::open(&db).await?;
                tracing::info!(service = %name, db = %db.display(), "shop store open");
                let service = shop::service(&name, &store);
                let events = service.events();
                serve(common.addr(3001), service.into_router(shop::routes(store)), events).await
            }
            ServeCommand::Model { common, model_name, algo, behavior } => {
                let name = common.name.clone().unwrap_or_else(|| "model".to_owned());
                let service = model::service(&name);
                let trained = model::Model::train(
                    model_name.as_deref().unwrap_or(&name),
                    algo,
                    behavior,
                    service.events(),
                )?;
                let events = service.events();
                serve(common.addr(5001), model::router(service, trained), events).await
            }
            ServeCommand::MetaModel { common, models, db, timeout_ms } => {
                let name = common.name.clone().unwrap_or_else(|| "meta-model".to_owned());
                let defaults = models
                    .iter()
                    .map(|m| {
                        m.split_once('=')
                            .map(|(n, u)| (n.trim().to_owned(), u.trim().to_owned()))
                            .ok_or_else(|| anyhow::anyhow!("--models wants name=url, got {m:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let service = meta::service(&name);
                let meta = meta::Meta::open(
                    &db,
                    &defaults,
                    Duration::from_millis(timeout_ms.max(1)),
                    &service,
                )
                .await?;
                tokio::spawn(meta.clone().settle_forever());
                let events = service.events();
                serve(common.addr(6001), meta::router(service, meta), events).await
            }
            ServeCommand::Store { common, db, role } => {
                let name = common.name.clone().unwrap_or_else(|| "store".to_owned());
                let store = shop::ShopStore::open_logged(&db).await?;
                store.init_role(role == "mirror").await?;
                let state = store.replication_state(true).await?;
                tracing::info!(service = %name, db = %db.display(), role = %state.role, seq = state.last_seq, integrity = %state.integrity, "store open");
                let app = shop::store_router(&name, store);
                serve(common.addr(3011), app, service::EventBus::new(&name)).await
            }
            ServeCommand::Mirroring { common, primary, mirror, mirror_timeout_ms } => {
                let config = redundancy::FrontConfig {
                    mode: redundancy::Mode::Sync,
                    primary,
                    mirror,
                    interval: Duration::ZERO,
                    mirror_timeout: Duration::from_millis(mirror_timeout_ms.max(1)),
                };
                run_front(common, config, "mirroring", 3010).await
            }
            ServeCommand::Replication { common, primary, mirror, interval_ms } => {
                let config = redundancy::FrontConfig {
                    mode: redundancy::Mode::Async,
                    primary,
                    mirror,
                    interval: Duration::from_millis(interval_ms),
                    mirror_timeout: Duration::ZERO,
                };
                run_front(common, config, "replication", 3020).await
            }
            ServeCommand::SyncNode {
                common,
                id,
                peers,
                db,
                high_request,
                low_request,
                window_ms,
                anti_entropy_ms,
            } => {
                let name = common.name.clone().unwrap_or_else(|| format!("node-{id}"));
                let peers = peers
                    .iter()
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (peer_id, url) = p
                            .split_once('=')
                            .ok_or_else(|| anyhow::anyhow!("--peers wants id=url, got {p:?}"))?;
                        Ok((
                            peer_id.trim().parse::<u64>()?,
                            url.trim().trim_end_matches('/').to_owned(),
                        ))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let addr = common.addr(7001);
                let config = sync_node::node::NodeConfig {
                    id,
                    name: name.clone(),
                    bind: addr.ip().to_string(),
                    port: addr.port(),
                    peers,
                    high: high_request,
                    low: low_request.unwrap_or(high_request / 2),
                    window: Duration::from_millis(window_ms.max(10)),
                    anti_entropy: Duration::from_millis(anti_entropy_ms.max(10)),
                };
                let service =
                    sync_node::service(&name).with_bugs(&common.bugs).map_err(Explained)?;
                let node = sync_node::node::SyncNode::open(config, &db, &service).await?;
                node.spawn_background();
                let events = service.events();
                let (app, io) = sync_node::router(service, node);
                // Open Socket.IO connections (long polls especially) would hold a graceful
                // shutdown forever: close them when the stop comes.
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
                service::run(listener, app, async move {
                    service::stop_signal(events).await;
                    tokio::spawn(async move { io.close().await });
                })
                .await?;
                Ok(())
            }
            ServeCommand::Registry {
                common,
                servers,
                interval_ms,
                fall,
                rise,
                dns_port,
                dns_name,
            } => {
                let name = common.name.clone().unwrap_or_else(|| "registry".to_owned());
                let dns_name =
                    if dns_name.ends_with('.') { dns_name } else { format!("{dns_name}.") };
                let config = registry::RegistryConfig {
                    interval: Duration::from_millis(interval_ms.max(10)),
                    thresholds: registry::pool::Thresholds { fall: fall.max(1), rise: rise.max(1) },
                    dns_name,
                    dns_port: (dns_port != 0).then_some(dns_port),
                };
                let service = registry::service(&name);
                let registry = registry::Registry::new(config, &servers, &service);
                tokio::spawn(registry.clone().check_forever());
                let _dns = match registry.config().dns_port {
                    Some(port) => Some(
                        registry::dns::serve(registry.clone(), SocketAddr::new(common.bind, port))
                            .await?,
                    ),
                    None => None,
                };
                let events = service.events();
                serve(common.addr(8000), registry::router(service, registry), events).await
            }
        }
    }
}

async fn run_front(
    common: CommonArgs,
    config: redundancy::FrontConfig,
    default_name: &str,
    port: u16,
) -> anyhow::Result<()> {
    let name = common.name.clone().unwrap_or_else(|| default_name.to_owned());
    let service =
        redundancy::service(&name, config.mode).with_bugs(&common.bugs).map_err(Explained)?;
    tracing::info!(service = %name, stores = ?[&config.primary, &config.mirror], mode = ?config.mode, "front: the stores say which is the primary");
    let front = redundancy::Front::new(&config, &service);
    tokio::spawn(front.clone().learn_roles_forever());
    tokio::spawn(front.clone().replicate_forever());
    let events = service.events();
    serve(common.addr(port), redundancy::router(service, front), events).await
}

/// Serve one service's router until Ctrl-C or SIGTERM.
async fn serve(
    addr: SocketAddr,
    app: axum::Router,
    events: service::EventBus,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    service::run(listener, app, service::stop_signal(events)).await?;
    Ok(())
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(args) => {
                let mut ports = if args.free_ports {
                    Ports::free(args.bind)?
                } else {
                    Ports { control: args.port, ..Ports::default() }
                };
                for moved in &args.ports {
                    let (name, port) = moved
                        .split_once('=')
                        .and_then(|(name, port)| Some((name.trim(), port.trim().parse().ok()?)))
                        .ok_or_else(|| {
                            Explained(format!("--ports wants service=port, got {moved:?}"))
                        })?;
                    ports.set(name, port).map_err(|e| Explained(e.to_string()))?;
                }
                control::up(UpConfig {
                    bind: args.bind,
                    ports,
                    dist: args.dist,
                    data: args.data,
                    health_interval: Duration::from_millis(args.health_interval_ms.max(50)),
                    ready_within: Duration::from_secs(args.ready_timeout_s.max(1)),
                })
                .await
            }
            Command::Serve { service } => service.run().await,
            Command::Client(args) => run_client(args).await,
        }
    }
}

/// `lab client`: print one line per request — which server answered, after which failures.
async fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let method: reqwest::Method = args.method.to_uppercase().parse()?;
    let body: Option<serde_json::Value> = match &args.body {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| anyhow::anyhow!("body is not JSON: {e}"))?)
        }
        None => None,
    };
    let client = crate::shop_client::ShopClient::new(&args.registry);
    let (mut ok, mut failed) = (0u32, 0u32);
    let mut out = std::io::stdout();
    for n in 1..=args.repeat.max(1) {
        match client.send(method.clone(), &args.path, body.as_ref()).await {
            Ok(answer) => {
                ok += 1;
                let retried =
                    answer.failed.iter().map(|a| format!(" [{} failed: {}]", a.server, a.outcome));
                writeln!(
                    out,
                    "#{n} {} {}{} {}",
                    answer.server,
                    answer.status,
                    retried.collect::<String>(),
                    answer.body
                )?;
            }
            Err(err) => {
                failed += 1;
                writeln!(out, "#{n} FAILED: {err}")?;
            }
        }
        if n < args.repeat {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
    if args.repeat > 1 {
        writeln!(out, "{ok} answered, {failed} failed")?;
    }
    anyhow::ensure!(failed == 0, "{failed} request(s) failed");
    Ok(())
}
