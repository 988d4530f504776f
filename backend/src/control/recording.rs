//! The lab's recordings: one history of a run, merged from every service.
//!
//! A recording starts on the control plane (`POST /api/recordings`, or a test run), which tells
//! every running service (`PUT /admin/recording`) when it began and who is where; from then on
//! each service records what it sends, receives and notes (`service::recorder`), and the control
//! plane records its own events — faults (`nemesis`) and the test clients' operations — here, on
//! the same clock. A collector fetches the services' events every [`POLL`], and a service that
//! restarted (so records nothing) is asked to take part again. On stop, the history is sorted by
//! time and saved as `{data}/recordings/{id}/history.jsonl`, beside `run.json` (its
//! [`RunInfo`]); runs survive a restart of the lab.
//!
//! What cannot be recorded is said, not hidden: a process killed with SIGKILL loses the events it
//! had not handed over yet (at most [`POLL`] of them), and a service whose buffer filled counts
//! what it dropped (`RunInfo.dropped`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use shared::bugs::Bug;
use shared::control::{RunInfo, RunState, TestSpec};
use shared::history::{Event, Fault, FaultKind, Note, OpEvent, RecordingStart};
use shared::ServiceStatus;

use super::table::ServiceTable;
use crate::service::links::peer_key;
use crate::service::recorder::unix_ns;

/// How often the collector fetches the services' events.
pub const POLL: Duration = Duration::from_millis(200);

/// How long a service may take to answer the collector (a paused one does not answer).
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a recording's start waits for every running service to take part.
const JOIN_WITHIN: Duration = Duration::from_secs(5);

/// Events fetched from one service per request.
const FETCH_LIMIT: u32 = 20_000;

/// The control plane's recordings; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recordings {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    client: reqwest::Client,
    table: ServiceTable,
    active: Mutex<Option<Active>>,
    runs: Mutex<BTreeMap<String, RunInfo>>,
}

/// The recording under way.
#[derive(Debug)]
struct Active {
    id: String,
    epoch_ns: u64,
    /// Each event's time and JSON text: the services' events are kept as they sent them, read
    /// only for their time (parsing tens of thousands of events a second into [`Event`]s would
    /// cost the lab's throughput more than recording them did).
    events: Vec<(u64, Box<RawValue>)>,
    /// Per service: the `next` to fetch from, and its pid when it was asked to record.
    fetched: HashMap<String, (u64, Option<u32>)>,
    dropped: HashMap<String, u64>,
}

/// Why a recording could not be started, stopped or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("saving the recording: {0}")]
    Io(#[from] std::io::Error),
}

