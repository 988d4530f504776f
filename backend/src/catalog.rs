//! The lab's services: their names, kinds, default ports (those of `SPEC.md`) and how `lab up`
//! starts each one as its own process.
//!
//! A new service joins the lab by adding its [`ServiceSpec`]s to [`lab`]; the control plane then
//! starts it, watches its health and lists it on the dashboard.

use std::net::{IpAddr, TcpListener, UdpSocket};
use std::path::Path;

use shared::ServiceKind;

/// The ports of every service. [`Ports::default`] holds those of the workshop (`SPEC.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub control: u16,
    pub shop_a: u16,
    pub shop_b: u16,
    pub registry: u16,
    /// The registry's DNS server (UDP).
    pub registry_dns: u16,
    pub models: [u16; 3],
    pub meta: u16,
    /// Synchronous mirroring: the front, its primary store, its mirror store.
    pub mirroring: [u16; 3],
    /// Asynchronous replication: the front, its primary store, its mirror store.
    pub replication: [u16; 3],
    pub sync_nodes: [u16; 3],
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            control: 8080,
            shop_a: 3001,
            shop_b: 3002,
            registry: 8000,
            registry_dns: 8053,
            models: [5001, 5002, 5003],
            meta: 6001,
            mirroring: [3010, 3011, 3012],
            replication: [3020, 3021, 3022],
            sync_nodes: [7001, 7002, 7003],
        }
    }
}

impl Ports {
    /// Ports the OS reports free right now, for a second lab beside a running one (tests).
    pub fn free(bind: IpAddr) -> std::io::Result<Self> {
        // Hold every socket until all are chosen, so no two services get the same port.
        let mut held = Vec::new();
        let mut next = || -> std::io::Result<u16> {
            let listener = TcpListener::bind((bind, 0))?;
            let port = listener.local_addr()?.port();
            held.push(listener);
            Ok(port)
        };
        let (control, shop_a, shop_b, registry) = (next()?, next()?, next()?, next()?);
        let models = [next()?, next()?, next()?];
        let meta = next()?;
        let mirroring = [next()?, next()?, next()?];
        let replication = [next()?, next()?, next()?];
        let sync_nodes = [next()?, next()?, next()?];
        let dns = UdpSocket::bind((bind, 0))?;
        Ok(Self {
            control,
            shop_a,
            shop_b,
            registry,
            registry_dns: dns.local_addr()?.port(),
            models,
            meta,
            mirroring,
            replication,
            sync_nodes,
        })
    }
}

impl Ports {
    /// Move one service (by its name in the lab) to `port`.
    pub fn set(&mut self, service: &str, port: u16) -> anyhow::Result<()> {
        let slot = match service {
            "control" => &mut self.control,
            "shop-a" => &mut self.shop_a,
            "shop-b" => &mut self.shop_b,
            "registry" => &mut self.registry,
            "registry-dns" => &mut self.registry_dns,
            "model-a" => &mut self.models[0],
            "model-b" => &mut self.models[1],
            "model-c" => &mut self.models[2],
            "meta-model" => &mut self.meta,
            "mirroring" => &mut self.mirroring[0],
            "store-sync-primary" => &mut self.mirroring[1],
            "store-sync-mirror" => &mut self.mirroring[2],
            "replication" => &mut self.replication[0],
            "store-async-primary" => &mut self.replication[1],
            "store-async-mirror" => &mut self.replication[2],
            "node-1" => &mut self.sync_nodes[0],
            "node-2" => &mut self.sync_nodes[1],
            "node-3" => &mut self.sync_nodes[2],
            other => anyhow::bail!(
                "no service {other:?} to move: the lab's services are control, registry-dns and \
                 those of `GET /api/services`"
            ),
        };
        *slot = port;
        Ok(())
    }
}

/// How to start one service of the lab: `lab serve <kind> --name <name> --port <port> <args>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub kind: ServiceKind,
    pub port: u16,
    /// Arguments after the common ones (peers, data directory, algorithm, ...).
    pub args: Vec<String>,
    /// The services this one calls (its links, which faults can be set on).
    pub links: Vec<String>,
}

