//! Workshop mode: the workshop's questions answered on the student's own lab, with measured
//! evidence, exported as the report the workshop asks for.
//!
//! - `GET /api/workshop`: every step ([`steps::STEPS`]) with its latest result;
//! - `POST /api/workshop/steps/{step}/{action}` (admin): run an action, keep its result in the
//!   [`Notebook`] (`<data>/workshop.json`, so it survives a reload and a lab restart);
//! - `GET /api/workshop/charts/{step}.svg`: a step's chart ([`chart`]);
//! - `GET /api/workshop/report?format=html|md|tar`: the report ([`report`]); `tar` holds
//!   `report.md` and its charts beside it.

mod chart;
mod report;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::workshop::{Chart, Step, StepAction, StepResult, Workshop};
use shared::{ErrorBody, EventKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{row, ControlError, ControlState};
use crate::service::{self, ApiJson, ApiPath, ApiQuery};

/// The results of the steps, kept on disk: the student's notebook. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notebook {
    inner: Arc<NotebookInner>,
}

#[derive(Debug)]
struct NotebookInner {
    /// `<data>/workshop.json`.
    path: PathBuf,
    /// The latest result of each step, by step id.
    results: Mutex<BTreeMap<String, StepResult>>,
    /// The step whose action runs now.
    running: Mutex<Option<String>>,
}

impl Notebook {
    /// The notebook kept at `path`; empty when there is none yet. One that cannot be read is
    /// set aside (`.damaged`), not overwritten, and the notebook starts empty.
    pub fn open(path: &Path) -> Self {
        let results = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                let aside = path.with_extension("json.damaged");
                tracing::error!(%err, path = %path.display(), aside = %aside.display(), "the workshop's results could not be read: set aside");
                let _ = std::fs::rename(path, aside);
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Notebook {
            inner: Arc::new(NotebookInner {
                path: path.to_owned(),
                results: Mutex::new(results),
                running: Mutex::new(None),
            }),
        }
    }

    /// Every step with its latest result.
    pub fn workshop(&self) -> Workshop {
        let results = self.inner.results.lock().expect("notebook lock").clone();
        let steps: Vec<Step> = steps::STEPS
            .iter()
            .map(|step| Step {
                id: step.id.into(),
                label: step.label.into(),
                title: step.title.into(),
                asks: step.asks.into(),
                actions: step
                    .actions
                    .iter()
                    .map(|a| StepAction {
                        id: a.id.into(),
                        label: a.label.into(),
                        does: a.does.into(),
                    })
                    .collect(),
                result: results.get(step.id).cloned(),
            })
            .collect();
        let passed = steps.iter().filter(|s| s.result.as_ref().is_some_and(|r| r.passed)).count();
        let running = self.inner.running.lock().expect("notebook lock").clone();
        Workshop { steps, passed, running }
    }

    /// The chart of `step`'s latest result, if it has one.
    fn chart(&self, step: &str) -> Option<Chart> {
        let results = self.inner.results.lock().expect("notebook lock");
        results.get(step)?.chart.clone()
    }

    /// Mark `step` as running until the guard this returns is dropped.
    fn running(&self, step: &str) -> impl Drop + '_ {
        *self.inner.running.lock().expect("notebook lock") = Some(step.to_owned());
        Running(self)
    }

    /// Keep `result` as its step's latest, on disk before this returns (written whole, then
    /// renamed: a crash leaves the old file or the new one).
    async fn keep(&self, result: StepResult) -> std::io::Result<()> {
        let text = {
            let mut results = self.inner.results.lock().expect("notebook lock");
            results.insert(result.step.clone(), result);
            serde_json::to_vec_pretty(&*results).expect("results serialize")
        };
        let tmp = self.inner.path.with_extension("json.tmp");
        tokio::fs::write(&tmp, text).await?;
        tokio::fs::rename(&tmp, &self.inner.path).await
    }
}

/// Clears [`Workshop::running`] when the step ends, however it ends.
struct Running<'a>(&'a Notebook);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.inner.running.lock().expect("notebook lock") = None;
    }
}

pub fn open_routes() -> OpenApiRouter<ControlState> {
    OpenApiRouter::new()
        .routes(routes!(workshop))
        .routes(routes!(chart_svg))
        .routes(routes!(report))
}

pub fn admin_routes() -> OpenApiRouter<ControlState> {
    service::guarded(OpenApiRouter::new().routes(routes!(run_step)))
}

/// Every step of the workshop, in its order, with its latest result.
#[utoipa::path(get, path = "/api/workshop", tag = "workshop", responses((status = 200, body = Workshop)))]
async fn workshop(State(state): State<ControlState>) -> ApiJson<Workshop> {
    ApiJson(state.workshop.workshop())
}

/// Run one of a step's actions on the lab and keep what it measured (one at a time, like the
/// scenarios some of them run; it may take a minute).
#[utoipa::path(post, path = "/api/workshop/steps/{step}/{action}", tag = "workshop",
    params(("step" = String, Path), ("action" = String, Path)),
    responses(
        (status = 200, body = StepResult),
        (status = 404, description = "No such step or action", body = ErrorBody),
        (status = 409, description = "Another step, scenario or test is running, or the lab is not in shape for it", body = ErrorBody),
        (status = 502, description = "A service did not answer as it should", body = ErrorBody),
    ))]