impl Recordings {
    /// Recordings kept under `dir`; the runs saved there by earlier labs are read back (a run
    /// the lab stopped in the middle of is marked failed).
    pub fn open(dir: &Path, client: reqwest::Client, table: ServiceTable) -> Self {
        let mut runs = BTreeMap::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path().join("run.json");
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            match serde_json::from_str::<RunInfo>(&text) {
                Ok(mut run) => {
                    if !matches!(run.state, RunState::Done | RunState::Failed) {
                        run.state = RunState::Failed;
                        run.error = Some("the lab stopped while this run was under way".into());
                    }
                    runs.insert(run.id.clone(), run);
                }
                Err(err) => tracing::warn!(path = %path.display(), %err, "unreadable run, skipped"),
            }
        }
        tracing::info!(runs = runs.len(), dir = %dir.display(), "recordings");
        Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                client,
                table,
                active: Mutex::new(None),
                runs: Mutex::new(runs),
            }),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.inner.active.lock().expect("recording lock poisoned")
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RunInfo>> {
        self.inner.runs.lock().expect("runs lock poisoned")
    }

    /// Every run, newest first.
    pub fn list(&self) -> Vec<RunInfo> {
        let mut runs: Vec<RunInfo> = self.runs().values().cloned().collect();
        runs.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.id.cmp(&a.id)));
        runs
    }

    pub fn get(&self, id: &str) -> Result<RunInfo, RecordingError> {
        let mut run = self
            .runs()
            .get(id)
            .cloned()
            .ok_or_else(|| RecordingError::NotFound(format!("no run {id:?}")))?;
        if let Some(active) = self.active().as_ref().filter(|a| a.id == id) {
            run.events = active.events.len() as u64;
            run.duration_ms = (unix_ns().saturating_sub(active.epoch_ns)) / 1_000_000;
        }
        Ok(run)
    }

    /// The id of the recording under way.
    pub fn current(&self) -> Option<String> {
        self.active().as_ref().map(|a| a.id.clone())
    }

    /// Nanoseconds since the recording under way began (`None`: nothing is recorded).
    pub fn now(&self) -> Option<u64> {
        self.active().as_ref().map(|a| unix_ns().saturating_sub(a.epoch_ns))
    }

    /// Record an event of the control plane's own, stamped now (nothing when not recording).
    pub fn record(&self, event: impl FnOnce(u64) -> Event) {
        let mut active = self.active();
        if let Some(active) = active.as_mut() {
            let time = unix_ns().saturating_sub(active.epoch_ns);
            // An enum of plain structs with string keys always serializes.
            let text = serde_json::value::to_raw_value(&event(time)).expect("an event serializes");
            active.events.push((time, text));
        }
    }

    /// Record a note in `service`'s name (what the control plane read from it, e.g. a front's
    /// lag).
    pub fn note(&self, service: &str, f: &str, value: Value) {
        let (service, f) = (service.to_owned(), f.to_owned());
        self.record(|time| Event::Note(Note { service, f, value, time }));
    }

    /// Record a fault the control plane injected or healed.
    pub fn fault(&self, f: FaultKind, target: Value, fields: serde_json::Map<String, Value>) {
        self.record(|time| Event::Nemesis(Fault { f, target, time, fields }));
    }

    /// Record a client operation's invoke or completion (`kind`: `invoke`, `ok`, `fail`, `info`).
    pub fn op(
        &self,
        kind: OpKind,
        process: u64,
        f: &str,
        value: Value,
        fields: serde_json::Map<String, Value>,
    ) {
        self.record(|time| {
            let op = OpEvent { process, f: f.to_owned(), value, time, fields };
            match kind {
                OpKind::Invoke => Event::Invoke(op),
                OpKind::Ok => Event::Ok(op),
                OpKind::Fail => Event::Fail(op),
                OpKind::Info => Event::Info(op),
            }
        });
    }

    /// Start recording: ask every running service to take part, note the bugs switched on, and
    /// start collecting. One recording at a time.
    pub async fn start(
        &self,
        name: &str,
        test: Option<TestSpec>,
    ) -> Result<RunInfo, RecordingError> {
        // Whole microseconds: the epoch services are handed (`epochUs`) is exactly this one.
        let epoch_ns = unix_ns() / 1000 * 1000;
        let started_ms = epoch_ns / 1_000_000;
        let id = self.fresh_id(&format!("{}-{}", stamp(started_ms), slug(name)));
        {
            let mut active = self.active();
            if let Some(other) = active.as_ref() {
                return Err(RecordingError::Conflict(format!(
                    "recording {} is under way: stop it first",
                    other.id
                )));
            }
            *active = Some(Active {
                id: id.clone(),
                epoch_ns,
                events: Vec::new(),
                fetched: HashMap::new(),
                dropped: HashMap::new(),
            });
        }
        let bugs = self.bugs_on().await;
        self.record(|time| {
            Event::Note(Note {
                service: "control".into(),
                f: "recording".into(),
                value: json!({ "id": id, "name": name, "test": test, "bugs": bugs }),
                time,
            })
        });
        let run = RunInfo {
            id: id.clone(),
            name: name.to_owned(),
            state: RunState::Recording,
            started_ms,
            duration_ms: 0,
            events: 0,
            dropped: 0,
            test,
            bugs,
            verdict: None,
            error: None,
        };
        self.save_run(&run)?;
        self.runs().insert(id.clone(), run.clone());
        // Answer once every running service takes part (what it does before it has been asked
        // is not recorded); one that does not within [`JOIN_WITHIN`] is named in the history.
        let joined = tokio::time::Instant::now();
        let mut missing = self.not_taking_part();
        while !missing.is_empty() && joined.elapsed() < JOIN_WITHIN {
            self.collect().await;
            missing = self.not_taking_part();
            if !missing.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if !missing.is_empty() {
            tracing::warn!(recording = %id, ?missing, "services not taking part in the recording");
            self.record(|time| {
                Event::Note(Note {
                    service: "control".into(),
                    f: "not-recording".into(),
                    value: json!(missing),
                    time,
                })
            });
        }
        tokio::spawn(self.clone().collect_while(id.clone()));
        tracing::info!(recording = %id, "recording started");
        Ok(run)
    }

    /// `base`, or `base-2`, `base-3`, ...: an id no run has (two runs can start in one second).
    fn fresh_id(&self, base: &str) -> String {
        let runs = self.runs();
        let taken = |id: &str| runs.contains_key(id) || self.inner.dir.join(id).exists();
        let mut id = base.to_owned();
        let mut n = 1;
        while taken(&id) {
            n += 1;
            id = format!("{base}-{n}");
        }
        id
    }

    /// Stop the recording `id`: fetch what the services still hold, tell them to stop, and
    /// save the history sorted by time.
    pub async fn stop(&self, id: &str) -> Result<RunInfo, RecordingError> {
        if self.current().as_deref() != Some(id) {
            return match self.runs().get(id) {
                Some(_) => Err(RecordingError::Conflict(format!("run {id} is not recording"))),
                None => Err(RecordingError::NotFound(format!("no run {id:?}"))),
            };
        }
        // Until nothing more comes (bounded: a busy service keeps sending).
        for _ in 0..5 {
            if self.collect().await == 0 {
                break;
            }
        }
        let services = self.running_services();
        let stops = services.iter().map(|row| {
            self.inner
                .client
                .delete(format!("{}/admin/recording", row.url))
                .timeout(FETCH_TIMEOUT)
                .send()
        });
        futures::future::join_all(stops).await;
        let Some(mut active) = self.active().take().filter(|a| a.id == id) else {
            return Err(RecordingError::Conflict(format!("run {id} was stopped meanwhile")));
        };
        active.events.sort_by_key(|(time, _)| *time);
        let duration_ms = unix_ns().saturating_sub(active.epoch_ns) / 1_000_000;
        let dropped: u64 = active.dropped.values().sum();
        // Off the async threads: a long recording's history is many megabytes.
        tokio::fs::write(self.history_path(id), lines(&active.events)).await?;
        let run = self.update(id, |run| {
            run.duration_ms = duration_ms;
            run.events = active.events.len() as u64;
            run.dropped = dropped;
            if run.test.is_none() {
                run.state = RunState::Done;
            }
        })?;
        tracing::info!(recording = %id, events = run.events, dropped, "recording saved");
        Ok(run)
    }

    /// Change a run's info and save it.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut RunInfo),
    ) -> Result<RunInfo, RecordingError> {
        let run = {
            let mut runs = self.runs();
            let run = runs
                .get_mut(id)
                .ok_or_else(|| RecordingError::NotFound(format!("no run {id:?}")))?;
            change(run);
            run.clone()
        };
        self.save_run(&run)?;
        Ok(run)
    }

    /// The history of run `id` as JSON lines: what is saved, or what was recorded so far.
    pub fn history(&self, id: &str) -> Result<String, RecordingError> {
        if let Some(active) = self.active().as_ref().filter(|a| a.id == id) {
            let mut events = active.events.clone();
            events.sort_by_key(|(time, _)| *time);
            return Ok(lines(&events));
        }
        if !self.runs().contains_key(id) {
            return Err(RecordingError::NotFound(format!("no run {id:?}")));
        }
        Ok(std::fs::read_to_string(self.history_path(id))?)
    }

    /// Where run `id`'s history is saved.
    pub fn history_path(&self, id: &str) -> PathBuf {
        self.inner.dir.join(id).join("history.jsonl")
    }

    fn save_run(&self, run: &RunInfo) -> std::io::Result<()> {
        let dir = self.inner.dir.join(&run.id);
        std::fs::create_dir_all(&dir)?;
        let text = serde_json::to_string_pretty(run).expect("a run serializes");
        // Written whole, then renamed: a crash leaves the old file or the new one.
        let tmp = dir.join("run.json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, dir.join("run.json"))
    }

    fn running_services(&self) -> Vec<ServiceStatus> {
        self.inner
            .table
            .snapshot()
            .into_iter()
            .filter(|row| row.name != "control" && row.pid.is_some())
            .collect()
    }

    /// The bugs each running service has on (from its `/health`).
    async fn bugs_on(&self) -> BTreeMap<String, Vec<Bug>> {
        let services = self.running_services();
        let asks = services.iter().map(|row| async move {
            let answer = self
                .inner
                .client
                .get(format!("{}/health", row.url))
                .timeout(FETCH_TIMEOUT)
                .send()
                .await
                .ok()?;
            let report: shared::HealthReport = answer.json().await.ok()?;
            (!report.bugs.is_empty()).then(|| (row.name.clone(), report.bugs))
        });
        futures::future::join_all(asks).await.into_iter().flatten().collect()
    }

    /// The running services (not paused) that have not taken part in the recording under way
    /// since their process started.
    fn not_taking_part(&self) -> Vec<String> {
        let active = self.active();
        let Some(active) = active.as_ref() else { return Vec::new() };
        self.running_services()
            .into_iter()
            .filter(|row| !row.paused)
            .filter(|row| active.fetched.get(&row.name).is_none_or(|(_, pid)| *pid != row.pid))
            .map(|row| row.name)
            .collect()
    }

    /// Collect every [`POLL`] while recording `id`.
    async fn collect_while(self, id: String) {
        loop {
            tokio::time::sleep(POLL).await;
            if self.current().as_deref() != Some(id.as_str()) {
                return;
            }
            self.collect().await;
        }
    }

    /// Fetch what every running service recorded since the last fetch; ask a service that does
    /// not take part (it restarted) to. Returns how many events came in.
    async fn collect(&self) -> usize {
        let Some((id, epoch_ns, fetched)) =
            self.active().as_ref().map(|a| (a.id.clone(), a.epoch_ns, a.fetched.clone()))
        else {
            return 0;
        };
        let services = self.running_services();
        let directory: BTreeMap<String, String> = self
            .inner
            .table
            .snapshot()
            .into_iter()
            .map(|row| (peer_key(&row.url), row.name))
            .collect();
        let fetches = services.iter().filter(|row| !row.paused).map(|row| {
            let (after, pid) = fetched.get(&row.name).copied().unwrap_or((0, None));
            let start = RecordingStart {
                id: id.clone(),
                epoch_us: epoch_ns / 1000,
                services: directory.clone(),
            };
            let id = id.as_str();
            async move {
                let client = &self.inner.client;
                let mut after = after;
                // A new process (or one never asked) is asked to record, from its start.
                if pid != row.pid {
                    let asked = client
                        .put(format!("{}/admin/recording", row.url))
                        .json(&start)
                        .timeout(FETCH_TIMEOUT)
                        .send()
                        .await;
                    if !asked.is_ok_and(|r| r.status().is_success()) {
                        return None;
                    }
                    after = 0;
                }
                let url =
                    format!("{}/admin/recording/events?after={after}&limit={FETCH_LIMIT}", row.url);
                let answer = client.get(url).timeout(FETCH_TIMEOUT).send().await.ok()?;
                let events: RawEvents = match answer.json().await {
                    Ok(events) => events,
                    Err(err) => {
                        tracing::warn!(service = %row.name, %err, "unreadable recorded events");
                        return None;
                    }
                };
                if events.recording.as_deref() != Some(id) {
                    // It forgot (restarted under the same pid is impossible; stopped by hand):
                    // ask again next time.
                    return Some((row.name.clone(), None, events));
                }
                Some((row.name.clone(), row.pid, events))
            }
        });
        let answers = futures::future::join_all(fetches).await;
        let mut active = self.active();
        let Some(active) = active.as_mut().filter(|a| a.id == id) else { return 0 };
        let mut came = 0;
        for (name, pid, events) in answers.into_iter().flatten() {
            came += events.events.len();
            for text in events.events {
                match serde_json::from_str::<Stamp>(text.get()) {
                    Ok(stamp) => active.events.push((stamp.time, text)),
                    Err(err) => {
                        tracing::warn!(service = %name, %err, "a recorded event without a time, skipped")
                    }
                }
            }
            active.dropped.insert(name.clone(), events.dropped);
            active.fetched.insert(name, (events.next, pid));
        }
        came
    }
}