impl ServiceSpec {
    pub fn new(name: &str, kind: ServiceKind, port: u16) -> Self {
        Self { name: name.to_owned(), kind, port, args: Vec::new(), links: Vec::new() }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// This service calls `peer` (a link the control plane can cut, slow or make lossy).
    pub fn link(mut self, peer: &str) -> Self {
        self.links.push(peer.to_owned());
        self
    }

    pub fn url(&self, host: IpAddr) -> String {
        format!("http://{}", std::net::SocketAddr::new(host, self.port))
    }

    /// The command line, after the program name, that runs this service.
    pub fn command_line(&self, bind: IpAddr) -> Vec<String> {
        let mut line = vec![
            "serve".to_owned(),
            self.kind.as_str().to_owned(),
            "--name".to_owned(),
            self.name.clone(),
            "--bind".to_owned(),
            bind.to_string(),
            "--port".to_owned(),
            self.port.to_string(),
        ];
        line.extend(self.args.iter().cloned());
        line
    }
}

/// Every service `lab up` starts, with its data under `data`.
pub fn lab(ports: &Ports, data: &Path) -> Vec<ServiceSpec> {
    let shop_db = data.join("shop.sqlite3").display().to_string();
    let mut specs = vec![
        ServiceSpec::new("shop-a", ServiceKind::Shop, ports.shop_a).arg("--db").arg(&shop_db),
        ServiceSpec::new("shop-b", ServiceKind::Shop, ports.shop_b).arg("--db").arg(&shop_db),
        ServiceSpec::new("registry", ServiceKind::Registry, ports.registry)
            .arg("--servers")
            .arg(format!("localhost:{},localhost:{}", ports.shop_a, ports.shop_b))
            .arg("--dns-port")
            .arg(ports.registry_dns.to_string())
            .link("shop-a")
            .link("shop-b"),
    ];
    let models = [
        ("model-a", "A", "random-forest"),
        ("model-b", "B", "decision-tree"),
        ("model-c", "C", "knn"),
    ];
    let mut meta = ServiceSpec::new("meta-model", ServiceKind::MetaModel, ports.meta)
        .arg("--db")
        .arg(data.join("meta.sqlite3").display().to_string())
        .arg("--models")
        .arg(
            models
                .iter()
                .zip(ports.models)
                .map(|((_, label, _), port)| format!("{label}=http://localhost:{port}"))
                .collect::<Vec<_>>()
                .join(","),
        );
    for ((name, label, algo), port) in models.into_iter().zip(ports.models) {
        specs.push(
            ServiceSpec::new(name, ServiceKind::Model, port)
                .arg("--model-name")
                .arg(label)
                .arg("--algo")
                .arg(algo),
        );
        meta = meta.link(name);
    }
    specs.push(meta);
    for (front, kind, ports, extra) in [
        ("mirroring", ServiceKind::Mirroring, ports.mirroring, "sync"),
        ("replication", ServiceKind::Replication, ports.replication, "async"),
    ] {
        let [front_port, primary_port, mirror_port] = ports;
        let (primary, mirror) = (format!("store-{extra}-primary"), format!("store-{extra}-mirror"));
        for (name, port, role) in
            [(&primary, primary_port, "primary"), (&mirror, mirror_port, "mirror")]
        {
            specs.push(
                ServiceSpec::new(name, ServiceKind::Store, port)
                    .arg("--db")
                    .arg(data.join(format!("{name}.sqlite3")).display().to_string())
                    .arg("--role")
                    .arg(role),
            );
        }
        specs.push(
            ServiceSpec::new(front, kind, front_port)
                .arg("--primary")
                .arg(format!("http://localhost:{primary_port}"))
                .arg("--mirror")
                .arg(format!("http://localhost:{mirror_port}"))
                .link(&primary)
                .link(&mirror),
        );
    }
    for (i, port) in ports.sync_nodes.iter().enumerate() {
        let id = i + 1;
        let peers: Vec<String> = (0..3)
            .filter(|j| *j != i)
            .map(|j| format!("{}=http://localhost:{}", j + 1, ports.sync_nodes[j]))
            .collect();
        let mut spec = ServiceSpec::new(&format!("node-{id}"), ServiceKind::SyncNode, *port)
            .arg("--id")
            .arg(id.to_string())
            .arg("--peers")
            .arg(peers.join(","))
            .arg("--db")
            .arg(data.join(format!("node-{id}.sqlite3")).display().to_string());
        for j in (0..3).filter(|j| *j != i) {
            spec = spec.link(&format!("node-{}", j + 1));
        }
        specs.push(spec);
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_are_the_workshops() {
        let ports = Ports::default();
        assert_eq!((ports.control, ports.shop_a, ports.shop_b), (8080, 3001, 3002));
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = Ports::free(IpAddr::from([127, 0, 0, 1])).unwrap();
        let mut all = vec![ports.control, ports.shop_a, ports.shop_b, ports.registry, ports.meta];
        all.extend(ports.models);
        all.extend(ports.mirroring);
        all.extend(ports.replication);
        all.extend(ports.sync_nodes);
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "{ports:?}");
    }

    #[test]
    fn every_service_can_be_moved_by_its_name() {
        let mut ports = Ports::default();
        for (n, spec) in lab(&Ports::default(), Path::new("data")).iter().enumerate() {
            ports.set(&spec.name, 20_000 + n as u16).unwrap();
        }
        for (n, spec) in lab(&ports, Path::new("data")).iter().enumerate() {
            assert_eq!(spec.port, 20_000 + n as u16, "{}", spec.name);
        }
        ports.set("control", 9090).unwrap();
        assert_eq!(ports.control, 9090);
        assert!(ports.set("shop-z", 1).is_err());
    }

    #[test]
    fn every_service_has_a_unique_name_and_port() {
        let specs = lab(&Ports::default(), Path::new("data"));
        let mut names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        let mut ports: Vec<_> = specs.iter().map(|s| s.port).collect();
        names.sort_unstable();
        names.dedup();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(names.len(), specs.len());
        assert_eq!(ports.len(), specs.len());
    }
}
