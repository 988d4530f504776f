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
    /// Ports for a lab beside other labs (`lab up --free-ports`, every test's lab), held for this
    /// process's lifetime: see [`Ports::reserve`] for how they are chosen and why they are not
    /// taken by another lab that starts at the same moment.
    pub fn free(bind: IpAddr) -> std::io::Result<Self> {
        let (ports, block) = Self::reserve(bind)?;
        // `lab up` lives as long as its lab: so does the claim (the kernel drops it with the
        // process, however the process ends).
        HELD_BLOCKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(block);
        Ok(ports)
    }

    /// Ports for one lab from a block of [`PORT_BLOCK`] ports that no other lab on this machine
    /// can be given while the returned [`PortBlock`] is held.
    ///
    /// The race this closes: ports used to be picked by binding port 0 and releasing the socket,
    /// and the services were started (and bound them) later. In between, another lab starting at
    /// the same moment could be handed the same port by the kernel — or an outgoing connection
    /// could take it as its source port, since port 0 draws from the same ephemeral range — and
    /// then a service failed to start ("address already in use"; seen in parallel tests).
    ///
    /// Now the ports come from [`free_port_range`], below the ephemeral range, so no connection
    /// and no `bind(0)` is ever given one of them. The range is cut into blocks; a lab first
    /// claims a whole block by binding an abstract Unix socket named after it
    /// (`distlab-ports-<first port>`). Binding a name is atomic and exclusive, and the kernel
    /// releases it when its holder closes it or dies (even by SIGKILL), so two labs never hold
    /// the same block and a crashed lab leaves no stale claim. Inside its block a lab still takes
    /// only ports it can bind right now: a port some other program holds is skipped, and a block
    /// without enough of them is passed over (e.g. the services of a lab that was just killed,
    /// still shutting down).
    pub fn reserve(bind: IpAddr) -> std::io::Result<(Self, PortBlock)> {
        let range = free_port_range();
        let blocks = (range.end - range.start) / PORT_BLOCK;
        // Start at a place of our own, so concurrent labs rarely even try the same block.
        let offset = (std::process::id() % u32::from(blocks)) as u16;
        for n in 0..blocks {
            let first = range.start + (offset + n) % blocks * PORT_BLOCK;
            let Some(block) = PortBlock::claim(first)? else { continue };
            if let Some(ports) = Self::within(bind, first..first + PORT_BLOCK)? {
                return Ok((ports, block));
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "no block of {PORT_BLOCK} free ports left in {}..{} (other labs hold them all?)",
                range.start, range.end
            ),
        ))
    }

    /// Every service's port from `block`, each bindable right now; `None` if too few are.
    fn within(bind: IpAddr, block: std::ops::Range<u16>) -> std::io::Result<Option<Self>> {
        let mut candidates = block.into_iter();
        let mut tcp = || -> std::io::Result<Option<u16>> {
            for port in candidates.by_ref() {
                match TcpListener::bind((bind, port)) {
                    Ok(_) => return Ok(Some(port)),
                    Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => continue,
                    Err(err) => return Err(err),
                }
            }
            Ok(None)
        };
        let mut take = |n: usize| -> std::io::Result<Option<Vec<u16>>> {
            let mut ports = Vec::with_capacity(n);
            for _ in 0..n {
                match tcp()? {
                    Some(port) => ports.push(port),
                    None => return Ok(None),
                }
            }
            Ok(Some(ports))
        };
        let Some(ports) = take(17)? else { return Ok(None) };
        // The DNS port is UDP; it gets a number of its own too, so every port of the lab differs.
        let Some(dns) = tcp()? else { return Ok(None) };
        if UdpSocket::bind((bind, dns)).is_err() {
            return Ok(None);
        }
        let three = |at: usize| [ports[at], ports[at + 1], ports[at + 2]];
        Ok(Some(Self {
            control: ports[0],
            shop_a: ports[1],
            shop_b: ports[2],
            registry: ports[3],
            registry_dns: dns,
            models: three(4),
            meta: ports[7],
            mirroring: three(8),
            replication: three(11),
            sync_nodes: three(14),
        }))
    }
}

