//! Partition sync node 3 from nodes 1 and 2, add a person on each side, heal: how long until
//! all three hold the same persons and the same highest number?

use std::time::Duration;

use shared::control::LinkFault;
use shared::sync::NodeData;

use serde_json::{json, Value};

use super::{
    add_person, get_json, recorded, running_nodes, wait_until, within, Finding, REACTION_LIMIT,
};
use crate::control::{change_link, ControlError, ControlState};

pub(super) async fn run(state: &ControlState) -> Result<Finding, ControlError> {
    let urls: Vec<String> = running_nodes(state)?.into_iter().map(|(_, url)| url).collect();
    let data = |url: &str| get_json::<NodeData>(state, format!("{url}/get_data"));
    let base = data(&urls[0]).await?.highest_number;
    let set = |cut: bool| async move {
        for other in ["node-1", "node-2"] {
            let fault = LinkFault { cut, ..LinkFault::default() };
            change_link(state, "node-3", other, fault).await?;
            change_link(state, other, "node-3", fault).await?;
        }
        Ok::<_, ControlError>(())
    };
    let stamp = crate::service::now_ms();
    let (left, right) = (format!("left {stamp}"), format!("right {stamp}"));
    let (left_number, right_number) = (base + 1, base + 2);
    set(true).await?;
    // While cut: one person on each side; does node 3 miss node 1's? (Healed whatever happens.)
    let added = |name: &String| Some(json!(name));
    let apart = async {
        let add = add_person(state, &urls[0], &left, left_number);
        recorded(state, 0, "add", json!(left), true, |_| added(&left), add).await?;
        let add = add_person(state, &urls[2], &right, right_number);
        recorded(state, 2, "add", json!(right), true, |_| added(&right), add).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        data(&urls[2]).await
    }
    .await;
    set(false).await?;
    let isolated = !apart?.persons.iter().any(|p| p.name == left);
    let converged = || async {
        let mut all = Vec::new();
        for url in &urls {
            all.push(data(url).await?);
        }
        let same = all
            .windows(2)
            .all(|w| w[0].persons == w[1].persons && w[0].highest_number == w[1].highest_number);
        let both = all[0].persons.iter().any(|p| p.name == right)
            && all[2].persons.iter().any(|p| p.name == left);
        Ok(same && both && all[0].highest_number >= right_number)
    };
    let converged = wait_until(
        "the nodes to converge after the heal",
        REACTION_LIMIT,
        Duration::from_millis(20),
        converged,
    )
    .await?;
    // Each node's last read of the two persons, for the set checker: both on every node.
    for (process, url) in urls.iter().enumerate() {
        let ours = |data: &NodeData| {
            let mut names: Vec<&str> = data
                .persons
                .iter()
                .map(|p| p.name.as_str())
                .filter(|n| *n == left || *n == right)
                .collect();
            names.sort_unstable();
            Some(json!(names))
        };
        recorded(state, process as u64, "read", Value::Null, false, ours, data(url)).await?;
    }
    Ok(Finding {
        verdict: match converged {
            Some(t) => format!("All three nodes agreed on every person and on the highest number {} ms after the partition healed — no manual step.", t.as_millis()),
            None => format!("The nodes did not converge within {} s of the heal.", REACTION_LIMIT.as_secs()),
        },
        measurements: vec![
            ("node 3 missed node 1's person while cut off".into(), isolated.to_string()),
            ("heal → converged".into(), within(converged)),
            ("highest number agreed".into(), right_number.to_string()),
        ],
        passed: isolated && converged.is_some(),
    })
}
