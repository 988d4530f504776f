//! The nemesis: faults on a seeded schedule, through the control plane's own actions (real
//! signals to real processes, the services' link faults), so each is a `nemesis` line in the
//! history like a fault injected from the dashboard.
//!
//! The run's time is cut into cycles (a quarter of it, from 2 to 10 s): each cycle is quiet for
//! its first half, then one fault — the nemesis kinds take turns, the target is drawn from the
//! seed — holds for the second half and is healed. After the last cycle everything is healed.

use std::time::Duration;

use rand::Rng;
use shared::control::{LinkFault, Nemesis, ProcessAction};

use super::Run;
use crate::control::change_link;
use crate::control::supervisor::ActionError;

/// The quiet-then-faulty period of the schedule for a run of `time`.
pub fn cycle(time: Duration) -> Duration {
    (time / 4).clamp(Duration::from_secs(2), Duration::from_secs(10))
}

/// One fault of the schedule: what, on whom, from when to when (since the run began).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub nemesis: Nemesis,
    pub target: String,
    pub from: Duration,
    pub until: Duration,
}

/// The faults a run of `time` gets, seeded: pure, so the same seed is the same schedule.
pub fn plan(
    kinds: &[Nemesis],
    targets: &[String],
    time: Duration,
    rng: &mut impl Rng,
) -> Vec<Planned> {
    if kinds.is_empty() || targets.is_empty() {
        return Vec::new();
    }
    let cycle = cycle(time);
    let first = rng.random_range(0..kinds.len());
    let mut plan = Vec::new();
    let mut start = Duration::ZERO;
    let mut turn = 0;
    while start + cycle <= time {
        plan.push(Planned {
            nemesis: kinds[(first + turn) % kinds.len()],
            target: targets[rng.random_range(0..targets.len())].clone(),
            from: start + cycle / 2,
            until: start + cycle,
        });
        start += cycle;
        turn += 1;
    }
    plan
}

/// Inject `planned` faults as the clock says, healing each in turn; a partition cuts its target
/// off from `peers` (the other nodes; the registry, for a shop server).
pub async fn execute(run: &Run<'_>, planned: Vec<Planned>, peers: &[String]) {
    let began = tokio::time::Instant::now();
    for fault in planned {
        tokio::time::sleep_until(began + fault.from).await;
        tracing::info!(nemesis = %fault.nemesis, target = %fault.target, "nemesis: fault");
        inject(run, &fault, peers).await;
        tokio::time::sleep_until(began + fault.until).await;
        tracing::info!(nemesis = %fault.nemesis, target = %fault.target, "nemesis: heal");
        heal(run, &fault, peers).await;
    }
}

async fn inject(run: &Run<'_>, fault: &Planned, peers: &[String]) {
    let state = run.state;
    let outcome = match fault.nemesis {
        Nemesis::Partition => {
            let cut = LinkFault { cut: true, ..LinkFault::default() };
            links(run, &fault.target, peers, cut).await;
            Ok(String::new())
        }
        Nemesis::Kill => state.supervisor.act(&fault.target, ProcessAction::Kill).await,
        Nemesis::Pause => state.supervisor.act(&fault.target, ProcessAction::Pause).await,
    };
    if let Err(err) = outcome {
        tracing::warn!(%err, "nemesis: the fault could not be injected");
    }
}

async fn heal(run: &Run<'_>, fault: &Planned, peers: &[String]) {
    let state = run.state;
    let outcome = match fault.nemesis {
        Nemesis::Partition => {
            links(run, &fault.target, peers, LinkFault::default()).await;
            Ok(String::new())
        }
        Nemesis::Kill => restart(run, &fault.target).await,
        Nemesis::Pause => state.supervisor.act(&fault.target, ProcessAction::Resume).await,
    };
    if let Err(err) = outcome {
        tracing::warn!(%err, "nemesis: the fault could not be healed");
    }
}

/// Start `target` again, with the run's bugs and the nodes' mode (a new process starts
/// without them).
async fn restart(run: &Run<'_>, target: &str) -> Result<String, ActionError> {
    let done = run.state.supervisor.act(target, ProcessAction::Restart).await?;
    if !run.spec.bugs.is_empty() || run.spec.crdt_only {
        let ready = super::settle(Duration::from_secs(10), || async {
            let url = run.state.table.get(target).map(|row| format!("{}/health", row.url));
            match url {
                Some(url) => {
                    run.client.get(url).send().await.is_ok_and(|r| r.status().is_success())
                }
                None => false,
            }
        });
        ready.await;
        run.switch_bugs(true, Some(target)).await;
        if run.spec.crdt_only {
            run.switch_nodes(true, Some(target)).await;
        }
    }
    Ok(done)
}

/// Set `fault` on the links between `target` and every other of `peers`, both ways (where
/// the service calls the other at all).
async fn links(run: &Run<'_>, target: &str, peers: &[String], fault: LinkFault) {
    let calls = |from: &str, to: &str| {
        run.state.table.get(from).is_some_and(|row| row.links.iter().any(|l| l.to == to))
    };
    for other in peers.iter().filter(|t| t.as_str() != target) {
        for (from, to) in [(target, other.as_str()), (other.as_str(), target)] {
            if !calls(from, to) {
                continue;
            }
            if let Err(err) = change_link(run.state, from, to, fault).await {
                tracing::warn!(%from, %to, %err, "nemesis: link change failed");
            }
        }
    }
}

/// Put every target back: its links with `peers` healed, paused ones resumed, dead ones
/// restarted.
pub async fn heal_all(run: &Run<'_>, targets: &[String], peers: &[String]) {
    let state = run.state;
    for target in targets {
        let Some(row) = state.table.get(target) else { continue };
        let faulty = |name: &str| {
            state.table.get(name).is_some_and(|r| r.links.iter().any(|l| !l.fault.is_healthy()))
        };
        if faulty(target) || peers.iter().any(|p| faulty(p)) {
            links(run, target, peers, LinkFault::default()).await;
        }
        let back = match (row.pid, row.paused) {
            (None, _) => Some(restart(run, target).await),
            (Some(_), true) => Some(state.supervisor.act(target, ProcessAction::Resume).await),
            _ => None,
        };
        if let Some(Err(err)) = back {
            tracing::warn!(%target, %err, "nemesis: could not put the target back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn names() -> Vec<String> {
        ["node-1", "node-2", "node-3"].map(String::from).to_vec()
    }

    #[test]
    fn the_same_seed_plans_the_same_faults_taking_turns_within_the_run() {
        let kinds = [Nemesis::Partition, Nemesis::Kill];
        let time = Duration::from_secs(20);
        let planned = plan(&kinds, &names(), time, &mut StdRng::seed_from_u64(1));
        assert_eq!(planned, plan(&kinds, &names(), time, &mut StdRng::seed_from_u64(1)));
        assert_eq!(planned.len(), 4, "four 5 s cycles in 20 s");
        assert!(planned
            .windows(2)
            .all(|w| w[0].nemesis != w[1].nemesis && w[0].until <= w[1].from));
        assert!(planned.iter().all(|p| p.from < p.until && p.until <= time));
        assert_eq!(planned[0].from, Duration::from_millis(2500));
        assert!(plan(&[], &names(), time, &mut StdRng::seed_from_u64(1)).is_empty());
        let short = plan(&kinds, &names(), Duration::from_secs(1), &mut StdRng::seed_from_u64(1));
        assert!(short.is_empty(), "a run shorter than a cycle gets no fault: {short:?}");
    }
}