/// How many ports one lab's block holds: the lab needs 18 (17 TCP, one UDP); the rest lets it
/// skip ports that other programs hold.
pub const PORT_BLOCK: u16 = 32;

/// The claims [`Ports::free`] made, held until the process exits.
static HELD_BLOCKS: std::sync::Mutex<Vec<PortBlock>> = std::sync::Mutex::new(Vec::new());

/// Where free ports are taken from: 20000 up to Linux's ephemeral range (from which `bind(0)`
/// and outgoing connections take their ports; `/proc/sys/net/ipv4/ip_local_port_range`,
/// 32768–60999 by default). Far from the workshop's fixed ports (3001–8080).
pub fn free_port_range() -> std::ops::Range<u16> {
    const LOW: u16 = 20_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    // With an ephemeral range reaching down this far, there is nowhere to hide from it: blocks
    // still keep labs apart, only a connection may then take a port (as before).
    let high = if ephemeral_low >= LOW + 16 * PORT_BLOCK { ephemeral_low } else { 32_768 };
    LOW..high
}

/// A lab's claim on a block of [`PORT_BLOCK`] ports starting at `first` (see [`Ports::reserve`]):
/// while it is held, no other lab on this machine is given a port of the block.
#[derive(Debug)]
pub struct PortBlock {
    /// The first port of the block.
    pub first: u16,
    /// Bound to the abstract name `distlab-ports-<first>`; closed with this value or the process.
    _claim: std::os::unix::net::UnixListener,
}

impl PortBlock {
    /// Claim the block at `first`; `None` when another lab holds it.
    fn claim(first: u16) -> std::io::Result<Option<Self>> {
        use std::os::linux::net::SocketAddrExt;
        let name =
            std::os::unix::net::SocketAddr::from_abstract_name(format!("distlab-ports-{first}"))?;
        match std::os::unix::net::UnixListener::bind_addr(&name) {
            Ok(claim) => Ok(Some(Self { first, _claim: claim })),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
            Err(err) => Err(err),
        }
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

    /// Every TCP port of a lab.
    fn tcp_ports(ports: &Ports) -> Vec<u16> {
        let mut all = vec![ports.control, ports.shop_a, ports.shop_b, ports.registry, ports.meta];
        all.extend(ports.models);
        all.extend(ports.mirroring);
        all.extend(ports.replication);
        all.extend(ports.sync_nodes);
        all
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = Ports::free(IpAddr::from([127, 0, 0, 1])).unwrap();
        let mut all = tcp_ports(&ports);
        all.push(ports.registry_dns);
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "{ports:?}");
    }

    /// The race of parallel tests: many labs choosing their ports at the same moment, none of
    /// them binding yet (a lab's services bind theirs only once started). With ports picked by
    /// `bind(0)` and released, 40 such sets (720 ports drawn from ~28,000) share a port in all
    /// but about 1 run in 10,000.
    #[test]
    fn labs_choosing_ports_at_the_same_moment_never_share_one() {
        const LABS: usize = 40;
        let bind = IpAddr::from([127, 0, 0, 1]);
        let start = std::sync::Barrier::new(LABS);
        let chosen: Vec<(Ports, PortBlock)> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..LABS)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        Ports::reserve(bind).unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut owner = std::collections::HashMap::new();
        let range = free_port_range();
        for (lab, (ports, block)) in chosen.iter().enumerate() {
            for port in tcp_ports(ports).into_iter().chain([ports.registry_dns]) {
                if let Some(other) = owner.insert(port, lab) {
                    panic!("port {port} given to lab {other} and lab {lab}");
                }
                assert!(range.contains(&port), "{port} outside {range:?}");
                assert!((block.first..block.first + PORT_BLOCK).contains(&port), "{port}");
            }
        }
        // A held block is not handed out again; a released one is.
        let (_, held) = &chosen[0];
        assert!(
            PortBlock::claim(held.first).unwrap().is_none(),
            "block {} claimed twice",
            held.first
        );
        let first = held.first;
        drop(chosen);
        assert!(PortBlock::claim(first).unwrap().is_some(), "block {first} not released");
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
