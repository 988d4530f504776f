//! The sync nodes speak real Socket.IO: the official Python client (python-socketio, installed
//! by `make setup` into a virtualenv; `LAB_PYTHON` points at its interpreter) drives all three.

mod support;

use std::process::Command;

use support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_client_talks_to_every_node() {
    let python = std::env::var("LAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    let script = support::repo_root().join("backend/tests/socketio/client.py");
    let output =
        tokio::task::spawn_blocking(move || Command::new(&python).arg(script).args(&urls).output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot run the Python client ({e}): run `make setup`"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(output.status.success(), "python-socketio client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("socket.io compatibility: ok"));
}
