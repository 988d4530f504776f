//! Every HTTP call the dashboard makes goes through here.

use gloo_net::http::Request;
use serde::de::DeserializeOwned;
use shared::{ErrorBody, ServiceStatus};

/// Why a call failed, in words for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(pub String);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let response =
        Request::get(url).send().await.map_err(|e| ApiError(format!("GET {url}: {e}")))?;
    if !response.ok() {
        // Every service answers errors as `{code, message}`; say its message when there is one.
        let status = response.status();
        return Err(ApiError(match response.json::<ErrorBody>().await {
            Ok(body) => format!("GET {url}: {}", body.message),
            Err(_) => format!("GET {url}: HTTP {status}"),
        }));
    }
    response.json::<T>().await.map_err(|e| ApiError(format!("GET {url}: unreadable answer: {e}")))
}

/// The control plane's list of services with their health.
pub async fn services() -> Result<Vec<ServiceStatus>, ApiError> {
    get_json("/api/services").await
}
