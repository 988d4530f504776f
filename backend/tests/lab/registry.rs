//! The registry: routes in-process, active health checks against real shop servers, and DNS
//! answers over a real UDP socket.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use backend::registry::{self, Registry, RegistryConfig};
use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::registry::{RegistryStatus, ServerState};
use tower::ServiceExt;

fn config() -> RegistryConfig {
    RegistryConfig { interval: Duration::from_millis(50), ..RegistryConfig::default() }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request =
        request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// A real shop server on a free port; dropping the sender stops it.
async fn shop_server(db: &std::path::Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let store = backend::shop::ShopStore::open(db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(backend::service::run(listener, backend::shop::router("shop", store), async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test]
async fn get_server_answers_the_workshops_shape_or_503() {
    let service = registry::service("registry");
    let registry = Registry::new(config(), &["localhost:1".to_owned()], &service);
    let app = registry::router(service, registry);
    let (status, body) = call(&app, "GET", "/getServer", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "an unchecked server is not handed out");
    assert_eq!(body["code"], 503);
    assert!(body["message"].as_str().unwrap().contains("no healthy server"));
}

#[tokio::test]
async fn servers_are_added_and_removed_at_run_time_with_validation() {
    let service = registry::service("registry");
    let registry = Registry::new(config(), &[], &service);
    let app = registry::router(service, registry);
    let (status, body) =
        call(&app, "POST", "/servers", Some(r#"{"address":"localhost:3005"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["servers"][0]["state"], "checking");
    let (status, _) = call(&app, "POST", "/servers", Some(r#"{"address":"localhost:3005"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    for bad in [
        r#"{"address":"nope"}"#,
        r#"{"address":"localhost:0"}"#,
        r#"{"addr":"x:1"}"#,
        "{",
        r#"{"address":5}"#,
    ] {
        let (status, body) = call(&app, "POST", "/servers", Some(bad)).await;
        assert!(status.is_client_error(), "{bad} → {status}");
        assert!(body["message"].is_string(), "{body}");
    }
    let (status, _) = call(&app, "DELETE", "/servers/localhost:3005", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, "DELETE", "/servers/localhost:3005", None).await;
    assert_eq!((status, body["code"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));
    let (_, body) = call(&app, "GET", "/servers", None).await;
    let status: RegistryStatus = serde_json::from_value(body).unwrap();
    assert!(status.servers.is_empty());
}

#[tokio::test]
async fn a_dead_server_stops_being_handed_out_and_returns_when_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.sqlite3");
    let (a, stop_a) = shop_server(&db).await;
    let (b, _stop_b) = shop_server(&db).await;
    let service = registry::service("registry");
    let events = service.events();
    let mut failovers = events.subscribe();
    let registry = Registry::new(config(), &[a.clone(), b.clone()], &service);
    let checker = tokio::spawn(registry.clone().check_forever());

    support::wait_until("both servers up", Duration::from_secs(5), async || {
        registry.up_servers().len() == 2
    })
    .await;
    let picks: Vec<String> = (0..4).map(|_| registry.next_server().unwrap()).collect();
    assert_eq!(picks, [a.clone(), b.clone(), a.clone(), b.clone()], "round robin");

    drop(stop_a);
    let started = Instant::now();
    support::wait_until("A taken out", Duration::from_secs(5), async || {
        registry.up_servers() == [b.clone()]
    })
    .await;
    let took = started.elapsed();
    assert!((0..10).all(|_| registry.next_server().as_deref() == Some(b.as_str())));
    let row = registry.status().servers.into_iter().find(|s| s.address == a).unwrap();
    assert_eq!(row.state, ServerState::Down);
    assert!(row.last_error.is_some());
    eprintln!("A detected down after {took:?} (interval 50 ms, fall 2)");
    let mut seen = Vec::new();
    while let Ok(event) = failovers.try_recv() {
        seen.push(event.message);
    }
    assert!(
        seen.iter().any(|m| m.starts_with(&format!("{a} is down"))),
        "a failover event: {seen:?}"
    );

    // A comes back on the same port.
    let listener = tokio::net::TcpListener::bind(&a).await.unwrap();
    let store = backend::shop::ShopStore::open(&db).await.unwrap();
    tokio::spawn(backend::service::run(
        listener,
        backend::shop::router("shop", store),
        std::future::pending(),
    ));
    support::wait_until("A back", Duration::from_secs(5), async || {
        registry.up_servers().len() == 2
    })
    .await;
    checker.abort();
}

async fn dns_query(addr: SocketAddr, name: &str, kind: RecordType) -> Message {
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&query.to_vec().unwrap(), addr).await.unwrap();
    let mut buffer = [0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buffer[..len]).unwrap()
}

#[tokio::test]
async fn dns_answers_srv_and_a_records_of_the_up_servers_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.sqlite3");
    let (a, _stop_a) = shop_server(&db).await;
    let dead = "127.0.0.1:1".to_owned();
    let registry = Registry::new(config(), &[a.clone(), dead], &registry::service("registry"));
    tokio::spawn(registry.clone().check_forever());
    support::wait_until("A up", Duration::from_secs(5), async || {
        registry.up_servers() == [a.clone()]
    })
    .await;

    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dns_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _server = registry::dns::serve(registry.clone(), dns_addr).await.unwrap();

    let srv = dns_query(dns_addr, "shop.lab.", RecordType::SRV).await;
    assert_eq!(srv.metadata.response_code, ResponseCode::NoError);
    assert!(srv.metadata.authoritative);
    assert_eq!(srv.answers.len(), 1, "only the up server: {:?}", srv.answers);
    let record = &srv.answers[0];
    assert_eq!(record.ttl, 0);
    let RData::SRV(answer) = &record.data else { panic!("not SRV: {record:?}") };
    assert_eq!(answer.port.to_string(), a.rsplit_once(':').unwrap().1);
    assert_eq!(answer.target.to_ascii(), "localhost.");

    let a_records = dns_query(dns_addr, "SHOP.lab.", RecordType::A).await;
    assert_eq!(a_records.answers.len(), 1);
    assert!(
        matches!(&a_records.answers[0].data, RData::A(ip) if ip.0 == std::net::Ipv4Addr::LOCALHOST)
    );

    let other = dns_query(dns_addr, "other.lab.", RecordType::A).await;
    assert_eq!(other.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn a_cut_link_takes_a_healthy_server_out_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _stop_a) = shop_server(&dir.path().join("shop.sqlite3")).await;
    let service = registry::service("registry");
    let links = service.links();
    let registry = Registry::new(config(), std::slice::from_ref(&a), &service);
    tokio::spawn(registry.clone().check_forever());
    support::wait_until("A up", Duration::from_secs(5), async || {
        registry.up_servers() == [a.clone()]
    })
    .await;

    links.set(&a, shared::control::LinkFault { cut: true, ..Default::default() });
    support::wait_until("A out", Duration::from_secs(5), async || registry.up_servers().is_empty())
        .await;
    let row = registry.status().servers.remove(0);
    assert!(row.last_error.unwrap().contains("cut"), "the registry says why");
    links.set(&a, shared::control::LinkFault::default());
    support::wait_until("A back", Duration::from_secs(5), async || {
        registry.up_servers() == [a.clone()]
    })
    .await;
}
