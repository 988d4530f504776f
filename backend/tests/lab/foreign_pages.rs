//! No web page the user happens to visit can change the lab: every route that changes topology,
//! roles, membership, modes, behaviours or processes refuses a foreign `Origin`, and a
//! DNS-rebinding request (a foreign name as `Host`, and as its own `Origin`), with a 403 JSON
//! reason — and nothing changes. curl (no `Origin`) still works.

use crate::support;

use reqwest::Method;
use serde_json::{json, Value};
use shared::ErrorBody;
use support::Lab;

/// What a malicious page could try, on the lab's real ports.
async fn attempts(lab: &Lab) -> Vec<(Method, String, Option<Value>)> {
    let url = |name: &'static str| async move { lab.service(name).await.url };
    let (control, meta, registry) = (lab.url(""), url("meta-model").await, url("registry").await);
    let (mirroring, replication) = (url("mirroring").await, url("replication").await);
    let (node, model, store) =
        (url("node-1").await, url("model-c").await, url("store-sync-mirror").await);
    let shop_a = url("shop-a").await.replace("http://127.0.0.1", "localhost");
    let post = |u: String| (Method::POST, u, None);
    vec![
        post(format!("{control}/api/services/model-b/kill")),
        post(format!("{control}/api/scenarios/dishonest-model")),
        post(format!("{control}/api/workshop/steps/b6/shop-failover")),
        (Method::PUT, format!("{control}/api/links/registry/shop-a"), Some(json!({"cut": true}))),
        (
            Method::PUT,
            format!("{control}/api/services/model-c/admin/behavior"),
            Some(json!({"behavior": "inverted"})),
        ),
        (
            Method::POST,
            format!("{meta}/models"),
            Some(json!({"name": "FAKE", "url": "http://localhost:9", "deposit": 1000})),
        ),
        (Method::DELETE, format!("{meta}/models/1"), None),
        post(format!("{meta}/evaluate")),
        (Method::POST, format!("{registry}/servers"), Some(json!({"address": "localhost:9"}))),
        (Method::DELETE, format!("{registry}/servers/{shop_a}"), None),
        post(format!("{mirroring}/failover?force=true")),
        post(format!("{mirroring}/rebuild")),
        post(format!("{replication}/sync")),
        post(format!("{replication}/failover?force=true")),
        post(format!("{node}/switch_to_crdt_only")),
        post(format!("{node}/switch_to_normal")),
        (Method::PUT, format!("{model}/admin/behavior"), Some(json!({"behavior": "inverted"}))),
        (Method::PUT, format!("{registry}/admin/links/{shop_a}"), Some(json!({"cut": true}))),
        post(format!("{store}/replication/promote")),
        post(format!("{store}/replication/reset")),
        (Method::POST, format!("{store}/replication/apply"), Some(json!([]))),
        // The original's acceptor, and what only the nodes send each other.
        (Method::POST, format!("{node}/prepare"), Some(json!({"proposal_number": 99}))),
        (Method::POST, format!("{node}/accept"), Some(json!({"proposal_number": 99, "value": 5}))),
        (
            Method::POST,
            format!("{node}/paxos"),
            Some(json!({"from": 9, "message": {"type": "decided", "instance": 1, "value": 999}})),
        ),
        (
            Method::POST,
            format!("{node}/crdt/merge"),
            Some(json!({"persons": {"adds": [[{"name": "evil", "number": 999},
                [{"node": 9, "counter": 1}]]], "tombstones": []}, "max": 999})),
        ),
    ]
}

/// Everything those attempts could change.
async fn snapshot(lab: &Lab) -> Value {
    let get = |url: String| async move { support::get_json::<Value>(&url).await };
    let url = |name: &'static str| async move { lab.service(name).await.url };
    let processes: Vec<Value> = lab
        .services()
        .await
        .into_iter()
        .map(|s| {
            json!([s.name, s.pid, s.links.iter().map(|l| l.fault.is_healthy()).collect::<Vec<_>>()])
        })
        .collect();
    let models: Value = get(format!("{}/models", url("meta-model").await)).await;
    let model_rows: Vec<Value> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!([m["id"], m["name"], m["state"]]))
        .collect();
    let servers: Value = get(format!("{}/servers", url("registry").await)).await;
    let addresses: Vec<Value> =
        servers["servers"].as_array().unwrap().iter().map(|s| s["address"].clone()).collect();
    let mut roles = Vec::new();
    for store in
        ["store-sync-primary", "store-sync-mirror", "store-async-primary", "store-async-mirror"]
    {
        roles.push(get(format!("{}/replication/state", url(store).await)).await["role"].clone());
    }
    let load: Value = get(format!("{}/get_load", url("node-1").await)).await;
    let data: Value = get(format!("{}/get_data", url("node-1").await)).await;
    let info: Value = get(format!("{}/info", url("model-c").await)).await;
    let links: Value = get(format!("{}/admin/links", url("registry").await)).await;
    json!({
        "processes": processes, "models": model_rows, "servers": addresses, "roles": roles,
        "mode": [load["mode"], load["forced"]], "behavior": info["behavior"], "links": links,
        "node": [data["highestNumber"], data["persons"]],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn no_foreign_page_and_no_rebinding_host_can_change_the_lab() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let before = snapshot(&lab).await;
    let client = reqwest::Client::new();
    for (method, url, body) in attempts(&lab).await {
        let port =
            url.split(':').nth(2).and_then(|rest| rest.split('/').next()).unwrap().to_owned();
        let rebinding = format!("evil.example:{port}");
        for (host, origin) in [
            (None, "http://evil.example".to_owned()),
            (Some(rebinding.clone()), format!("http://{rebinding}")),
        ] {
            let mut request = client.request(method.clone(), &url).header("origin", &origin);
            if let Some(host) = &host {
                request = request.header("host", host);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let error: ErrorBody = answer.json().await.unwrap_or_else(|e| {
                panic!("{method} {url} from {origin} (host {host:?}): {status}, not JSON: {e}")
            });
            assert_eq!(status, 403, "{method} {url} from {origin} (host {host:?}): {error:?}");
            assert!(!error.message.is_empty());
        }
        // A rebinding request without an Origin is refused too (the Host alone gives it away).
        let answer =
            client.request(method.clone(), &url).header("host", &rebinding).send().await.unwrap();
        assert_eq!(answer.status(), 403, "{method} {url} with host {rebinding}");
    }
    assert_eq!(snapshot(&lab).await, before, "a refused request changed something");

    // curl, and the dashboard's own origin, still get through.
    let sync = format!("{}/sync", lab.service("replication").await.url);
    assert_eq!(client.post(&sync).send().await.unwrap().status(), 200, "curl");
    let dashboard = lab.url("");
    let answer = client.post(&sync).header("origin", &dashboard).send().await.unwrap();
    assert_eq!(answer.status(), 200, "the dashboard's origin");
    let switched = client
        .post(format!("{}/switch_to_crdt_only", lab.service("node-2").await.url))
        .header("origin", dashboard.replace("localhost", "127.0.0.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 200, "the dashboard by address");
}
