//! One service as a process (`lab serve <service>`): the flags every service takes
//! ([`CommonArgs`], flattened into each service's own `ServeArgs`), the parser of `key=value`
//! list items, and serving a router on its address until the process is asked to stop.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::Router;
use tokio::net::TcpListener;

use super::events::EventBus;
use crate::cli::Explained;

/// What every service takes.
#[derive(Debug, clap::Args)]
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
    /// `--name`, or the service's own default.
    pub fn name_or(&self, default: &str) -> String {
        self.name.clone().unwrap_or_else(|| default.to_owned())
    }

    /// Where to listen: `--bind`, and `--port` or the service's workshop port.
    pub fn addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.bind, self.port.unwrap_or(default_port))
    }

    /// For the services no deliberate bug lives in: refuse any `--bug`, naming where it lives
    /// (the services that have bugs check them with [`super::Service::with_bugs`]).
    pub fn refuse_bugs(&self) -> Result<(), Explained> {
        match self.bugs.first() {
            Some(bug) => Err(Explained(format!("{bug} lives in the {} services", bug.lives_in()))),
            None => Ok(()),
        }
    }
}

/// One `key=value` item of a list flag (`--models A=http://…`, `--peers 2=http://…`), as a clap
/// `value_parser` calls it: both sides trimmed and parsed; `shape` (`id=url`) is what clap's
/// error says was expected, after the flag and the bad value.
pub fn key_value<K, V>(text: &str, shape: &str) -> Result<(K, V), String>
where
    K: FromStr,
    K::Err: Display,
    V: FromStr,
    V::Err: Display,
{
    let (key, value) = text.split_once('=').ok_or_else(|| format!("expected {shape}"))?;
    let (key, value) = (key.trim(), value.trim());
    let bad = |part: &str, err: &dyn Display| format!("expected {shape} ({part:?}: {err})");
    Ok((key.parse().map_err(|e| bad(key, &e))?, value.parse().map_err(|e| bad(value, &e))?))
}

/// Bind `addr`, with an error that names it.
pub async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Serve one service's router on `addr` until Ctrl-C or SIGTERM.
pub async fn serve(addr: SocketAddr, app: Router, events: EventBus) -> anyhow::Result<()> {
    super::run(listen(addr).await?, app, super::stop_signal(events)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_trims_and_parses_both_sides() {
        assert_eq!(
            key_value::<u64, String>(" 2 = http://localhost:7002 ", "id=url"),
            Ok((2, "http://localhost:7002".to_owned()))
        );
        // Only the first `=` separates: a URL may hold more.
        assert_eq!(
            key_value::<String, String>("A=http://h/?x=1", "name=url"),
            Ok(("A".to_owned(), "http://h/?x=1".to_owned()))
        );
    }

    #[test]
    fn key_value_says_which_shape_it_expected() {
        assert_eq!(key_value::<u64, String>("http://x", "id=url"), Err("expected id=url".into()));
        let err = key_value::<u64, String>("two=http://x", "id=url").unwrap_err();
        assert!(err.starts_with("expected id=url (\"two\": "), "{err}");
        let err = key_value::<String, u16>("shop-a= port", "service=port").unwrap_err();
        assert!(err.starts_with("expected service=port (\"port\": "), "{err}");
    }
}
