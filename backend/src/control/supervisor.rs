//! Child processes: `lab up` runs every service as its own OS process of this same binary.
//!
//! Each child's output is relayed line by line with the service's name in front. When a child
//! ends, its row in the [`ServiceTable`] loses its PID and says how it ended. [`Supervisor::shutdown`]
//! sends SIGTERM to all, waits, and SIGKILLs what is left, so `up` leaves no orphan; children
//! also ask the kernel for SIGTERM should `up` itself die without cleaning up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::{Health, ServiceStatus};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::table::ServiceTable;
use crate::catalog::ServiceSpec;

/// Starts, watches and stops the lab's child processes.
#[derive(Debug)]
pub struct Supervisor {
    /// The binary to run children with: this very program.
    exe: PathBuf,
    /// Address every child binds.
    bind: IpAddr,
    table: ServiceTable,
    /// Live children by service name.
    running: Mutex<HashMap<String, Running>>,
    /// Set once `shutdown` begins: children ending then are expected, not news.
    stopping: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Running {
    pid: Pid,
    /// Turns `true` once the process has been reaped.
    exited: watch::Receiver<bool>,
}

impl Supervisor {
    pub fn new(exe: PathBuf, bind: IpAddr, table: ServiceTable) -> Self {
        Self { exe, bind, table, running: Mutex::new(HashMap::new()), stopping: Arc::default() }
    }

    /// Start `spec` as a child process and list it in the table.
    pub fn spawn(&self, spec: &ServiceSpec) -> std::io::Result<u32> {
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .args(spec.command_line(self.bind))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LAB_LOG_ANSI", "0");
        ask_for_sigterm_when_parent_dies(&mut command);
        let mut child = command.spawn()?;
        let pid = child.id().expect("a just-spawned child has a pid");
        tracing::info!(service = %spec.name, pid, port = spec.port, "started");

        relay_output(&spec.name, child.stdout.take());
        relay_output(&spec.name, child.stderr.take());

        self.table.upsert(ServiceStatus {
            name: spec.name.clone(),
            kind: spec.kind,
            url: spec.url(self.bind),
            pid: Some(pid),
            health: Health::Unknown,
            last_check_ms: None,
            detail: None,
        });

        let (exited_tx, exited_rx) = watch::channel(false);
        let (table, name, stopping) =
            (self.table.clone(), spec.name.clone(), self.stopping.clone());
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => format!("process ended: {status}"),
                Err(err) => format!("process lost: {err}"),
            };
            if stopping.load(Ordering::Relaxed) {
                tracing::info!(service = %name, pid, "{how}");
            } else {
                tracing::warn!(service = %name, pid, "{how}");
            }
            table.update(&name, |row| {
                if row.pid == Some(pid) {
                    row.pid = None;
                    row.health = Health::Down;
                    row.detail = Some(how);
                }
            });
            let _ = exited_tx.send(true);
        });
        let previous = self.running.lock().expect("supervisor lock poisoned").insert(
            spec.name.clone(),
            Running { pid: Pid::from_raw(pid as i32), exited: exited_rx },
        );
        debug_assert!(previous.is_none(), "{} started twice", spec.name);
        Ok(pid)
    }

    /// SIGTERM every child, wait up to `grace` for them to end, SIGKILL the rest.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let running: Vec<(String, Running)> =
            self.running.lock().expect("supervisor lock poisoned").drain().collect();
        for (name, child) in &running {
            if !*child.exited.borrow() {
                tracing::info!(service = %name, pid = %child.pid, "stopping (SIGTERM)");
                let _ = kill(child.pid, Signal::SIGTERM);
            }
        }
        for (name, mut child) in running {
            if tokio::time::timeout(grace, child.exited.wait_for(|done| *done)).await.is_err() {
                tracing::warn!(service = %name, pid = %child.pid, "did not stop in {grace:?}: SIGKILL");
                let _ = kill(child.pid, Signal::SIGKILL);
                let _ = tokio::time::timeout(grace, child.exited.wait_for(|done| *done)).await;
            }
        }
    }
}

/// Relay a child's output to ours, each line behind the service's name.
fn relay_output(name: &str, pipe: Option<impl AsyncRead + Unpin + Send + 'static>) {
    let Some(pipe) = pipe else { return };
    let prefix = format!("{name:>12} | ");
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{prefix}{line}");
        }
    });
}

/// Have the kernel send the child SIGTERM if `up` dies without stopping it (even by SIGKILL).
#[allow(unsafe_code)]
fn ask_for_sigterm_when_parent_dies(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
    // async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
}
