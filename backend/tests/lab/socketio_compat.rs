//! The sync nodes speak real Socket.IO and the original CRDT/Paxos project's wire shapes:
//! Python clients (python-socketio and requests, installed by `make setup` into a virtualenv;
//! `LAB_PYTHON` points at its interpreter) drive all three nodes of a started lab.

use crate::support;

use std::process::Command;

use support::Lab;

/// Run `backend/tests/socketio/<script>` against the lab's three nodes; returns its output,
/// failing the test when the script fails.
async fn run_python(lab: &Lab, script: &str) -> String {
    let python = std::env::var("LAB_PYTHON").unwrap_or_else(|_| "python3".into());
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    let script = support::repo_root().join("backend/tests/socketio").join(script);
    let output =
        tokio::task::spawn_blocking(move || Command::new(&python).arg(script).args(&urls).output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot run the Python client ({e}): run `make setup`"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(output.status.success(), "the Python client failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_client_talks_to_every_node() {
    // It adds persons of its own and reads only them: the shared lab.
    let lab = support::shared_lab();
    let stdout = run_python(&lab, "client.py").await;
    assert!(stdout.contains("socket.io compatibility: ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_original_projects_system_tests_pass_in_its_own_shapes() {
    let lab = Lab::up();
    let stdout = run_python(&lab, "original_project.py").await;
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with("passed") && !stdout.contains("FAILED"), "{stdout}");
}
