//! Child processes: `lab up` runs every service as its own OS process of this same binary.
//!
//! Each child's output is relayed line by line with the service's name in front. When a child
//! ends, its row in the [`ServiceTable`] loses its PID and says how it ended. Real signals reach
//! real processes: stop (SIGTERM), kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT), restart.
//! [`Supervisor::shutdown`] sends SIGTERM to all, waits, and SIGKILLs what is left, so `up`
//! leaves no orphan; children also ask the kernel for SIGTERM should `up` itself die.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::control::{Link, ProcessAction};
use shared::{EventKind, Health, ServiceStatus};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use shared::history::FaultKind;

use super::recording::Recordings;
use super::table::ServiceTable;
use crate::catalog::ServiceSpec;
use crate::service::EventBus;

/// How long a stopping service gets before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// Why a process action could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no service named {0:?}")]
    Unknown(String),
    #[error("{0} is not running")]
    NotRunning(String),
    #[error("{name}: {source}")]
    Spawn { name: String, source: std::io::Error },
}

/// Starts, watches, signals and stops the lab's child processes.
#[derive(Debug)]
pub struct Supervisor {
    /// The binary to run children with: this very program.
    exe: PathBuf,
    /// Address every child binds.
    bind: IpAddr,
    table: ServiceTable,
    events: EventBus,
    /// How to start each service again.
    specs: Mutex<HashMap<String, ServiceSpec>>,
    /// The current process of each service that has one.
    running: Mutex<HashMap<String, Running>>,
    /// Set once `shutdown` begins: children ending then are expected, not news.
    stopping: Arc<AtomicBool>,
    /// Every action is a fault in the recording under way.
    recordings: Recordings,
}

#[derive(Debug, Clone)]
struct Running {
    pid: Pid,
    /// Turns `true` once the process has been reaped.
    exited: watch::Receiver<bool>,
}

impl Running {
    fn alive(&self) -> bool {
        !*self.exited.borrow()
    }

    async fn wait(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.exited.wait_for(|done| *done)).await.is_ok()
    }
}

impl Supervisor {
    pub fn new(
        exe: PathBuf,
        bind: IpAddr,
        table: ServiceTable,
        events: EventBus,
        recordings: Recordings,
    ) -> Self {
        Self {
            exe,
            bind,
            table,
            events,
            specs: Mutex::default(),
            running: Mutex::default(),
            stopping: Arc::default(),
            recordings,
        }
    }

