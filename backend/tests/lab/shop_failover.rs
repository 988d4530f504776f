//! Kill -9 shop server A under load: a client resolving through the registry sees no failed
//! request, the registry stops handing out A, and hands it out again once A restarts.

use crate::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backend::shop_client::ShopClient;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::Method;
use serde_json::json;
use support::{wait_gone, Lab};

/// A process this test started, killed (by PID) when the test ends, however it ends.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn registry_state(registry: &str, address: &str) -> String {
    let status: serde_json::Value = support::get_json(&format!("{registry}/servers")).await;
    let row =
        status["servers"].as_array().unwrap().iter().find(|s| s["address"] == address).cloned();
    row.map_or_else(String::new, |r| r["state"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_server_a_fails_no_request_and_a_restarted_a_is_served_again() {
    let lab = Lab::up();
    let services = lab.wait_all_up().await;
    let find = |name: &str| services.iter().find(|s| s.name == name).unwrap().clone();
    let (shop_a, registry) = (find("shop-a"), find("registry"));
    let a_port = shop_a.url.rsplit_once(':').unwrap().1.to_owned();
    let a_address = format!("localhost:{a_port}");

    lab.wait_registry_ready().await;

    let client = ShopClient::new(&registry.url);
    let created = client
        .send(Method::POST, "/products", Some(&json!({"name": "Tablet", "price": 299.99})))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let id =
        serde_json::from_str::<serde_json::Value>(&created.body).unwrap()["id"].as_u64().unwrap();

    // Load: idempotent reads and updates, bounded in count and time, while A is killed.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut answered, mut failures, mut servers) =
                (0, Vec::new(), std::collections::BTreeSet::new());
            let deadline = Instant::now() + Duration::from_secs(3);
            for n in 0..600 {
                if Instant::now() > deadline {
                    break;
                }
                let result = if n % 2 == 0 {
                    client.send(Method::GET, &format!("/products/{id}"), None).await
                } else {
                    client
                        .send(Method::PUT, &format!("/products/{id}"), Some(&json!({"price": n})))
                        .await
                };
                match result {
                    Ok(answer) if answer.status < 300 => {
                        answered += 1;
                        servers.insert(answer.server);
                    }
                    Ok(answer) => failures.push(format!("{} {}", answer.status, answer.body)),
                    Err(err) => failures.push(err.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (answered, failures, servers)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a_pid = shop_a.pid.unwrap();
    kill(Pid::from_raw(a_pid as i32), Signal::SIGKILL).unwrap();
    assert!(wait_gone(&[a_pid], Duration::from_secs(5)).await.is_empty(), "A is really dead");
    let (answered, failures, servers) = load.await.unwrap();
    assert!(failures.is_empty(), "{} failed requests: {failures:?}", failures.len());
    assert!(answered > 50, "the load ran ({answered} answers)");
    assert!(servers.contains(&a_address), "A answered before it was killed: {servers:?}");

    // After the detection window: the registry never hands out A, and writes go through.
    let deadline = Instant::now() + Duration::from_secs(5);
    while registry_state(&registry.url, &a_address).await != "down" {
        assert!(Instant::now() < deadline, "the registry still lists A as up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        assert_ne!(client.resolve().await.unwrap(), a_address);
    }
    let order = json!({"userId": 1, "items": [{"productId": id, "quantity": 1}]});
    let placed = client.send(Method::POST, "/orders", Some(&order)).await.unwrap();
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert!(placed.failed.is_empty(), "no retry needed once A is out: {:?}", placed.failed);

    // Restart A on its port with the same store: it is handed out again after `rise` checks.
    let _a = Started(
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(["serve", "shop", "--name", "shop-a", "--port", &a_port, "--db"])
            .arg(lab.data().join("shop.sqlite3"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let picks: Vec<String> = futures::future::join_all((0..4).map(|_| client.resolve()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        if picks.contains(&a_address) {
            break;
        }
        assert!(Instant::now() < deadline, "A was not handed out again after its restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A serves the data written while it was down: one store, nothing lost.
    let orders = reqwest::get(format!("http://127.0.0.1:{a_port}/orders/1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(orders.contains(&format!("\"productId\":{id}")), "{orders}");
}
