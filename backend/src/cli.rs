//! The `lab` command line: `lab up` runs the whole lab, `lab serve <service>` runs one service.
//!
//! Each service owns its flags and its start-up (`shop::ServeArgs` and `shop::serve`, ...; the
//! flags they share are [`crate::service::CommonArgs`]); `lab serve` only picks the service.

use std::net::{IpAddr, Ipv4Addr};
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
    /// Judge a recorded history (JSON lines) against a model; prints the verdict as JSON and
    /// exits 0 (valid), 1 (invalid) or 2 (unknown: out of time, or a history it cannot read).
    Check(CheckArgs),
    /// Run a workload against a lab while a nemesis breaks it, record, heal, check: prints the
    /// verdict as JSON and exits 0 (valid), 1 (invalid) or 2 (unknown, or the run failed). E.g.
    /// `lab test --workload paxos-register --nemesis partition,kill --time 20 --seed 1`.
    Test(crate::lab_test::TestArgs),
    /// Not part of the lab: a bare axum server with one route (`GET /getServer`) and no
    /// middleware, the reference row `make bench` reads the services' figures against.
    #[command(hide = true)]
    BenchReference {
        /// Where it listens.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The model: max-register, set, ledger or mirror.
    #[arg(long)]
    pub model: crate::check::Model,
    /// The history file (`-` for standard input).
    pub file: PathBuf,
    /// Give up with "unknown" after this many seconds of search.
    #[arg(long, default_value_t = 30)]
    pub time_limit_s: u64,
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
    #[arg(long, value_delimiter = ',', value_name = "SERVICE=PORT", value_parser = service_port)]
    pub ports: Vec<(String, u16)>,
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
    /// Start with deliberate bugs switched on, in every service each lives in (comma-separated;
    /// e.g. `--bug crdt-forget-remote-adds`). A service restarted from the dashboard keeps them.
    #[arg(long = "bug", value_delimiter = ',', value_name = "NAME")]
    pub bugs: Vec<shared::bugs::Bug>,
}

/// One `--ports` item: a service's name and its new port.
fn service_port(text: &str) -> Result<(String, u16), String> {
    service::process::key_value(text, "service=port")
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// An e-commerce API server (the workshop's server A or B; default port 3001).
    Shop(shop::ServeArgs),
    /// The health-checked registry of shop servers (the workshop's DNS registry; default 8000),
    /// answering `GET /getServer` and real DNS queries.
    Registry(registry::ServeArgs),
    /// An Iris classifier (the workshop's models A, B, C; default port 5001).
    Model(model::ServeArgs),
    /// The stake-weighted meta-model over the classifiers (default port 6001).
    MetaModel(meta::ServeArgs),
    /// A standalone shop store (primary or mirror) for the redundant shops (3011/3012, 3021/3022).
    Store(shop::StoreArgs),
    /// The shop with synchronous mirroring (default port 3010).
    Mirroring(redundancy::MirroringArgs),
    /// The shop with asynchronous replication (default port 3020).
    Replication(redundancy::ReplicationArgs),
    /// A sync node (CRDT + Paxos; default port 7001).
    SyncNode(sync_node::ServeArgs),
}

impl ServeCommand {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            ServeCommand::Shop(args) => shop::serve(args).await,
            ServeCommand::Registry(args) => registry::serve(args).await,
            ServeCommand::Model(args) => model::serve(args).await,
            ServeCommand::MetaModel(args) => meta::serve(args).await,
            ServeCommand::Store(args) => shop::serve_store(args).await,
            ServeCommand::Mirroring(args) => redundancy::serve_mirroring(args).await,
            ServeCommand::Replication(args) => redundancy::serve_replication(args).await,
            ServeCommand::SyncNode(args) => sync_node::serve(args).await,
        }
    }
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
                for (name, port) in &args.ports {
                    ports.set(name, *port).map_err(|e| Explained(e.to_string()))?;
                }
                control::up(UpConfig {
                    bind: args.bind,
                    ports,
                    dist: args.dist,
                    data: args.data,
                    health_interval: Duration::from_millis(args.health_interval_ms.max(50)),
                    ready_within: Duration::from_secs(args.ready_timeout_s.max(1)),
                    bugs: args.bugs,
                })
                .await
            }
            Command::Serve { service } => service.run().await,
            Command::Client(args) => run_client(args).await,
            Command::Check(args) => run_check(&args),
            Command::Test(args) => crate::lab_test::run(args).await,
            Command::BenchReference { listen } => crate::bench_reference::serve(listen).await,
        }
    }
}

