//! The deliberate bugs switched on in a service ([`shared::bugs::Bug`]), and the admin routes
//! that switch them: `GET /admin/bugs`, `PUT /admin/bugs/{name}`, `DELETE /admin/bugs/{name}`.
//! A protocol asks [`Bugs::on`] where the bug would bite; the check is one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::bugs::Bug;
use shared::{EventKind, ServiceKind};

use super::events::EventBus;
use super::{error_response, ApiJson, ApiPath};

/// The bugs on in one service; cheap to clone and to ask.
#[derive(Debug, Clone, Default)]
pub struct Bugs {
    bits: Arc<AtomicU32>,
}

impl Bugs {
    pub fn on(&self, bug: Bug) -> bool {
        self.bits.load(Ordering::Relaxed) & bug.bit() != 0
    }

    pub fn set(&self, bug: Bug, on: bool) {
        if on {
            self.bits.fetch_or(bug.bit(), Ordering::Relaxed);
        } else {
            self.bits.fetch_and(!bug.bit(), Ordering::Relaxed);
        }
    }

    pub fn list(&self) -> Vec<Bug> {
        Bug::ALL.into_iter().filter(|b| self.on(*b)).collect()
    }
}

/// The admin routes' state.
#[derive(Debug, Clone)]
pub(super) struct BugAdmin {
    pub bugs: Bugs,
    pub kind: ServiceKind,
    pub events: EventBus,
}

/// The deliberate bugs switched on in this service.
#[utoipa::path(get, path = "/admin/bugs", tag = "bugs", responses((status = 200, body = [Bug])))]
pub(super) async fn list(State(admin): State<BugAdmin>) -> ApiJson<Vec<Bug>> {
    ApiJson(admin.bugs.list())
}

/// Switch a deliberate bug on, in a service of the kind it lives in.
#[utoipa::path(put, path = "/admin/bugs/{name}", tag = "bugs",
    params(("name" = Bug, Path, description = "the bug's name")),
    responses(
        (status = 200, description = "The bugs on now", body = [Bug]),
        (status = 400, description = "No such bug", body = shared::ErrorBody),
        (status = 409, description = "The bug lives in another kind of service", body = shared::ErrorBody),
    ))]
pub(super) async fn switch_on(
    State(admin): State<BugAdmin>,
    ApiPath(name): ApiPath<String>,
) -> Response {
    switch(&admin, &name, true)
}

/// Switch a deliberate bug off.
#[utoipa::path(delete, path = "/admin/bugs/{name}", tag = "bugs",
    params(("name" = Bug, Path, description = "the bug's name")),
    responses(
        (status = 200, description = "The bugs on now", body = [Bug]),
        (status = 400, description = "No such bug", body = shared::ErrorBody),
        (status = 409, description = "The bug lives in another kind of service", body = shared::ErrorBody),
    ))]
pub(super) async fn switch_off(
    State(admin): State<BugAdmin>,
    ApiPath(name): ApiPath<String>,
) -> Response {
    switch(&admin, &name, false)
}

fn switch(admin: &BugAdmin, name: &str, on: bool) -> Response {
    let bug = match name.parse::<Bug>() {
        Ok(bug) => bug,
        Err(why) => return error_response(StatusCode::BAD_REQUEST, why),
    };
    if let Err(why) = bug.switchable_in(admin.kind) {
        return error_response(StatusCode::CONFLICT, why);
    }
    if admin.bugs.on(bug) != on {
        admin.bugs.set(bug, on);
        let state = if on { "ON (deliberate)" } else { "off" };
        tracing::warn!(%bug, on, "deliberate bug switched");
        admin.events.emit(EventKind::Info, format!("bug {bug} switched {state}"));
    }
    ApiJson(admin.bugs.list()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bugs_switch_on_and_off_one_at_a_time() {
        let bugs = Bugs::default();
        assert!(bugs.list().is_empty());
        bugs.set(Bug::CrdtForgetRemoteAdds, true);
        bugs.set(Bug::PaxosAcceptBelowPromise, true);
        assert!(bugs.on(Bug::CrdtForgetRemoteAdds) && !bugs.on(Bug::PaxosIgnorePromisedValues));
        bugs.set(Bug::CrdtForgetRemoteAdds, false);
        assert_eq!(bugs.list(), vec![Bug::PaxosAcceptBelowPromise]);
    }
}
