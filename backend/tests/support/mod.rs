//! Test support: the real lab as OS processes, and a real browser.
//!
//! Integration tests include this with `mod support;` (browser tests with a `#[path]`).
//!
//! Every `lab up` a test starts is stopped by PID: when its [`Lab`] is dropped (SIGTERM, bounded
//! wait, SIGKILL), and — should the test process itself die first (a panic while panicking, a
//! Ctrl-C, a SIGKILL) — by the kernel, which sends it SIGTERM when the test process ends
//! ([`spawn_tied`]); `lab up` then stops its own children. The one lab the read-only tests
//! share ([`shared_lab`]) is stopped when the test process exits.
#![allow(dead_code, clippy::print_stdout)]

#[cfg(feature = "e2e")]
pub mod browser;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shared::ServiceStatus;

/// The repository's root (where `dist/` is built).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `lab up` on free ports (`--free-ports`: a block of ports no other lab is given, see
/// `backend::catalog::Ports::reserve`), with its data in a temporary directory. Dropping it sends
/// SIGTERM and waits, then SIGKILLs if needed: no test leaves a process behind.
pub struct Lab {
    /// `lab up` itself; behind a lock so a lab can be shared between tests ([`shared_lab`]).
    child: Mutex<Child>,
    /// The dashboard's URL, as `up` printed it.
    pub url: String,
    /// The data directory; `None` only once [`Lab::stop`] has handed it back (an `Option` so it
    /// can be taken out of a value that implements `Drop`).
    data: Option<tempfile::TempDir>,
    /// Every line `up` has printed so far (children's lines too, behind their names). Kept even
    /// once read: the thread that reads `up`'s stdout stops when nobody receives, and `up` would
    /// then block on a full pipe. (A lock only so that a `Lab` can be shared.)
    lines: Mutex<mpsc::Receiver<String>>,
}

impl Lab {
    pub fn up() -> Lab {
        Lab::up_in(tempfile::tempdir().expect("temporary data directory"))
    }

