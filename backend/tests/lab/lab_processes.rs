//! `lab up` runs every service as its own OS process and leaves none behind.

use crate::support;

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

#[tokio::test]
async fn when_up_says_ready_every_service_is_up_and_the_registry_hands_out_a_server() {
    let lab = Lab::up();
    // The first requests after the dashboard line: no waiting, no retry.
    let services = lab.services().await;
    let not_up: Vec<_> = services.iter().filter(|s| s.health != shared::Health::Up).collect();
    assert!(not_up.is_empty(), "listed as not up right after the dashboard line: {not_up:#?}");
    let registry = &services.iter().find(|s| s.name == "registry").expect("a registry").url;
    let answer = reqwest::get(format!("{registry}/getServer")).await.unwrap();
    assert_eq!(answer.status(), 200, "GET /getServer right after the dashboard line");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], 200, "{body}");

    let unknown = reqwest::get(lab.url("/api/nope")).await.unwrap();
    assert_eq!(unknown.status(), 404);
    let error: shared::ErrorBody = unknown.json().await.expect("a JSON error under /api/");
    assert_eq!(error.code, 404);
    assert!(error.message.contains("/api/nope"), "{}", error.message);
}

/// Start a second `lab up` with `ports` moved; it must fail by itself within 20 s, print nothing
/// on stdout and create no data. Returns its stderr.
async fn second_lab(ports: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["up", "--free-ports", "--ports", ports, "--data"])
        .arg(data.path())
        // As on these machines: a backtrace is asked for, and must still not be printed for an
        // error that explains itself.
        .env("RUST_BACKTRACE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("a second lab with --ports {ports} did not exit within 20 s"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "a second lab on a taken port exited with success");
    assert!(output.stdout.is_empty(), "it printed: {}", String::from_utf8_lossy(&output.stdout));
    assert!(data.path().read_dir().unwrap().next().is_none(), "it created data: {stderr}");
    stderr
}

#[tokio::test]
async fn a_second_lab_on_a_taken_port_says_which_in_one_line_and_starts_nothing() {
    let lab = Lab::up();
    let before = lab.wait_all_up().await;
    let port_of = |name: &str| {
        let row = before.iter().find(|s| s.name == name).unwrap();
        (row.url.rsplit_once(':').unwrap().1.parse::<u16>().unwrap(), row.pid.unwrap())
    };
    for service in ["control", "shop-a", "node-3"] {
        let (port, holder) = port_of(service);
        let stderr = second_lab(&format!("{service}={port}")).await;
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line, no backtrace, nothing started:\n{stderr}");
        let line = lines[0];
        assert!(
            line.starts_with(&format!("error: {service} cannot listen on 127.0.0.1:{port}")),
            "{line}"
        );
        assert!(line.contains(&format!("held by pid {holder}")), "names what holds it: {line}");
        assert!(line.contains("--free-ports"), "says what to do: {line}");
    }
    let after = lab.services().await;
    for row in &before {
        let now = after.iter().find(|s| s.name == row.name).unwrap();
        assert_eq!(
            (now.pid, now.health),
            (row.pid, shared::Health::Up),
            "{} was touched",
            row.name
        );
    }
}
