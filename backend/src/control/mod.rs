//! The control plane (:8080): serves the dashboard, lists every service with its health, and —
//! as `lab up` — starts every other service as a child process and stops them all on exit.
//!
//! Run it with `lab up` (the whole lab) — see [`up`].

mod health;
pub mod supervisor;
pub mod table;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::Router;
use shared::{Health, ServiceKind, ServiceStatus};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::{self, Ports};
use crate::service::{self, ApiJson, Service};
use supervisor::Supervisor;
use table::ServiceTable;

/// How `lab up` runs the lab.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub bind: IpAddr,
    pub ports: Ports,
    /// The built dashboard (`trunk build --release` writes it to `dist/`).
    pub dist: PathBuf,
    /// Where services keep their databases.
    pub data: PathBuf,
    pub health_interval: Duration,
}

/// State of the control plane's routes.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub table: ServiceTable,
}

/// The control plane's router: its API, the plumbing every service has, and the dashboard.
pub fn router(state: ControlState, dist: &Path) -> Router {
    let api = OpenApiRouter::new().routes(routes!(list_services)).with_state(state);
    Service::new("control", ServiceKind::Control).fallback(dashboard(dist)).into_router(api)
}

/// Every service of the lab with its PID and last known health.
#[utoipa::path(get, path = "/api/services", tag = "control", responses(
    (status = 200, description = "Every service of the lab", body = [ServiceStatus]),
))]
async fn list_services(State(state): State<ControlState>) -> ApiJson<Vec<ServiceStatus>> {
    ApiJson(state.table.snapshot())
}

/// The built Yew app, with every unknown path answered by `index.html` so client-side routes
/// (`/shop`, `/sync`, ...) survive a reload.
fn dashboard(dist: &Path) -> Router {
    let index = dist.join("index.html");
    if !index.is_file() {
        tracing::warn!(dist = %dist.display(), "dashboard not built: run `make run` (or trunk build --release)");
        let page = Html(
            "<h1>The dashboard is not built</h1><p>Run <code>make run</code>, which builds it with trunk \
             and starts the lab. The services' APIs work meanwhile: see <a href=\"/api/services\">/api/services</a>.</p>",
        );
        return Router::new()
            .fallback(move || async move { (StatusCode::SERVICE_UNAVAILABLE, page) });
    }
    Router::new().fallback_service(ServeDir::new(dist).fallback(ServeFile::new(index)))
}

/// `lab up`: start every service as a child process, serve the control plane, and on Ctrl-C or
/// SIGTERM stop the children before returning.
pub async fn up(config: UpConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(config.bind, config.ports.control)).await?;
    let control_url = format!("http://{}", listener.local_addr()?);
    std::fs::create_dir_all(&config.data)?;

    let table = ServiceTable::default();
    table.upsert(ServiceStatus {
        name: "control".to_owned(),
        kind: ServiceKind::Control,
        url: control_url.clone(),
        pid: Some(std::process::id()),
        health: Health::Up,
        last_check_ms: None,
        detail: None,
    });
    let supervisor =
        Arc::new(Supervisor::new(std::env::current_exe()?, config.bind, table.clone()));
    for spec in catalog::lab(&config.ports, &config.data) {
        if let Err(err) = supervisor.spawn(&spec) {
            supervisor.shutdown(Duration::from_secs(5)).await;
            anyhow::bail!("could not start {}: {err}", spec.name);
        }
    }

    let client = reqwest::Client::builder().build()?;
    let poller = tokio::spawn(health::poll(table.clone(), client, config.health_interval));

    let app = router(ControlState { table }, &config.dist);
    let dashboard_url = match config.bind {
        ip if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{}", listener.local_addr()?.port())
        }
        _ => control_url,
    };
    tracing::info!("dashboard: {dashboard_url}");
    // Also on stdout, unadorned, for people and for the test harness.
    {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "dashboard: {dashboard_url}");
    }
    let served = service::run(listener, app, service::shutdown_signal()).await;
    poller.abort();
    supervisor.shutdown(Duration::from_secs(5)).await;
    tracing::info!("lab stopped");
    Ok(served?)
}