    /// `lab up` on the data of `data` (e.g. handed back by [`Lab::stop`]: a restart of the whole
    /// lab on what it wrote). Ports are chosen afresh, so services' URLs change.
    pub fn up_in(data: tempfile::TempDir) -> Lab {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command
            .args(["up", "--free-ports", "--health-interval-ms", "200"])
            .arg("--dist")
            .arg(repo_root().join("dist"))
            .arg("--data")
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn_tied(command).expect("starting `lab up`");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[lab] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // `up` prints the URL once every service is ready, and gives up itself after 60 s.
        let deadline = Instant::now() + Duration::from_secs(90);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("dashboard: ") {
                        break url.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("`lab up` did not print its dashboard URL within 90 s");
                }
            }
        };
        Lab { child: Mutex::new(child), url, data: Some(data), lines: Mutex::new(lines) }
    }

    /// The data directory the lab runs on.
    pub fn data(&self) -> &std::path::Path {
        self.data.as_ref().expect("the lab still holds its data").path()
    }

    /// Stop the whole lab (SIGTERM, bounded wait, SIGKILL if needed) and hand back its data
    /// directory, which would otherwise be deleted with the lab.
    pub fn stop(mut self) -> tempfile::TempDir {
        let stopped = self.terminate(Duration::from_secs(15));
        assert!(stopped, "`lab up` did not stop within 15 s of SIGTERM");
        self.data.take().expect("the lab still holds its data")
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(PoisonError::into_inner).id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn services(&self) -> Vec<ServiceStatus> {
        reqwest::get(self.url("/api/services"))
            .await
            .expect("GET /api/services")
            .json()
            .await
            .expect("a list of services")
    }

    /// Wait (bounded) until every service reports `up`; returns the list.
    pub async fn wait_all_up(&self) -> Vec<ServiceStatus> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let services = self.services().await;
            if services.iter().all(|s| s.health == shared::Health::Up) {
                return services;
            }
            assert!(Instant::now() < deadline, "services not all up within 20 s: {services:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST` to the control plane; returns the status and the JSON body.
    pub async fn post(&self, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .send()
            .await
            .expect("POST to the control plane");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The row of `/api/services` for `name`.
    pub async fn service(&self, name: &str) -> ServiceStatus {
        self.services()
            .await
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    /// The three sync nodes' URLs, node-1 first.
    pub async fn node_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for n in 1..=3 {
            urls.push(self.service(&format!("node-{n}")).await.url);
        }
        urls
    }

    /// Wait (bounded) until the registry's own checks see every shop server up: the control
    /// plane's checks and the registry's are independent.
    pub async fn wait_registry_ready(&self) -> String {
        let registry = self.service("registry").await.url;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status: shared::registry::RegistryStatus =
                reqwest::get(format!("{registry}/servers")).await.unwrap().json().await.unwrap();
            if !status.servers.is_empty()
                && status.servers.iter().all(|s| s.state == shared::registry::ServerState::Up)
            {
                return registry;
            }
            assert!(Instant::now() < deadline, "registry never saw every server up: {status:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Send SIGTERM and wait (bounded) for `up` to exit; returns whether it exited on its own.
    pub fn terminate(&mut self, within: Duration) -> bool {
        self.shut_down(within)
    }

    /// [`Lab::terminate`] through a shared reference (for the shared lab); never panics.
    fn shut_down(&self, within: Duration) -> bool {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// SIGKILL `up` itself (its children are not told by it).
    pub fn kill_hard(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shut_down(Duration::from_secs(10));
    }
}

/// The lab shared by the tests that only read it, or change only state of their own (their own
/// products, persons): started by the first of them, and stopped when the test process exits.
///
/// A test that kills, pauses or restarts a service, cuts a link, switches a mode, a behaviour or
/// a bug, fails over or rebuilds a store — or that needs the lab as it is right after `up` —
/// starts a [`Lab`] of its own instead. Tests on this lab run at the same time as each other, so
/// each asserts only on what it did (its own rows; counts relative to before).
///
/// Stopping: statics are never dropped, so an `atexit` handler stops it (SIGTERM by PID,
/// bounded wait, then its data directory is removed) when the test harness exits, whether the
/// tests passed or failed; if the process dies without running it, the kernel's parent-death
/// signal ([`spawn_tied`]) stops the lab all the same.
pub fn shared_lab() -> Arc<Lab> {
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(lab) = shared.as_ref() {
        return lab.clone();
    }
    let lab = Arc::new(Lab::up());
    stop_shared_lab_at_exit();
    *shared = Some(lab.clone());
    lab
}

/// The lab of [`shared_lab`], once started; taken out at exit.
static SHARED: Mutex<Option<Arc<Lab>>> = Mutex::new(None);

#[allow(unsafe_code)]
fn stop_shared_lab_at_exit() {
    extern "C" fn stop() {
        let lab = SHARED.lock().unwrap_or_else(PoisonError::into_inner).take();
        match lab.map(Arc::try_unwrap) {
            // Dropping it stops `up` and deletes the data directory.
            Some(Ok(lab)) => drop(lab),
            // A clone left somewhere (no test runs any more): stop it all the same.
            Some(Err(lab)) => {
                lab.shut_down(Duration::from_secs(10));
                if let Some(data) = &lab.data {
                    let _ = std::fs::remove_dir_all(data.path());
                }
            }
            None => {}
        }
    }
    // SAFETY: atexit(3) only records the function; `stop` is a plain `extern "C" fn` that does
    // not unwind (every step above ignores its errors), as a handler must.
    let registered = unsafe { nix::libc::atexit(stop) };
    assert_eq!(registered, 0, "atexit refused the shared lab's stop");
}

/// Spawn `command` so that it is sent SIGTERM when this test process ends, however it ends
/// (`PR_SET_PDEATHSIG`).
///
/// Linux sends that signal when the *thread* that forked the child ends, not the process, and
/// the test harness runs each test on a thread of its own that ends with the test — a lab a
/// test started on it would be stopped as soon as that test returned, and a lab started on a
/// helper thread sooner still. So every child is forked by one thread that lives as long as the
/// process.
pub fn spawn_tied(mut command: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);
    let spawner = SPAWNER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| {
            let (requests, incoming) = mpsc::channel::<Request>();
            std::thread::Builder::new()
                .name("child-spawner".into())
                .spawn(move || {
                    // Never returns while the process runs: the sender is in a static.
                    for (mut command, answer) in incoming {
                        let _ = answer.send(command.spawn());
                    }
                })
                .expect("starting the thread that spawns children");
            requests
        })
        .clone();
    ask_for_sigterm_when_this_process_ends(&mut command);
    let (answer, answered) = mpsc::channel();
    spawner.send((command, answer)).expect("the spawner thread runs");
    answered.recv().expect("the spawner thread answers")
}

#[allow(unsafe_code)]
fn ask_for_sigterm_when_this_process_ends(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and
    // getppid(2), which are async-signal-safe; it allocates nothing and touches no memory shared
    // with the parent.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            // The test process may have ended between the fork and the prctl.
            if nix::unistd::getppid() != parent {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// `GET url`, read as JSON (the test fails on a transport or decoding error).
/// Start a test run (`POST /api/tests`) and wait, bounded, for its verdict; the run must end
/// `done`.
pub async fn test_run(lab: &Lab, spec: serde_json::Value) -> shared::control::RunInfo {
    use shared::control::{RunInfo, RunState};
    let response = reqwest::Client::new().post(lab.url("/api/tests")).json(&spec).send().await;
    let response = response.unwrap_or_else(|e| panic!("POST /api/tests: {e}"));
    let status = response.status().as_u16();
    let run: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let mut done = None;
    wait_until(&format!("the test run {spec}"), Duration::from_secs(90), async || {
        let run: RunInfo = get_json(&lab.url(&format!("/api/recordings/{id}"))).await;
        let over = matches!(run.state, RunState::Done | RunState::Failed);
        done = Some(run);
        over
    })
    .await;
    let run = done.unwrap();
    assert_eq!(run.state, RunState::Done, "{:?}", run.error);
    run
}

/// A run's recorded history, parsed.
pub async fn history(lab: &Lab, id: &str) -> Vec<shared::history::Event> {
    let url = lab.url(&format!("/api/recordings/{id}/history.jsonl"));
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    shared::history::parse_history(&text).unwrap()
}

pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.unwrap_or_else(|e| panic!("GET {url}: not the expected JSON: {e}"))
}

/// `POST url` with an optional JSON body, the answer read as JSON.
pub async fn post_json<T: serde::de::DeserializeOwned>(
    url: &str,
    body: Option<&serde_json::Value>,
) -> T {
    let mut request = reqwest::Client::new().post(url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    response.json().await.unwrap_or_else(|e| panic!("POST {url}: not the expected JSON: {e}"))
}

/// The state letter of a process in /proc (R running, S sleeping, T stopped, Z zombie).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Is a process with this PID still running (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name; Z is a zombie.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

/// Poll `probe` until it holds; fail the test with `what` if it does not within `within`.
pub async fn wait_until(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !probe().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait (bounded) until none of `pids` is running.
pub async fn wait_gone(pids: &[u32], within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run every GET curl command of a workshop report (its Markdown) as it is written, with curl,
/// and check that each answers the status the report wrote under it (`# → 200 ...`). POSTs are
/// not run: they change the lab. Returns how many ran.
pub fn run_reported_gets(markdown: &str) -> usize {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut ran = 0;
    for pair in lines.windows(2) {
        let Some(url) = pair[0].strip_prefix("curl -s '").and_then(|u| u.strip_suffix('\'')) else {
            continue;
        };
        let reported: u16 = pair[1]
            .strip_prefix("# → ")
            .and_then(|r| r.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status under {:?}: {:?}", pair[0], pair[1]));
        let answered = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url])
            .output()
            .expect("curl runs");
        let status: u16 = String::from_utf8_lossy(&answered.stdout).parse().unwrap_or(0);
        assert_eq!(status, reported, "{}", pair[0]);
        ran += 1;
    }
    ran
}
