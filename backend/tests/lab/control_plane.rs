//! The control plane breaks real processes: signals arrive, events stream, links cut, scenarios
//! measure — and admin routes refuse anyone off the machine.

use crate::support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use shared::{EventKind, Health, LabEvent};
use support::{alive, process_state, wait_gone, Lab};

async fn wait_health(lab: &Lab, name: &str, health: Health) -> shared::ServiceStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let row = lab.service(name).await;
        if row.health == health {
            return row;
        }
        assert!(Instant::now() < deadline, "{name} never became {health:?}: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A scenario verdict's measurements, by name.
fn measurements(verdict: &serde_json::Value) -> std::collections::HashMap<String, String> {
    serde_json::from_value::<shared::control::Verdict>(verdict.clone())
        .unwrap()
        .measurements
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_process_action_really_reaches_the_process() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let pid = lab.service("shop-b").await.pid.unwrap();

    let (status, body) = lab.post("/api/services/shop-b/pause").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(process_state(pid), Some('T'), "SIGSTOP arrived");
    assert_eq!(body["service"]["paused"], true);
    assert_eq!(
        wait_health(&lab, "shop-b", Health::Down).await.pid,
        Some(pid),
        "paused: alive but not answering"
    );

    let (status, _) = lab.post("/api/services/shop-b/resume").await;
    assert_eq!(status, 200);
    assert_ne!(process_state(pid), Some('T'), "SIGCONT arrived");
    wait_health(&lab, "shop-b", Health::Up).await;

    let (status, body) = lab.post("/api/services/shop-b/kill").await;
    assert_eq!(status, 200, "{body}");
    assert!(wait_gone(&[pid], Duration::from_secs(5)).await.is_empty(), "SIGKILL arrived");
    let row = wait_health(&lab, "shop-b", Health::Down).await;
    assert_eq!(row.pid, None);
    assert!(row.detail.unwrap().contains("SIGKILL"));
    let (status, body) = lab.post("/api/services/shop-b/kill").await;
    assert_eq!((status, body["code"].as_u64()), (409, Some(409)), "nothing left to kill: {body}");

    let (status, body) = lab.post("/api/services/shop-b/restart").await;
    assert_eq!(status, 200, "{body}");
    let new_pid = body["service"]["pid"].as_u64().unwrap() as u32;
    assert_ne!(new_pid, pid);
    assert!(alive(new_pid));
    wait_health(&lab, "shop-b", Health::Up).await;

    let (status, _) = lab.post("/api/services/shop-b/stop").await;
    assert_eq!(status, 200);
    assert!(!alive(new_pid), "SIGTERM: the service shut down");
    assert!(lab.service("shop-b").await.detail.unwrap().contains("exit status: 0"), "a clean exit");

    let (status, _) = lab.post("/api/services/shop-b/explode").await;
    assert_eq!(status, 400);
    let (status, _) = lab.post("/api/services/nobody/kill").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_reports_a_kill_within_a_second() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let response = reqwest::get(lab.url("/events")).await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // The stream subscribes to the bus before it answers: from its headers on, nothing is missed.
    let mut stream = response.bytes_stream();

    let killed = Instant::now();
    let (status, _) = lab.post("/api/services/shop-a/kill").await;
    assert_eq!(status, 200);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let events: Vec<LabEvent> = seen
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect();
            if events.iter().any(|e| e.service == "shop-a" && e.kind == EventKind::Down) {
                return events;
            }
        }
        Vec::new()
    })
    .await;
    let events = found
        .unwrap_or_else(|_| panic!("no shop-a down event within 1 s of the kill; got:\n{seen}"));
    assert!(!events.is_empty());
    eprintln!("down event after {:?}", killed.elapsed());

    // Events of other services are merged in: the registry reports its failover.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let recent: Vec<LabEvent> = support::get_json(&lab.url("/events/recent")).await;
        if recent.iter().any(|e| e.service == "registry" && e.kind == EventKind::Failover) {
            break;
        }
        assert!(Instant::now() < deadline, "no failover event from the registry: {recent:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_link_isolates_a_healthy_server_until_healed() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let registry = lab.wait_registry_ready().await;
    let client = reqwest::Client::new();
    let response = client
        .put(lab.url("/api/links/registry/shop-a"))
        .json(&json!({"cut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let outcome: serde_json::Value = response.json().await.unwrap();
    assert_eq!(outcome["service"]["links"][0]["fault"]["cut"], true, "{outcome}");

    let faults: serde_json::Value = support::get_json(&format!("{registry}/admin/links")).await;
    assert_eq!(faults[0]["fault"]["cut"], true, "the registry itself holds the fault: {faults}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status: serde_json::Value = support::get_json(&format!("{registry}/servers")).await;
        if status["servers"][0]["state"] == "down" {
            assert!(status["servers"][0]["lastError"].as_str().unwrap().contains("cut"));
            break;
        }
        assert!(Instant::now() < deadline, "the registry still sees A: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        lab.service("shop-a").await.health,
        Health::Up,
        "A itself is fine: only the link is cut"
    );

    let response = client.delete(lab.url("/api/links/registry/shop-a")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    lab.wait_registry_ready().await;

    let bad = client
        .put(lab.url("/api/links/shop-a/registry"))
        .json(&json!({"cut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404, "shop-a has no link to the registry");
    let bad = client
        .put(lab.url("/api/links/registry/shop-a"))
        .json(&json!({"dropRate": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 502, "the registry refuses a drop rate over 1");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shop_failover_scenario_measures_no_failed_order() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    lab.wait_registry_ready().await;
    let (status, verdict) = lab.post("/api/scenarios/shop-failover").await;
    assert_eq!(status, 200, "{verdict}");
    checked_by(&lab, &verdict, "set").await;
    let measured = measurements(&verdict);
    assert_eq!(measured["failed"], "0", "{verdict}");
    // One client, one order at a time: at most the order in flight at the kill is unknown.
    assert!(
        measured["in flight when A died (outcome unknown)"].parse::<u32>().unwrap() <= 1,
        "{verdict}"
    );
    assert!(measured["orders placed"].parse::<u32>().unwrap() > 20, "{verdict}");
    assert!(measured["kill → registry stops handing out A"].ends_with(" ms"), "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    assert!(lab.service("shop-a").await.pid.is_some(), "the scenario restarted A");
    let (status, _) = lab.post("/api/scenarios/no-such").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_partition_scenario_takes_a_out_and_back_without_a_failed_order() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    lab.wait_registry_ready().await;
    let (status, verdict) = lab.post("/api/scenarios/registry-partition").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    checked_by(&lab, &verdict, "set").await;
    let measured = measurements(&verdict);
    assert_eq!(measured["failed"], "0", "{verdict}");
    assert!(measured["cut → A out of rotation"].ends_with(" ms"), "{verdict}");
    assert!(measured["heal → A back in rotation"].ends_with(" ms"), "{verdict}");
    assert!(lab.service("shop-a").await.pid.is_some(), "A never stopped");
}

#[tokio::test]
async fn admin_routes_refuse_other_machines_and_other_origins() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::Request;
    use tower::ServiceExt;

    let service = backend::registry::service("registry");
    let registry = backend::registry::Registry::new(Default::default(), &[], &service);
    let app = backend::registry::router(service, registry);
    let send = |from: [u8; 4], origin: Option<&str>| {
        let app = app.clone();
        let origin = origin.map(str::to_owned);
        async move {
            let mut request = Request::put("/admin/links/127.0.0.1:9")
                .header("content-type", "application/json")
                .header("host", "127.0.0.1:8000");
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let mut request = request.body(Body::from(r#"{"cut":true}"#)).unwrap();
            request.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from((from, 40000))));
            app.oneshot(request).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(send([10, 0, 0, 7], None).await, 403, "another machine");
    assert_eq!(send([192, 168, 1, 9], None).await, 403, "another machine");
    assert_eq!(
        send([127, 0, 0, 1], Some("http://evil.example")).await,
        403,
        "a page of another site"
    );
    assert_eq!(send([127, 0, 0, 1], None).await, 200, "this machine");
    assert_eq!(send([127, 0, 0, 1], Some("http://127.0.0.1:8000")).await, 200, "same origin");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_requests_are_relayed_to_the_service() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let client = reqwest::Client::new();
    let response = client
        .put(lab.url("/api/services/model-c/admin/behavior"))
        .json(&json!({"behavior": "random"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let info: shared::models::ModelInfo =
        support::get_json(&format!("{}/info", lab.service("model-c").await.url)).await;
    assert_eq!(info.behavior, shared::models::Behavior::Random);
    let response = client
        .put(lab.url("/api/services/model-c/admin/behavior"))
        .json(&json!({"behavior": "evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "the service's own refusal comes back");
    let response =
        client.put(lab.url("/api/services/nobody/admin/x")).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dishonest_model_scenario_ejects_c_and_restores_it() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let (status, verdict) = lab.post("/api/scenarios/dishonest-model").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    // The stake ledger, read back, is judged: every balance explained by its events, the
    // money conserved (the registrations' deposits, the rewards and slashes since, the
    // withdrawal and the fresh deposit of C).
    checked_by(&lab, &verdict, "ledger").await;
    let audited = &measurements(&verdict)["ledger events read back for the checker"];
    assert!(audited.parse::<u32>().unwrap() > 10, "{verdict}");
    let meta = lab.service("meta-model").await.url;
    let models: Vec<shared::models::ModelEntry> =
        support::get_json(&format!("{meta}/models")).await;
    let c = models.iter().find(|m| m.name == "C").unwrap();
    assert_eq!(
        (c.state.as_str(), c.balance),
        ("active", 1000.0),
        "C is back with a fresh deposit: {models:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_primary_loss_scenarios_lose_exactly_the_lag_shown_and_nothing_when_mirrored() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let (status, verdict) = lab.post("/api/scenarios/async-primary-loss").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    checked_by(&lab, &verdict, "mirror").await;
    let measured = measurements(&verdict);
    assert_eq!(measured["entries lost (RPO)"], measured["lag shown before (entries)"]);
    assert_eq!(measured["entries lost (RPO)"], "30");
    assert_eq!(measured["primary killed"], "store-async-primary");
    // Run again: the first run promoted the store started as the mirror, and the scenario kills
    // the store that is the primary now (it used to kill the mirror, and its failover failed).
    let (status, verdict) = lab.post("/api/scenarios/async-primary-loss").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    let measured = measurements(&verdict);
    assert_eq!(measured["primary killed"], "store-async-mirror");
    assert_eq!(measured["entries lost (RPO)"], measured["lag shown before (entries)"]);
    // Synchronous mirroring (3010): the same kill loses nothing, as the mirror checker agrees.
    let (status, verdict) = lab.post("/api/scenarios/sync-primary-loss").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    checked_by(&lab, &verdict, "mirror").await;
    let measured = measurements(&verdict);
    assert_eq!(measured["primary killed"], "store-sync-primary");
    assert_eq!(measured["lag shown before (entries)"], "0");
    assert_eq!(measured["entries lost (RPO)"], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_paxos_leader_loss_scenario_elects_a_new_leader_and_the_old_one_follows() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let (status, verdict) = lab.post("/api/scenarios/paxos-leader-loss").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    checked_by(&lab, &verdict, "max-register").await;
    let measured = measurements(&verdict);
    assert_ne!(measured["new leader"], measured["leader killed"], "{verdict}");
    assert!(lab.service(&measured["leader killed"]).await.pid.is_some(), "restarted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_partition_scenario_converges_after_the_heal() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let (status, verdict) = lab.post("/api/scenarios/node-partition").await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["passed"], true, "{verdict}");
    checked_by(&lab, &verdict, "set").await;
}

/// The scenario recorded itself, and `model`'s checker judged its operations valid.
async fn checked_by(lab: &Lab, verdict: &serde_json::Value, model: &str) {
    let check = &verdict["check"];
    assert_eq!(
        (check["model"].as_str(), &check["valid"]),
        (Some(model), &serde_json::json!(true)),
        "{verdict}"
    );
    assert!(check["ops"].as_u64().unwrap_or(0) >= 3, "operations were recorded: {verdict}");
    let id = verdict["recording"].as_str().expect("the scenario's recording");
    let run: shared::control::RunInfo =
        support::get_json(&lab.url(&format!("/api/recordings/{id}"))).await;
    assert_eq!(run.verdict.map(|v| v.valid), Some(shared::history::Validity::True));
}