    fn current(&self, name: &str) -> Option<Running> {
        self.running.lock().expect("supervisor lock poisoned").get(name).cloned()
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
        self.events.publish(event(&spec.name, EventKind::Started, format!("started, pid {pid}")));

        relay_output(&spec.name, child.stdout.take());
        relay_output(&spec.name, child.stderr.take());

        let links = spec
            .links
            .iter()
            .map(|to| Link { to: to.clone(), fault: Default::default() })
            .collect();
        self.table.upsert(ServiceStatus {
            name: spec.name.clone(),
            kind: spec.kind,
            url: spec.url(self.bind),
            pid: Some(pid),
            health: Health::Unknown,
            last_check_ms: None,
            detail: None,
            paused: false,
            // A restarted process starts with healthy links: its fault table was in memory.
            links,
        });

        let (exited_tx, exited_rx) = watch::channel(false);
        let (table, events, name, stopping) =
            (self.table.clone(), self.events.clone(), spec.name.clone(), self.stopping.clone());
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
            events.publish(event(&name, EventKind::Down, format!("pid {pid}: {how}")));
            table.update(&name, |row| {
                if row.pid == Some(pid) {
                    row.pid = None;
                    row.paused = false;
                    row.health = Health::Down;
                    row.detail = Some(how);
                }
            });
            let _ = exited_tx.send(true);
        });
        self.specs
            .lock()
            .expect("supervisor lock poisoned")
            .insert(spec.name.clone(), spec.clone());
        self.running.lock().expect("supervisor lock poisoned").insert(
            spec.name.clone(),
            Running { pid: Pid::from_raw(pid as i32), exited: exited_rx },
        );
        Ok(pid)
    }

    /// Do `action` to the service's process; returns what was done, in words.
    pub async fn act(&self, name: &str, action: ProcessAction) -> Result<String, ActionError> {
        let done = self.act_unrecorded(name, action).await?;
        let fault = match action {
            ProcessAction::Stop => FaultKind::Stop,
            ProcessAction::Kill => FaultKind::Kill,
            ProcessAction::Pause => FaultKind::Pause,
            ProcessAction::Resume => FaultKind::Resume,
            ProcessAction::Restart => FaultKind::Restart,
        };
        let fields = serde_json::Map::from_iter([("message".to_owned(), done.clone().into())]);
        self.recordings.fault(fault, name.into(), fields);
        Ok(done)
    }

    async fn act_unrecorded(
        &self,
        name: &str,
        action: ProcessAction,
    ) -> Result<String, ActionError> {
        let spec = self.specs.lock().expect("supervisor lock poisoned").get(name).cloned();
        let spec = spec.ok_or_else(|| ActionError::Unknown(name.to_owned()))?;
        let running = self.current(name).filter(Running::alive);
        if action == ProcessAction::Restart {
            if let Some(mut process) = running {
                self.stop_process(name, &mut process).await;
            }
            let pid = self
                .spawn(&spec)
                .map_err(|source| ActionError::Spawn { name: name.to_owned(), source })?;
            return Ok(format!("{name} restarted, pid {pid}"));
        }
        let mut process = running.ok_or_else(|| ActionError::NotRunning(name.to_owned()))?;
        let pid = process.pid;
        let done = match action {
            ProcessAction::Stop => {
                self.stop_process(name, &mut process).await;
                format!("{name} stopped (SIGTERM), pid {pid}")
            }
            ProcessAction::Kill => {
                self.signal(name, pid, Signal::SIGKILL);
                process.wait(GRACE).await;
                format!("{name} killed (SIGKILL), pid {pid}")
            }
            ProcessAction::Pause => {
                self.signal(name, pid, Signal::SIGSTOP);
                // kill(2) returns before the kernel has stopped it: answer once it has.
                stopped_within(pid, true, Duration::from_secs(1)).await;
                self.table.update(name, |row| row.paused = true);
                format!("{name} paused (SIGSTOP), pid {pid}")
            }
            ProcessAction::Resume => {
                self.signal(name, pid, Signal::SIGCONT);
                stopped_within(pid, false, Duration::from_secs(1)).await;
                self.table.update(name, |row| row.paused = false);
                format!("{name} resumed (SIGCONT), pid {pid}")
            }
            ProcessAction::Restart => unreachable!("handled above"),
        };
        Ok(done)
    }

    fn signal(&self, name: &str, pid: Pid, signal: Signal) {
        tracing::info!(service = %name, %pid, ?signal, "signal");
        self.events.publish(event(name, EventKind::Signal, format!("{signal} to pid {pid}")));
        let _ = kill(pid, signal);
    }

    /// SIGTERM (and SIGCONT, so a paused process can act on it), then SIGKILL after [`GRACE`].
    async fn stop_process(&self, name: &str, process: &mut Running) {
        self.signal(name, process.pid, Signal::SIGTERM);
        let _ = kill(process.pid, Signal::SIGCONT);
        if !process.wait(GRACE).await {
            tracing::warn!(service = %name, pid = %process.pid, "did not stop in {GRACE:?}: SIGKILL");
            self.signal(name, process.pid, Signal::SIGKILL);
            process.wait(GRACE).await;
        }
    }

    /// SIGTERM every child, wait up to `grace` for them to end, SIGKILL the rest.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let running: Vec<(String, Running)> =
            self.running.lock().expect("supervisor lock poisoned").drain().collect();
        for (name, child) in &running {
            if child.alive() {
                tracing::info!(service = %name, pid = %child.pid, "stopping (SIGTERM)");
                let _ = kill(child.pid, Signal::SIGTERM);
                let _ = kill(child.pid, Signal::SIGCONT);
            }
        }
        for (name, mut child) in running {
            if !child.wait(grace).await {
                tracing::warn!(service = %name, pid = %child.pid, "did not stop in {grace:?}: SIGKILL");
                let _ = kill(child.pid, Signal::SIGKILL);
                child.wait(grace).await;
            }
        }
    }
}

/// Wait (bounded) until the process is stopped (`true`: state `T` in /proc) or no longer
/// stopped (`false`); returns whether it got there.
async fn stopped_within(pid: Pid, stopped: bool, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|stat| {
            stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
        });
        // Gone counts as not stopped.
        if (state == Some('T')) == stopped {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(%pid, ?state, stopped, "the process did not change state in {within:?}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub(super) fn event(service: &str, kind: EventKind, message: String) -> shared::LabEvent {
    shared::LabEvent { at_ms: crate::service::now_ms(), service: service.to_owned(), kind, message }
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
