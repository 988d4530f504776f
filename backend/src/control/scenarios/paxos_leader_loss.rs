//! Kill the Paxos leader (SIGKILL) and add a number on another node: how long until the
//! survivors agree on it under a new leader, what does the next number cost, and does the old
//! leader come back as a follower?

use std::time::{Duration, Instant};

use shared::control::ProcessAction;
use shared::sync::{Added, PaxosRole, PaxosStatus};

use serde_json::{json, Value};

use super::{
    add_person, get_json, ms, recorded, running_nodes, wait_until, within, Finding, REACTION_LIMIT,
};
use crate::control::{ControlError, ControlState};

pub(super) async fn run(state: &ControlState) -> Result<Finding, ControlError> {
    let nodes = running_nodes(state)?;
    let status = |url: &str| get_json::<PaxosStatus>(state, format!("{url}/paxos/status"));
    let stamp = crate::service::now_ms();
    // Make sure somebody leads: a number added on node 1 is decided by the leader (node 1
    // becomes it if there is none).
    let base = status(&nodes[0].1).await?.highest_number;
    raise(state, 0, &nodes[0].1, &format!("before {stamp}"), base + 1).await?;
    let mut leader = None;
    for (name, url) in &nodes {
        if status(url).await?.role == PaxosRole::Leader {
            leader = Some((name.clone(), url.clone()));
        }
    }
    let Some((leader, leader_url)) = leader else {
        return Err(ControlError::Conflict("no node leads Paxos right now (try again)".into()));
    };
    let (follower, follower_url) =
        nodes.iter().find(|(name, _)| *name != leader).cloned().expect("three nodes");
    let (first, second) = (base + 2, base + 3);

    state.supervisor.act(&leader, ProcessAction::Kill).await?;
    // With the leader dead: a number on the follower, how long until it is agreed, who leads
    // now, what the next number costs. (The old leader is restarted whatever happens.)
    let measured = async {
        let killed = Instant::now();
        let answer = raise(state, 1, &follower_url, &format!("after {stamp}"), first).await?;
        let answered = killed.elapsed();
        let agreed_there =
            || async { Ok(status(&follower_url).await.is_ok_and(|s| s.highest_number >= first)) };
        let agreed = wait_until(
            "the survivors to agree on the number",
            REACTION_LIMIT,
            Duration::from_millis(10),
            agreed_there,
        )
        .await?
        .map(|after_answer| answered + after_answer);
        let mut new_leader = "none".to_owned();
        for (name, url) in nodes.iter().filter(|(name, _)| *name != leader) {
            if status(url).await?.role == PaxosRole::Leader {
                new_leader = name.clone();
            }
        }
        let next = Instant::now();
        let next_answer = raise(state, 1, &follower_url, &format!("next {stamp}"), second).await?;
        Ok::<_, ControlError>((answer, answered, agreed, new_leader, next_answer, next.elapsed()))
    }
    .await;
    state.supervisor.act(&leader, ProcessAction::Restart).await?;
    let (answer, answered, agreed, new_leader, next_answer, next_took) = measured?;
    let caught_up = || async {
        let status = status(&leader_url).await;
        Ok(status.is_ok_and(|s| s.highest_number >= second && s.role == PaxosRole::Follower))
    };
    let rejoined = wait_until(
        "the old leader to follow, caught up",
        REACTION_LIMIT,
        Duration::from_millis(50),
        caught_up,
    )
    .await?;

    // Every node's highest number at the end, for the max-register checker.
    for (process, (_, url)) in nodes.iter().enumerate() {
        let read = |s: &PaxosStatus| Some(json!(s.highest_number));
        recorded(state, 10 + process as u64, "read", Value::Null, false, read, status(url)).await?;
    }
    let limit = REACTION_LIMIT.as_secs();
    let verdict = match agreed {
        Some(t) => format!(
            "{leader} (the leader) was killed; {follower}'s number {first} was agreed {} ms later under {new_leader}, which ran phase 1 once; the next number took {} ms (phase 2 only).{}",
            t.as_millis(),
            next_took.as_millis(),
            match rejoined {
                Some(r) => format!(" {leader} came back as a follower and caught up in {} ms.", r.as_millis()),
                None => format!(" {leader} did not rejoin as a caught-up follower within {limit} s."),
            }
        ),
        None => format!("With {leader} dead, the survivors did not agree on {first} within {limit} s."),
    };
    let agreed_word = |a: &Added| {
        if a.agreed == Some(true) {
            "agreed"
        } else {
            "not agreed yet (the decision follows)"
        }
    };
    Ok(Finding {
        verdict,
        measurements: vec![
            ("leader killed".into(), leader),
            ("number added on".into(), follower),
            (
                "its answer".into(),
                format!("after {} ms: {}", answered.as_millis(), agreed_word(&answer)),
            ),
            ("kill → number agreed".into(), within(agreed)),
            ("new leader".into(), new_leader.clone()),
            (
                "next number, with the new leader".into(),
                format!("{} ({})", ms(next_took), agreed_word(&next_answer)),
            ),
            ("restart → old leader caught up as follower".into(), within(rejoined)),
        ],
        passed: agreed.is_some()
            && new_leader != "none"
            && next_answer.agreed == Some(true)
            && rejoined.is_some(),
    })
}

/// Add a person with `number` on the node at `url`, recorded as a raise: `ok` once agreed.
async fn raise(
    state: &ControlState,
    process: u64,
    url: &str,
    name: &str,
    number: u64,
) -> Result<Added, ControlError> {
    let agreed = |a: &Added| (a.agreed == Some(true)).then(|| json!(number));
    let add = add_person(state, url, name, number);
    recorded(state, process, "raise", json!(number), true, agreed, add).await
}
