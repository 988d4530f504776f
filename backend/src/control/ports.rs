//! Before `lab up` starts anything: can every service of the lab bind its port? If one cannot,
//! the lab starts nothing and says which service, which address, and (when the kernel tells)
//! which process holds it.
//!
//! Who holds a port is read from Linux's `/proc/net/{tcp,tcp6,udp,udp6}` (the socket's inode) and
//! `/proc/<pid>/fd` (which process has that inode open). Another user's processes may not be
//! readable; then the holder is simply not named.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// The transport a port is bound for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One port a service needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub service: String,
    pub port: u16,
    pub proto: Proto,
}

/// A port the lab cannot have.
#[derive(Debug)]
pub struct Taken {
    pub service: String,
    pub addr: SocketAddr,
    pub proto: Proto,
    pub why: String,
    pub holder: Option<Holder>,
}

/// The process holding a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.proto {
            Proto::Tcp => "",
            Proto::Udp => " (udp)",
        };
        write!(f, "{} cannot listen on {}{proto}: {}", self.service, self.addr, self.why)?;
        if let Some(holder) = &self.holder {
            write!(f, ", held by pid {} ({})", holder.pid, holder.command)?;
        }
        Ok(())
    }
}

/// Try every wanted port on `bind` (each bound and released at once); returns the ones that
/// cannot be had, in the order given. Two services wanting the same port is reported too.
pub fn unavailable(bind: IpAddr, wanted: &[Wanted]) -> Vec<Taken> {
    let mut taken = Vec::new();
    for (i, want) in wanted.iter().enumerate() {
        let addr = SocketAddr::new(bind, want.port);
        if want.port != 0 {
            if let Some(first) =
                wanted[..i].iter().find(|w| w.port == want.port && w.proto == want.proto)
            {
                taken.push(Taken {
                    service: want.service.clone(),
                    addr,
                    proto: want.proto,
                    why: format!("the port is also given to {}", first.service),
                    holder: None,
                });
                continue;
            }
        }
        let bound = match want.proto {
            Proto::Tcp => TcpListener::bind(addr).map(drop),
            Proto::Udp => UdpSocket::bind(addr).map(drop),
        };
        if let Err(err) = bound {
            let why = match err.kind() {
                std::io::ErrorKind::AddrInUse => "address already in use".to_owned(),
                _ => err.to_string(),
            };
            taken.push(Taken {
                service: want.service.clone(),
                addr,
                proto: want.proto,
                why,
                holder: holder(want.proto, want.port),
            });
        }
    }
    taken
}

/// The process that has a socket bound to `port`, if this machine says.
pub fn holder(proto: Proto, port: u16) -> Option<Holder> {
    let tables: &[&str] = match proto {
        Proto::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
        Proto::Udp => &["/proc/net/udp", "/proc/net/udp6"],
    };
    let inodes: Vec<u64> = tables
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| socket_inodes(&text, port, proto))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|inode| format!("socket:[{inode}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        });
        if holds {
            return Some(Holder { pid, command: command_line(pid) });
        }
    }
    None
}

/// The inodes of the sockets in one `/proc/net/{tcp,udp}[6]` table that are bound to `port`
/// (for TCP: listening).
pub fn socket_inodes(table: &str, port: u16, proto: Proto) -> Vec<u64> {
    const TCP_LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse::<u64>().ok()?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let bound = u16::from_str_radix(hex_port, 16).ok()? == port;
            let listening = proto == Proto::Udp || *state == TCP_LISTEN;
            (bound && listening && inode != 0).then_some(inode)
        })
        .collect()
}

/// A process's command line, shortened for one line of output.
fn command_line(pid: u32) -> String {
    const LONGEST: usize = 80;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let mut line = words.join(" ");
    if let Some(first) = words.first() {
        // The program's name, not its whole path.
        if let Some((_, name)) = first.rsplit_once('/') {
            line = format!("{name}{}", &line[first.len()..]);
        }
    }
    if line.chars().count() > LONGEST {
        line = line.chars().take(LONGEST - 1).collect::<String>() + "…";
    }
    if line.is_empty() {
        "command line not readable".to_owned()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41201 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB9 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41300 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn a_listening_socket_is_found_by_its_port_and_connections_are_not() {
        assert_eq!(socket_inodes(TCP, 3001, Proto::Tcp), vec![41201]);
        assert_eq!(socket_inodes(TCP, 8080, Proto::Tcp), vec![41300]);
        assert!(socket_inodes(TCP, 3002, Proto::Tcp).is_empty());
    }

    #[test]
    fn a_port_in_use_is_reported_with_the_process_holding_it() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let wanted = [
            Wanted { service: "free".into(), port: 0, proto: Proto::Tcp },
            Wanted { service: "shop-a".into(), port, proto: Proto::Tcp },
        ];
        let taken = unavailable(IpAddr::from([127, 0, 0, 1]), &wanted);
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert_eq!(taken[0].service, "shop-a");
        let holder = taken[0].holder.as_ref().expect("this very process holds it");
        assert_eq!(holder.pid, std::process::id());
        let line = taken[0].to_string();
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(line.contains("address already in use"), "{line}");
    }

    #[test]
    fn two_services_given_one_port_is_reported() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let wanted = [
            Wanted { service: "shop-a".into(), port, proto: Proto::Tcp },
            Wanted { service: "shop-b".into(), port, proto: Proto::Tcp },
        ];
        let taken = unavailable(IpAddr::from([127, 0, 0, 1]), &wanted);
        assert_eq!(taken.len(), 1);
        assert!(taken[0].to_string().contains("also given to shop-a"), "{}", taken[0]);
    }
}