/// `lab check`: the verdict on stdout; the exit code says it too (see [`CheckArgs`]).
fn run_check(args: &CheckArgs) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.file)
    };
    let text = match text {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", args.file.display());
            std::process::exit(2);
        }
    };
    let budget = crate::check::Budget {
        time: Some(Duration::from_secs(args.time_limit_s.max(1))),
        ..crate::check::Budget::default()
    };
    let verdict = crate::check::check_text(args.model, &text, budget);
    // The verdict is the command's output: stdout, not the log.
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, serde_json::to_string_pretty(&verdict)?.as_bytes())?;
    std::io::Write::write_all(&mut out, b"\n")?;
    std::io::Write::flush(&mut out)?;
    std::process::exit(verdict.valid.exit_code());
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

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    use super::*;

    fn serve(args: &[&str]) -> Result<ServeCommand, clap::Error> {
        match Cli::try_parse_from(["lab", "serve"].iter().chain(args))?.command {
            Command::Serve { service } => Ok(service),
            other => panic!("not a `lab serve`: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn list_defaults_parse_into_pairs() {
        let ServeCommand::SyncNode(node) = serve(&["sync-node"]).unwrap() else { unreachable!() };
        let peers = [
            Some((2, "http://localhost:7002".to_owned())),
            Some((3, "http://localhost:7003".to_owned())),
        ];
        assert_eq!(node.peers, peers);
        let ServeCommand::MetaModel(meta) = serve(&["meta-model"]).unwrap() else { unreachable!() };
        let names: Vec<&str> = meta.models.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(meta.models[0].1, "http://localhost:5001");
    }

    #[test]
    fn peers_skip_empty_items_and_trailing_slashes() {
        // `--peers ''`: a node alone.
        let ServeCommand::SyncNode(alone) = serve(&["sync-node", "--peers", ""]).unwrap() else {
            unreachable!()
        };
        assert!(alone.peers.iter().flatten().next().is_none(), "{:?}", alone.peers);
        let ServeCommand::SyncNode(node) =
            serve(&["sync-node", "--peers", "2=http://a:1/, 3 = http://b:2"]).unwrap()
        else {
            unreachable!()
        };
        let peers: Vec<_> = node.peers.into_iter().flatten().collect();
        assert_eq!(peers, [(2, "http://a:1".to_owned()), (3, "http://b:2".to_owned())]);
    }

    #[test]
    fn a_bad_list_item_is_a_clap_error_naming_the_flag_and_the_shape() {
        let cases: [(&[&str], &str, &str); 4] = [
            (&["serve", "sync-node", "--peers", "2=http://a,http://b"], "--peers", "id=url"),
            (&["serve", "sync-node", "--peers", "two=http://a"], "--peers", "id=url"),
            (&["serve", "meta-model", "--models", "A=http://a,B"], "--models", "name=url"),
            (&["up", "--ports", "shop-a=lots"], "--ports", "service=port"),
        ];
        for (args, flag, shape) in cases {
            let err = Cli::try_parse_from(["lab"].iter().chain(args)).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{text}");
            assert!(text.contains(flag) && text.contains(&format!("expected {shape}")), "{text}");
        }
    }

    #[test]
    fn a_store_is_a_primary_or_a_mirror() {
        let role = |args: &[&str]| match serve(args) {
            Ok(ServeCommand::Store(store)) => Ok(store.role),
            Ok(other) => panic!("not a store: {other:?}"),
            Err(err) => Err(err.kind()),
        };
        assert_eq!(role(&["store"]), Ok(shop::InitialRole::Primary));
        assert_eq!(role(&["store", "--role", "mirror"]), Ok(shop::InitialRole::Mirror));
        assert_eq!(role(&["store", "--role", "replica"]), Err(ErrorKind::InvalidValue));
    }
}