/// [`shared::history::RecordedEvents`] as the control plane reads it: each event left as its JSON text.
#[derive(Debug, serde::Deserialize)]
struct RawEvents {
    recording: Option<String>,
    events: Vec<Box<RawValue>>,
    next: u64,
    dropped: u64,
}

/// Of an event, only its time (the rest is skipped unparsed).
#[derive(Debug, serde::Deserialize)]
struct Stamp {
    time: u64,
}

/// A history's JSON lines, each ending in a newline.
fn lines(events: &[(u64, Box<RawValue>)]) -> String {
    let mut text = String::with_capacity(events.iter().map(|(_, e)| e.get().len() + 1).sum());
    for (_, event) in events {
        text.push_str(event.get());
        text.push('\n');
    }
    text
}

/// An operation event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// `20261201-221530` (UTC) of a time in Unix milliseconds.
fn stamp(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A name made safe for a directory: lowercase letters, digits and dashes, at most 40.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let slug = slug.trim_matches('-');
    let slug: String = slug.chars().take(40).collect();
    if slug.is_empty() {
        "recording".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_started_in_one_second_get_ids_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let recordings =
            Recordings::open(dir.path(), reqwest::Client::new(), ServiceTable::default());
        assert_eq!(recordings.fresh_id("20261201-230056-x"), "20261201-230056-x");
        std::fs::create_dir(dir.path().join("20261201-230056-x")).unwrap();
        assert_eq!(recordings.fresh_id("20261201-230056-x"), "20261201-230056-x-2");
        std::fs::create_dir(dir.path().join("20261201-230056-x-2")).unwrap();
        assert_eq!(recordings.fresh_id("20261201-230056-x"), "20261201-230056-x-3");
    }

    #[test]
    fn ids_read_as_utc_times_and_safe_names() {
        assert_eq!(stamp(0), "19700101-000000");
        // 2026-12-01 22:15:30 UTC.
        assert_eq!(stamp(1_796_163_330_000), "20261201-221530");
        assert_eq!(stamp(951_782_400_000), "20000229-000000");
        assert_eq!(slug("Paxos register / seed 1"), "paxos-register---seed-1");
        assert_eq!(slug("../.."), "recording");
    }
}
