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
    // The shared lab: the second lab must leave it as it was. (Other tests use it meanwhile, so
    // a health check may miss once under their load: what must not change is its processes.)
    let lab = support::shared_lab();
    let before = lab.wait_all_up().await;
    let port_of = |name: &str| {
        let row = before.iter().find(|s| s.name == name).unwrap();
        (row.url.rsplit_once(':').unwrap().1.parse::<u16>().unwrap(), row.pid.unwrap())
    };
    // `--free-ports` gave it ports from one block of the range no connection draws from.
    let range = backend::catalog::free_port_range();
    let ports: Vec<u16> = before.iter().map(|s| port_of(&s.name).0).collect();
    let (low, high) = (*ports.iter().min().unwrap(), *ports.iter().max().unwrap());
    assert!(range.contains(&low) && range.contains(&high), "{ports:?} outside {range:?}");
    assert!(high - low < backend::catalog::PORT_BLOCK, "not from one block: {ports:?}");
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
    let after = lab.wait_all_up().await;
    for row in &before {
        let now = after.iter().find(|s| s.name == row.name).unwrap();
        assert_eq!(now.pid, row.pid, "{} was touched", row.name);
    }
}

/// Run by [`the_shared_lab_is_stopped_when_the_test_process_ends`] in a test process of its own:
/// start the shared lab, print its processes and data directory, and (with `PROBE_HANG`) wait to
/// be killed.
#[tokio::test]
#[ignore = "a helper: run by the_shared_lab_is_stopped_when_the_test_process_ends"]
#[allow(clippy::print_stdout)] // its output is what the other test reads
async fn shared_lab_probe() {
    let lab = support::shared_lab();
    let mut pids = child_pids(&lab.wait_all_up().await, lab.pid());
    pids.push(lab.pid());
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("probe: {} {}", lab.data().display(), pids.join(" "));
    if std::env::var_os("PROBE_HANG").is_some() {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[tokio::test]
async fn the_shared_lab_is_stopped_when_the_test_process_ends() {
    use std::io::BufRead;
    // Statics are never dropped: the shared lab must be stopped on the way out all the same —
    // by the exit handler when the tests end, by the kernel when the test process is killed.
    for killed in [false, true] {
        let mut probe = std::process::Command::new(std::env::current_exe().unwrap());
        probe
            .args(["lab_processes::shared_lab_probe", "--exact", "--ignored", "--nocapture"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if killed {
            probe.env("PROBE_HANG", "1");
        }
        let mut probe = support::spawn_tied(probe).unwrap();
        // Read all it prints (a closed pipe would fail its next print), and pass on its line.
        let stdout = std::io::BufReader::new(probe.stdout.take().unwrap());
        let (found, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.starts_with("probe: ") {
                    let _ = found.send(line);
                }
            }
        });
        let line = tokio::task::spawn_blocking(move || lines.recv_timeout(Duration::from_secs(90)))
            .await
            .unwrap()
            .expect("the probe printed its lab");
        let mut words = line["probe: ".len()..].split(' ');
        let data = std::path::PathBuf::from(words.next().unwrap());
        let pids: Vec<u32> = words.map(|w| w.parse().unwrap()).collect();
        assert!(pids.len() > 10 && pids.iter().all(|pid| alive(*pid)), "{line}");
        if killed {
            probe.kill().unwrap();
            probe.wait().unwrap();
            // SIGTERM from the kernel; `up` then stops its children (each drains for ≤ 3 s).
            let left = wait_gone(&pids, Duration::from_secs(15)).await;
            assert!(left.is_empty(), "left running after the test process was killed: {left:?}");
        } else {
            assert!(probe.wait().unwrap().success(), "the probe test failed");
            // The exit handler waited for them: gone the moment the process is.
            let left: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
            assert!(left.is_empty(), "left running after the tests ended: {left:?}");
            assert!(!data.exists(), "{} left behind", data.display());
        }
    }
}
