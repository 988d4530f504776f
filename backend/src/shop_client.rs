//! A shop client that finds a server through the registry and retries on the next server when
//! one fails — the workshop's "simulate a stop of the API server — fix it", answered in code.
//!
//! Every request asks the registry (`GET /getServer`) for a server and sends the request there.
//! When the server cannot be reached, the client asks again, skipping servers that already
//! failed this request. A request that never left (connection refused) is retried whatever its
//! method; a request that may have reached a server that then failed is retried only when it is
//! idempotent (GET, PUT, DELETE) — retrying `POST /orders` then could place the order twice, so
//! the client says it does not know instead.

use std::time::Duration;

use reqwest::Method;
use shared::registry::GetServer;

use crate::registry::base_url;

/// How one attempt of a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub server: String,
    pub outcome: String,
}

/// An answer from some shop server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Which server answered (`localhost:3002`).
    pub server: String,
    pub status: u16,
    pub body: String,
    /// Attempts that failed before this answer.
    pub failed: Vec<Attempt>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the registry could not give a server: {0}")]
    Registry(String),
    #[error("every attempt failed: {0:?}")]
    AllFailed(Vec<Attempt>),
    /// A non-idempotent request reached a server that failed before answering.
    #[error("{server} failed after receiving the request ({reason}); it may or may not have been applied")]
    Uncertain { server: String, reason: String },
}

/// Talks to the shop through the registry.
#[derive(Debug, Clone)]
pub struct ShopClient {
    registry: String,
    http: reqwest::Client,
    /// Attempts per request, each on a server that has not failed it yet.
    pub attempts: usize,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl ShopClient {
    pub fn new(registry_url: &str) -> Self {
        Self {
            registry: registry_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            attempts: 4,
            timeout: Duration::from_secs(2),
        }
    }

    /// Ask the registry for a server.
    pub async fn resolve(&self) -> Result<String, ClientError> {
        let url = format!("{}/getServer", self.registry);
        let response = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| ClientError::Registry(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(ClientError::Registry(format!("{status}: {text}")));
        }
        let answer: GetServer = response
            .json()
            .await
            .map_err(|e| ClientError::Registry(format!("unreadable answer: {e}")))?;
        Ok(answer.server)
    }

    /// Send `method path` with an optional JSON body to a healthy server.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ClientError> {
        let idempotent =
            matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let mut failed: Vec<Attempt> = Vec::new();
        let mut asked = 0;
        // Each attempt may need a few registry answers to find a server not yet failed.
        while failed.len() < self.attempts && asked < self.attempts * 4 {
            asked += 1;
            let server = self.resolve().await?;
            if failed.iter().any(|a| a.server == server) {
                continue;
            }
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", base_url(&server)))
                .timeout(self.timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) if response.status().is_server_error() && idempotent => {
                    failed.push(Attempt {
                        server,
                        outcome: format!("answered {}", response.status()),
                    });
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    return Ok(Answer { server, status, body, failed });
                }
                Err(err) if err.is_connect() || idempotent => {
                    failed.push(Attempt { server, outcome: with_causes(&err) });
                }
                Err(err) => {
                    return Err(ClientError::Uncertain { server, reason: with_causes(&err) })
                }
            }
        }
        Err(ClientError::AllFailed(failed))
    }
}

/// `error sending request: client error (Connect): tcp connect error: Connection refused`:
/// reqwest's own message hides the cause that matters.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
