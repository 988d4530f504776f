//! The client side of `GET /health`: how the control plane and the registry check a service.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::outgoing::CallError;

/// One `GET {base_url}/health` (no link faults: the control plane's own checks): `Ok` on a
/// 2xx within `timeout`, else why not.
pub async fn check_health(
    client: &reqwest::Client,
    base_url: &str,
    timeout: Duration,
) -> Result<(), String> {
    let answer = client.get(format!("{base_url}/health")).timeout(timeout).send().await;
    health_of(answer.map_err(|err| CallError::from_reqwest(err, Some(timeout))))
}

/// What an answer to `GET /health` says: `Ok` on a 2xx, else why not.
pub(super) fn health_of(answer: Result<reqwest::Response, CallError>) -> Result<(), String> {
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("/health answered {}", response.status())),
        Err(err) => Err(err.to_string()),
    }
}

/// Milliseconds since the Unix epoch, as the lab's wire types carry time.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
