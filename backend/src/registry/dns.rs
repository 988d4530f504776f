//! The registry's DNS face: A and SRV records of the up shop servers, TTL 0, over UDP.
//!
//! `dig @127.0.0.1 -p 8053 shop.lab SRV` lists one SRV record per up server (priority 0,
//! weight 1, its port, target `localhost.`); `shop.lab A` lists their distinct IPv4 addresses.
//! TTL 0: a resolver must ask again each time, so a server that went down is gone from the very
//! next answer. Any other name is NXDOMAIN. Built on hickory-server.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

use super::Registry;

/// One up server as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// SRV target: a host name, fully qualified.
    pub target: String,
}

/// `localhost:3001` → 127.0.0.1, 3001, `localhost.`; an IPv4 literal stands for itself. Names
/// other than localhost are not resolved here (no A record can be given for them).
pub fn endpoint(address: &str) -> Option<Endpoint> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    if host.eq_ignore_ascii_case("localhost") {
        return Some(Endpoint { ip: Ipv4Addr::LOCALHOST, port, target: "localhost.".to_owned() });
    }
    let ip: Ipv4Addr = host.parse().ok()?;
    let target = if ip.is_loopback() { "localhost.".to_owned() } else { format!("{ip}.") };
    Some(Endpoint { ip, port, target })
}

/// Answers DNS queries from the registry's live pool.
#[derive(Debug)]
pub struct RegistryDns {
    registry: Registry,
    name: LowerName,
}

impl RegistryDns {
    pub fn new(registry: Registry) -> Result<Self, String> {
        let name = Name::from_ascii(&registry.config().dns_name)
            .map_err(|e| format!("bad DNS name {:?}: {e}", registry.config().dns_name))?;
        Ok(Self { registry, name: LowerName::from(name) })
    }

    fn answers(&self, owner: &Name, kind: RecordType) -> Vec<Record> {
        let endpoints: Vec<Endpoint> =
            self.registry.up_servers().iter().filter_map(|a| endpoint(a)).collect();
        match kind {
            RecordType::A => endpoints
                .iter()
                .map(|e| e.ip)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|ip| Record::from_rdata(owner.clone(), 0, RData::A(A(ip))))
                .collect(),
            RecordType::SRV => endpoints
                .iter()
                .filter_map(|e| {
                    let target = Name::from_ascii(&e.target).ok()?;
                    Some(Record::from_rdata(
                        owner.clone(),
                        0,
                        RData::SRV(SRV::new(0, 1, e.port, target)),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for RegistryDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        // Echo EDNS so answers may exceed 512 bytes when the client allows it.
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let mut answers = Vec::new();
        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            metadata.response_code = ResponseCode::NotImp;
        } else {
            match request.request_info() {
                Err(_) => metadata.response_code = ResponseCode::FormErr,
                Ok(info) if *info.query.name() != self.name => {
                    metadata.response_code = ResponseCode::NXDomain
                }
                Ok(info) => {
                    answers = self.answers(info.query.original().name(), info.query.query_type())
                }
            }
        }
        let response = builder.build(metadata, answers.iter(), [], [], []);
        match handle.send_response(response).await {
            Ok(info) => info,
            Err(err) => {
                tracing::warn!(%err, "could not send a DNS answer");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                Header { metadata, counts: HeaderCounts::default() }.into()
            }
        }
    }
}

/// Serve DNS on `addr` (UDP) until the returned server is shut down or dropped.
pub async fn serve(registry: Registry, addr: SocketAddr) -> anyhow::Result<Server<RegistryDns>> {
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for DNS on udp {addr}: {e}"))?;
    let handler = RegistryDns::new(registry).map_err(anyhow::Error::msg)?;
    let mut server = Server::new(handler);
    server.register_socket(socket);
    tracing::info!(%addr, "DNS listening (udp)");
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_endpoints() {
        let local = endpoint("localhost:3001").unwrap();
        assert_eq!(
            (local.ip, local.port, local.target.as_str()),
            (Ipv4Addr::LOCALHOST, 3001, "localhost.")
        );
        assert_eq!(endpoint("10.1.2.3:80").unwrap().target, "10.1.2.3.");
        assert_eq!(endpoint("shop.example:80"), None);
        assert_eq!(endpoint("localhost"), None);
    }
}
