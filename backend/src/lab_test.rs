//! `lab test`: a workload + nemesis run, Maelstrom-style, from the command line.
//!
//! It asks a control plane to run the test (`POST /api/tests`) — the running lab's with
//! `--control`, or else a lab of its own that it starts on free ports (`lab up --free-ports`, a
//! real child process with its 17 services) and stops afterwards — follows the run, then prints
//! the verdict as JSON on stdout and where the history is on stderr, and exits 0 / 1 / 2
//! (valid / invalid / unknown — also when the run itself could not be done).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use clap::Args;
use shared::control::{Nemesis, ReadPath, RunInfo, RunState, TestSpec, Workload};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long a lab of its own may take to start.
const LAB_START: Duration = Duration::from_secs(90);

#[derive(Debug, Args)]
pub struct TestArgs {
    /// paxos-register, crdt-set, mirror-sync, mirror-async or shop-orders.
    #[arg(long)]
    pub workload: Workload,
    /// Faults, taking turns: partition, kill, pause (comma-separated; none by default).
    #[arg(long, value_delimiter = ',')]
    pub nemesis: Vec<Nemesis>,
    /// Seconds the clients run.
    #[arg(long, default_value_t = 20)]
    pub time: u32,
    /// Client operations per second, all clients together.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// Seeds the clients and the nemesis's schedule.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How paxos-register reads the highest number: local (the node's own state, as the
    /// original's /get_data) or linearizable.
    #[arg(long, default_value = "local")]
    pub read: ReadPath,
    /// Deliberate bugs to switch on for the run (comma-separated), e.g. crdt-forget-remote-adds.
    #[arg(long = "bug", value_delimiter = ',')]
    pub bugs: Vec<shared::bugs::Bug>,
    /// Switch the sync nodes to CRDT-only for the run (paxos-register, crdt-set).
    #[arg(long)]
    pub crdt_only: bool,
    /// Use the running lab's control plane (e.g. http://localhost:8080) instead of starting one.
    #[arg(long)]
    pub control: Option<String>,
    /// For a lab of its own: where it keeps its databases and recordings.
    #[arg(long, default_value = "data/lab-test")]
    pub data: PathBuf,
}

/// Run the test and exit with its verdict's code.
pub async fn run(args: TestArgs) -> anyhow::Result<()> {
    let spec = TestSpec {
        workload: args.workload,
        nemesis: args.nemesis.clone(),
        time_s: args.time,
        rate: args.rate,
        seed: args.seed,
        read: args.read,
        bugs: args.bugs.clone(),
        crdt_only: args.crdt_only,
    };
    if let Err(why) = spec.validate() {
        eprintln!("error: {why}");
        std::process::exit(2);
    }
    let mut own_lab = None;
    let outcome = async {
        let control = match &args.control {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let (child, url) = start_lab(&args.data).await?;
                own_lab = Some(child);
                url
            }
        };
        follow(&control, &spec).await.map(|run| (control, run))
    }
    .await;
    if let Some(mut child) = own_lab {
        stop_lab(&mut child).await;
    }
    let (control, run) = match outcome {
        Ok(done) => done,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    };
    let Some(verdict) = run.verdict else {
        eprintln!(
            "error: the run {} failed: {}",
            run.id,
            run.error.as_deref().unwrap_or("no reason given")
        );
        std::process::exit(2);
    };
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, serde_json::to_string_pretty(&verdict)?.as_bytes())?;
    std::io::Write::write_all(&mut out, b"\n")?;
    std::io::Write::flush(&mut out)?;
    let saved = args.data.join("recordings").join(&run.id).join("history.jsonl");
    match &args.control {
        None => eprintln!("history: {}", saved.display()),
        Some(_) => eprintln!("history: {control}/api/recordings/{}/history.jsonl", run.id),
    }
    std::process::exit(verdict.valid.exit_code());
}

/// Start the test on `control` and wait for its end, saying where it is meanwhile.
async fn follow(control: &str, spec: &TestSpec) -> anyhow::Result<RunInfo> {
    let client = reqwest::Client::new();
    let answer = client.post(format!("{control}/api/tests")).json(spec).send().await?;
    if !answer.status().is_success() {
        let status = answer.status();
        let body: Option<shared::ErrorBody> = answer.json().await.ok();
        anyhow::bail!(
            "the control plane refused the test ({status}): {}",
            body.map_or_else(String::new, |b| b.message)
        );
    }
    let run: RunInfo = answer.json().await?;
    eprintln!(
        "run {}: {} for {} s, nemesis [{}], seed {}",
        run.id,
        spec.workload,
        spec.time_s,
        nemesis_list(&spec.nemesis),
        spec.seed
    );
    // Bounded: the clients' time, healing and settling, and the checker's budget, with room.
    let limit = Duration::from_secs(u64::from(spec.time_s) + 180);
    let started = tokio::time::Instant::now();
    let mut last = run.state;
    while started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let run: RunInfo =
            client.get(format!("{control}/api/recordings/{}", run.id)).send().await?.json().await?;
        if run.state != last {
            eprintln!("run {}: {:?} ({} events)", run.id, run.state, run.events);
            last = run.state;
        }
        if matches!(run.state, RunState::Done | RunState::Failed) {
            return Ok(run);
        }
    }
    anyhow::bail!("the run {} did not end within {} s", run.id, limit.as_secs())
}

fn nemesis_list(nemesis: &[Nemesis]) -> String {
    nemesis.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
}

/// `lab up --free-ports` as a child; its control plane's URL once the lab is ready.
async fn start_lab(data: &std::path::Path) -> anyhow::Result<(tokio::process::Child, String)> {
    std::fs::create_dir_all(data)?;
    let log_path = data.join("lab.log");
    let log = std::fs::File::create(&log_path)?;
    eprintln!(
        "starting a lab of its own on free ports (data in {}, its log in {})",
        data.display(),
        log_path.display()
    );
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["up", "--free-ports", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(LAB_START, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("dashboard: ") {
                return Ok(url.trim().to_owned());
            }
        }
        anyhow::bail!("the lab ended before it was ready")
    })
    .await;
    match ready {
        Ok(Ok(url)) => {
            // Keep draining its stdout so it never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            eprintln!("lab ready: {url}");
            Ok((child, url))
        }
        Ok(Err(err)) => Err(err),
        Err(_) => anyhow::bail!("the lab was not ready within {} s", LAB_START.as_secs()),
    }
}

/// SIGTERM the lab (it stops its services), SIGKILL if it lingers.
async fn stop_lab(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
