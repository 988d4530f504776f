//! The control plane's routes for recordings and test runs: list them, read one, download its
//! history; start and stop a recording, check one, start a test run (`lab test` uses these).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::control::{CheckRequest, RunInfo, RunState, StartRecording, TestSpec};
use shared::history::Verdict;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ControlError, ControlState};
use crate::check::{self, Budget, Model};
use crate::service::{ApiJson, ApiPath};

/// What anyone may read.
pub(super) fn open_routes() -> OpenApiRouter<ControlState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(download_history))
}

/// What changes something: only from this machine (the caller guards them).
pub(super) fn admin_routes() -> OpenApiRouter<ControlState> {
    OpenApiRouter::new()
        .routes(routes!(start_recording))
        .routes(routes!(stop_recording))
        .routes(routes!(check_run))
        .routes(routes!(start_test))
}

/// Every recording and test run, newest first (kept across restarts of the lab).
#[utoipa::path(get, path = "/api/recordings", tag = "recordings",
    responses((status = 200, body = [RunInfo])))]
async fn list_runs(State(state): State<ControlState>) -> ApiJson<Vec<RunInfo>> {
    ApiJson(state.recordings.list())
}

/// One run: its state, test, bugs and verdict.
#[utoipa::path(get, path = "/api/recordings/{id}", tag = "recordings", params(("id" = String, Path)),
    responses((status = 200, body = RunInfo), (status = 404, body = shared::ErrorBody)))]
async fn get_run(
    State(state): State<ControlState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<RunInfo>, ControlError> {
    Ok(ApiJson(state.recordings.get(&id)?))
}

/// A run's history as JSON lines (what `lab check` reads); while it records, the events so far.
#[utoipa::path(get, path = "/api/recordings/{id}/history.jsonl", tag = "recordings",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "One event per line", body = String, content_type = "application/x-ndjson"),
        (status = 404, body = shared::ErrorBody),
    ))]
async fn download_history(
    State(state): State<ControlState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ControlError> {
    let text = state.recordings.history(&id)?;
    let disposition = format!("attachment; filename=\"{id}.history.jsonl\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

/// Start recording everything the lab does (one recording at a time).
#[utoipa::path(post, path = "/api/recordings", tag = "recordings", request_body = StartRecording,
    responses(
        (status = 201, body = RunInfo),
        (status = 409, description = "A recording is under way", body = shared::ErrorBody),
    ))]
async fn start_recording(
    State(state): State<ControlState>,
    ApiJson(start): ApiJson<StartRecording>,
) -> Result<Response, ControlError> {
    let name =
        start.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("recording");
    if name.chars().count() > 60 {
        return Err(ControlError::BadRequest(
            "a recording's name has at most 60 characters".into(),
        ));
    }
    let run = state.recordings.start(name, None).await?;
    Ok((StatusCode::CREATED, ApiJson(run)).into_response())
}

/// Stop a recording started by hand and save its history (a test run stops itself).
#[utoipa::path(post, path = "/api/recordings/{id}/stop", tag = "recordings", params(("id" = String, Path)),
    responses(
        (status = 200, body = RunInfo),
        (status = 404, body = shared::ErrorBody),
        (status = 409, description = "Not recording, or a test run (it stops itself)", body = shared::ErrorBody),
    ))]
async fn stop_recording(
    State(state): State<ControlState>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<RunInfo>, ControlError> {
    if state.recordings.get(&id)?.test.is_some() {
        return Err(ControlError::Conflict(format!(
            "{id} is a test run: it stops when its time is up"
        )));
    }
    Ok(ApiJson(state.recordings.stop(&id).await?))
}

/// Judge a saved history against a model (as `lab check` does) and keep the verdict with the run.
#[utoipa::path(post, path = "/api/recordings/{id}/check", tag = "recordings", params(("id" = String, Path)),
    request_body = CheckRequest,
    responses(
        (status = 200, body = Verdict),
        (status = 400, description = "No such model", body = shared::ErrorBody),
        (status = 404, body = shared::ErrorBody),
        (status = 409, description = "Still recording", body = shared::ErrorBody),
    ))]
async fn check_run(
    State(state): State<ControlState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<ApiJson<Verdict>, ControlError> {
    let model: Model = request.model.parse().map_err(ControlError::BadRequest)?;
    if state.recordings.current().as_deref() == Some(id.as_str()) {
        return Err(ControlError::Conflict(format!("{id} is still recording: stop it first")));
    }
    let verdict = judge(&state, &id, model).await?;
    state.recordings.update(&id, |run| run.verdict = Some(verdict.clone()))?;
    Ok(ApiJson(verdict))
}

/// Check run `id`'s saved history against `model`, off the async threads.
pub(crate) async fn judge(
    state: &ControlState,
    id: &str,
    model: Model,
) -> Result<Verdict, ControlError> {
    let text = state.recordings.history(id)?;
    tokio::task::spawn_blocking(move || check::check_text(model, &text, Budget::default()))
        .await
        .map_err(|err| ControlError::Upstream(format!("the checker failed: {err}")))
}

/// Start a test run: the workload's clients and the nemesis for `timeS` seconds, recorded; then
/// heal, wait for quiescence, read, and check. Answers at once; follow it on
/// `GET /api/recordings/{id}`.
#[utoipa::path(post, path = "/api/tests", tag = "recordings", request_body = TestSpec,
    responses(
        (status = 202, description = "Started", body = RunInfo),
        (status = 400, body = shared::ErrorBody),
        (status = 409, description = "A recording or a scenario is under way", body = shared::ErrorBody),
    ))]
async fn start_test(
    State(state): State<ControlState>,
    ApiJson(spec): ApiJson<TestSpec>,
) -> Result<Response, ControlError> {
    spec.validate().map_err(ControlError::BadRequest)?;
    let Ok(lock) = state.scenario.clone().try_lock_owned() else {
        return Err(ControlError::Conflict("a scenario or another test is running".into()));
    };
    if !spec.bugs.is_empty() {
        super::workload::Run::new(&state, "", &spec).switch_bugs(true, None).await;
    }
    let run = state.recordings.start(spec.workload.as_str(), Some(spec.clone())).await?;
    let id = run.id.clone();
    let task_state = state.clone();
    tokio::spawn(async move {
        let one_at_a_time = lock;
        let outcome = super::workload::run(&task_state, &id, &spec).await;
        let recordings = &task_state.recordings;
        if let Err(err) = &outcome {
            tracing::warn!(run = %id, %err, "test run failed");
            if recordings.current().as_deref() == Some(id.as_str()) {
                let _ = recordings.stop(&id).await;
            }
        }
        // The next test may start as soon as this one shows as over: free the slot first (a
        // client that saw `done` and started another got a 409 in the moment between).
        drop(one_at_a_time);
        let _ = recordings.update(&id, |run| match outcome {
            Ok(verdict) => {
                run.state = RunState::Done;
                run.verdict = Some(verdict);
            }
            Err(err) => {
                run.state = RunState::Failed;
                run.error = Some(err.to_string());
            }
        });
    });
    Ok((StatusCode::ACCEPTED, ApiJson(run)).into_response())
}
