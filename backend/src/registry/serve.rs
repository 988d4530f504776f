//! Starting the registry (`lab serve registry`).

use std::net::SocketAddr;
use std::time::Duration;

use crate::service::{process, CommonArgs};

use super::pool::Thresholds;
use super::{dns, Registry, RegistryConfig};

/// `lab serve registry`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The shop servers to check and hand out, as host:port.
    #[arg(long, value_delimiter = ',', default_value = "localhost:3001,localhost:3002")]
    pub servers: Vec<String>,
    /// How often each server's `GET /health` is called, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// Failed checks in a row that take an up server down.
    #[arg(long, default_value_t = 2)]
    pub fall: u32,
    /// Passed checks in a row that bring a down server back.
    #[arg(long, default_value_t = 2)]
    pub rise: u32,
    /// UDP port of the DNS server (0: no DNS).
    #[arg(long, default_value_t = 8053)]
    pub dns_port: u16,
    /// The name answered with A and SRV records of the up servers.
    #[arg(long, default_value = "shop.lab.")]
    pub dns_name: String,
}

/// Check the servers and serve the registry (default port 8000, DNS on `--dns-port`) until
/// Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let name = args.common.name_or("registry");
    let dns_name =
        if args.dns_name.ends_with('.') { args.dns_name } else { format!("{}.", args.dns_name) };
    let config = RegistryConfig {
        interval: Duration::from_millis(args.interval_ms.max(10)),
        thresholds: Thresholds { fall: args.fall.max(1), rise: args.rise.max(1) },
        dns_name,
        dns_port: (args.dns_port != 0).then_some(args.dns_port),
    };
    let service = super::service(&name);
    let registry = Registry::new(config, &args.servers, &service);
    tokio::spawn(registry.clone().check_forever());
    // Kept until the HTTP server stops: dropping it stops the DNS server.
    let _dns = match registry.config().dns_port {
        Some(port) => {
            Some(dns::serve(registry.clone(), SocketAddr::new(args.common.bind, port)).await?)
        }
        None => None,
    };
    let events = service.events();
    process::serve(args.common.addr(8000), super::router(service, registry), events).await
}