async fn run_step(
    State(state): State<ControlState>,
    ApiPath((step, action)): ApiPath<(String, String)>,
) -> Result<ApiJson<StepResult>, ControlError> {
    let def = steps::STEPS
        .iter()
        .find(|s| s.id == step)
        .ok_or_else(|| ControlError::NotFound(format!("no workshop step named {step:?}")))?;
    let act = def.actions.iter().find(|a| a.id == action).ok_or_else(|| {
        let names: Vec<&str> = def.actions.iter().map(|a| a.id).collect();
        ControlError::NotFound(format!(
            "step {step} has no action {action:?} (it has {})",
            names.join(", ")
        ))
    })?;
    let _one_at_a_time = state.scenario.try_lock().map_err(|_| {
        ControlError::Conflict("another workshop step, scenario or test is running".into())
    })?;
    let _running = state.workshop.running(&step);
    state.events.emit(EventKind::Scenario, format!("workshop {step}: {} started", act.label));
    let started = Instant::now();
    let mut probe = steps::Probe::new(state.clone());
    let evidence = (act.run)(&mut probe).await?;
    let result = StepResult {
        step: step.clone(),
        action: action.clone(),
        at_ms: service::now_ms(),
        took_ms: started.elapsed().as_millis() as u64,
        passed: evidence.passed,
        verdict: evidence.verdict,
        measurements: evidence.measurements,
        requests: probe.exchanges,
        chart: evidence.chart,
        recording: evidence.recording,
    };
    state.workshop.keep(result.clone()).await.map_err(ControlError::Notebook)?;
    let word = if result.passed { "done" } else { "failed" };
    state.events.emit(EventKind::Scenario, format!("workshop {step}: {word}: {}", result.verdict));
    Ok(ApiJson(result))
}

/// A step's latest chart, as an SVG document (`a1.svg`).
#[utoipa::path(get, path = "/api/workshop/charts/{file}", tag = "workshop",
    params(("file" = String, Path, description = "`<step>.svg`")),
    responses(
        (status = 200, content_type = "image/svg+xml", body = String),
        (status = 404, description = "No such step, or it has no chart yet", body = ErrorBody),
    ))]
async fn chart_svg(
    State(state): State<ControlState>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, ControlError> {
    let chart = file.strip_suffix(".svg").and_then(|step| state.workshop.chart(step));
    let chart = chart.ok_or_else(|| ControlError::NotFound(format!("no chart {file:?}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], chart::svg(&chart)).into_response())
}

/// How the report is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// One self-contained HTML file (charts inline, no script).
    #[default]
    Html,
    /// Markdown (its charts are `charts/<step>.svg`, in the `tar`).
    Md,
    /// A tar of `report.md` and `charts/<step>.svg`.
    Tar,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `html` (default), `md` or `tar`.
    format: Option<Format>,
}

/// The report: per question, the requests made (as curl commands), what was measured, the
/// chart, the verdict and when.
#[utoipa::path(get, path = "/api/workshop/report", tag = "workshop", params(ReportQuery),
    responses(
        (status = 200, description = "The report, as an attachment", content(
            (String = "text/html"), (String = "text/markdown"), (Vec<u8> = "application/x-tar"),
        )),
        (status = 400, description = "An unknown format", body = ErrorBody),
    ))]
async fn report(
    State(state): State<ControlState>,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ControlError> {
    let workshop = state.workshop.workshop();
    let lab = row(&state, "control")?.url.replace("127.0.0.1", "localhost");
    let origin = report::Origin { lab: &lab, at_ms: service::now_ms() };
    let attachment = |name: &str| format!("attachment; filename=\"{name}\"");
    let (kind, name, body) = match query.format.unwrap_or_default() {
        Format::Html => (
            "text/html; charset=utf-8",
            "workshop-report.html",
            report::html(&workshop, &origin).into_bytes(),
        ),
        Format::Md => (
            "text/markdown; charset=utf-8",
            "workshop-report.md",
            report::markdown(&workshop, &origin).into_bytes(),
        ),
        Format::Tar => ("application/x-tar", "workshop-report.tar", tarball(&workshop, &origin)),
    };
    Ok((
        [(header::CONTENT_TYPE, kind.to_owned()), (header::CONTENT_DISPOSITION, attachment(name))],
        body,
    )
        .into_response())
}

/// `report.md` and `charts/<step>.svg` in one tar.
fn tarball(workshop: &Workshop, origin: &report::Origin) -> Vec<u8> {
    let mut files = vec![("report.md".to_owned(), report::markdown(workshop, origin))];
    for step in &workshop.steps {
        if let Some(chart) = step.result.as_ref().and_then(|r| r.chart.as_ref()) {
            files.push((report::chart_path(&step.id), chart::svg(chart)));
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(origin.at_ms / 1000);
        header.set_cksum();
        // In memory, with paths of our own: nothing here can fail.
        tar.append_data(&mut header, path, text.as_bytes()).expect("a tar in memory");
    }
    tar.into_inner().expect("a tar in memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_result_kept_is_there_after_a_reopen_and_a_damaged_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workshop.json");
        let notebook = Notebook::open(&path);
        assert!(notebook.workshop().steps.iter().all(|s| s.result.is_none()));
        let result = StepResult {
            step: "b8".into(),
            action: "write-then-sync".into(),
            at_ms: 1,
            took_ms: 2,
            passed: true,
            verdict: "lag 10, then 0".into(),
            measurements: vec![("lag".into(), "10".into())],
            requests: Vec::new(),
            chart: None,
            recording: None,
        };
        notebook.keep(result.clone()).await.unwrap();
        let reopened = Notebook::open(&path).workshop();
        let b8 = reopened.steps.iter().find(|s| s.id == "b8").unwrap();
        assert_eq!(b8.result.as_ref(), Some(&result));
        assert_eq!(reopened.passed, 1);

        std::fs::write(&path, b"{not json").unwrap();
        assert!(Notebook::open(&path).workshop().steps.iter().all(|s| s.result.is_none()));
        assert_eq!(std::fs::read(path.with_extension("json.damaged")).unwrap(), b"{not json");
    }
}
