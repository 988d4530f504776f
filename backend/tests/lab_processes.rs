//! `lab up` runs every service as its own OS process and leaves none behind.

mod support;

use std::time::Duration;

use support::{alive, wait_gone, Lab};

fn child_pids(services: &[shared::ServiceStatus], up_pid: u32) -> Vec<u32> {
    let pids: Vec<u32> =
        services.iter().filter_map(|s| s.pid).filter(|pid| *pid != up_pid).collect();
    assert!(!pids.is_empty(), "up started no child process: {services:#?}");
    pids
}

#[tokio::test]
async fn each_service_is_its_own_process_and_sigterm_leaves_no_orphan() {
    let mut lab = Lab::up();
    let services = lab.wait_all_up().await;
    let children = child_pids(&services, lab.pid());
    for pid in &children {
        assert!(alive(*pid), "child {pid} should be running");
    }
    assert_eq!(services.iter().find(|s| s.name == "control").and_then(|s| s.pid), Some(lab.pid()));

    assert!(lab.terminate(Duration::from_secs(10)), "up did not exit within 10 s of SIGTERM");
    let left = wait_gone(&children, Duration::from_secs(2)).await;
    assert!(left.is_empty(), "children still running after up exited: {left:?}");
}

#[tokio::test]
async fn children_stop_even_when_up_is_killed_with_sigkill() {
    let mut lab = Lab::up();
    let children = child_pids(&lab.wait_all_up().await, lab.pid());
    lab.kill_hard();
    // up had no chance to clean up: the kernel's parent-death signal must stop the children.
    let left = wait_gone(&children, Duration::from_secs(10)).await;
    assert!(left.is_empty(), "orphans left after SIGKILL of up: {left:?}");
}

#[tokio::test]
async fn a_dead_service_shows_as_down_without_a_pid() {
    let lab = Lab::up();
    let services = lab.wait_all_up().await;
    let victim = services.iter().find(|s| s.name == "shop-b").expect("shop-b runs");
    let pid = victim.pid.unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let row = lab.service("shop-b").await;
        if row.pid.is_none() && row.health == shared::Health::Down {
            assert!(row.detail.unwrap_or_default().contains("signal"), "the row says how it ended");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "shop-b still listed as running: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
