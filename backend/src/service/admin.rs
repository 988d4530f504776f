//! Who may call admin routes (fault injection, kill, pause, ...): by default only a client on
//! this machine (loopback), and from a browser only a page of the same origin or an allowed one,
//! so neither a host off the machine nor a web page the user happens to visit can break the lab.
//! With `LAB_ADMIN_TOKEN` set, a request bearing `Authorization: Bearer <token>` is allowed
//! from anywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::error_response;

/// Who is allowed, read once from the environment.
#[derive(Debug, Clone, Default)]
pub struct AdminPolicy {
    /// `LAB_ADMIN_TOKEN`: a bearer token accepted from any address.
    pub token: Option<String>,
    /// `LAB_ADMIN_ORIGINS`: comma-separated browser origins allowed besides the same origin.
    pub origins: Vec<String>,
}

impl AdminPolicy {
    pub fn from_env() -> Self {
        let token = std::env::var("LAB_ADMIN_TOKEN").ok().filter(|t| !t.is_empty());
        let origins = std::env::var("LAB_ADMIN_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        Self { token, origins }
    }

    /// `Ok` if the request may use an admin route, else why not.
    pub fn check(&self, peer: Option<SocketAddr>, request: &Request) -> Result<(), &'static str> {
        let headers = request.headers();
        if let (Some(token), Some(given)) = (&self.token, headers.get(header::AUTHORIZATION)) {
            if given.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) == Some(token.as_str()) {
                return Ok(());
            }
        }
        match peer {
            Some(addr) if addr.ip().is_loopback() || addr.ip().to_canonical().is_loopback() => {}
            // In-process calls (tests, no socket) carry no peer address: they are local.
            None => {}
            Some(_) => {
                return Err(
                    "admin routes answer clients on this machine only (or with LAB_ADMIN_TOKEN)",
                )
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let same_origin =
                origin.split_once("://").is_some_and(|(_, authority)| authority == host);
            if !same_origin && !self.origins.iter().any(|o| o == origin) {
                return Err("admin routes refuse requests from other origins (set LAB_ADMIN_ORIGINS to allow one)");
            }
        }
        Ok(())
    }
}

/// Middleware guarding admin routes with the [`AdminPolicy`].
pub async fn guard(
    State(policy): State<Arc<AdminPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    match policy.check(peer, &request) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            tracing::warn!(?peer, path = %request.uri().path(), "admin request refused: {why}");
            error_response(StatusCode::FORBIDDEN, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(origin: Option<&str>, token: Option<&str>) -> Request {
        let mut builder = Request::post("/admin/x").header(header::HOST, "127.0.0.1:8080");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    }

    const LOCAL: Option<SocketAddr> =
        Some(SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5555));
    const REMOTE: Option<SocketAddr> =
        Some(SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3)), 5555));

    #[test]
    fn loopback_and_same_origin_pass_others_do_not() {
        let policy = AdminPolicy::default();
        assert!(policy.check(LOCAL, &request(None, None)).is_ok());
        assert!(policy.check(LOCAL, &request(Some("http://127.0.0.1:8080"), None)).is_ok());
        assert!(policy.check(LOCAL, &request(Some("http://evil.example"), None)).is_err());
        assert!(policy.check(REMOTE, &request(None, None)).is_err());
    }

    #[test]
    fn a_token_or_an_allowed_origin_opens_the_door() {
        let policy = AdminPolicy {
            token: Some("s3cret".into()),
            origins: vec!["http://lab.example".into()],
        };
        assert!(policy.check(REMOTE, &request(None, Some("s3cret"))).is_ok());
        assert!(policy.check(REMOTE, &request(None, Some("wrong"))).is_err());
        assert!(policy.check(LOCAL, &request(Some("http://lab.example"), None)).is_ok());
    }
}
