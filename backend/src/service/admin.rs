//! Who may change the lab. Two scopes, one guard:
//! - [`Scope::Changes`] — routes that change topology, roles, membership, modes or behaviours
//!   (failover, rebuild, sync, model registration and withdrawal, evaluation, registry servers,
//!   mode switches): any client may call them (curl, a contributor's script), but no web page of
//!   a foreign origin, and no request whose `Host` is not one of the lab's own names — the
//!   DNS-rebinding attack, where a foreign page's own name resolves to this machine, sends its
//!   own name as `Host` (and as `Origin`), as webpack-dev-server's and Vite's `allowedHosts`
//!   guard against.
//! - [`Scope::Admin`] — fault injection, kill, pause, links, behaviour, store promotion: the
//!   same, and only from a client on this machine (loopback).
//!
//! The lab's own names: `localhost` (and `*.localhost`), any IP address literal (a rebinding
//! page always uses a name), and the names in `LAB_ALLOWED_HOSTS`. A page's `Origin` is the
//! lab's own when its host is a loopback name or address, the same host the request was sent to
//! (the dashboard on another port of this machine), a name in `LAB_ALLOWED_HOSTS`, or it is
//! listed in `LAB_ADMIN_ORIGINS`. With `LAB_ADMIN_TOKEN` set, a request bearing
//! `Authorization: Bearer <token>` is admitted from anywhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures::future::Either;
use tower::{Layer, Service};

use super::error_response;

/// How much a guarded route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No foreign page, no foreign `Host` — for requests that change something (not GET, HEAD,
    /// OPTIONS, TRACE), so a router can be guarded whole.
    Changes,
    /// That, and only from this machine.
    Admin,
}

/// Who is allowed, read once from the environment.
#[derive(Debug, Clone, Default)]
pub struct AdminPolicy {
    /// `LAB_ADMIN_TOKEN`: a bearer token accepted from any address.
    pub token: Option<String>,
    /// `LAB_ADMIN_ORIGINS`: comma-separated browser origins allowed besides the lab's own.
    pub origins: Vec<String>,
    /// `LAB_ALLOWED_HOSTS`: comma-separated host names that are the lab's own besides
    /// `localhost` and IP addresses (e.g. the machine's name on a network).
    pub hosts: Vec<String>,
}

fn list(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| {
            v.split(',').map(|o| o.trim().to_ascii_lowercase()).filter(|o| !o.is_empty()).collect()
        })
        .unwrap_or_default()
}

/// The host of a `Host` header or an origin's authority, without the port (`[::1]:80` → `::1`).
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(ip, _)| ip);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

impl AdminPolicy {
    pub fn from_env() -> Self {
        let token = std::env::var("LAB_ADMIN_TOKEN").ok().filter(|t| !t.is_empty());
        Self { token, origins: list("LAB_ADMIN_ORIGINS"), hosts: list("LAB_ALLOWED_HOSTS") }
    }

    /// Is `host` (no port) one of the lab's own names?
    fn own_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        is_localhost(&host) || host.parse::<IpAddr>().is_ok() || self.hosts.contains(&host)
    }

    /// `Ok` if the request may use a route of `scope`, else why not.
    pub fn check(
        &self,
        scope: Scope,
        peer: Option<SocketAddr>,
        request: &Request,
    ) -> Result<(), &'static str> {
        let headers = request.headers();
        if scope == Scope::Changes && request.method().is_safe() {
            return Ok(()); // reads change nothing: only writes are guarded at this scope
        }
        if let (Some(token), Some(given)) = (&self.token, headers.get(header::AUTHORIZATION)) {
            if given.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) == Some(token.as_str()) {
                return Ok(());
            }
        }
        if scope == Scope::Admin {
            match peer {
                Some(addr) if addr.ip().to_canonical().is_loopback() => {}
                // In-process calls (tests, no socket) carry no peer address: they are local.
                None => {}
                Some(_) => return Err(
                    "admin routes answer clients on this machine only (or with LAB_ADMIN_TOKEN)",
                ),
            }
        }
        // HTTP/1.1 requires Host (hyper refuses a request without one); HTTP/2 puts it in the URI.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .map(host_of);
        if let Some(host) = host {
            if !self.own_host(host) {
                return Err("this request names a host that is not the lab's (DNS rebinding?): \
                            set LAB_ALLOWED_HOSTS to allow a name");
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let origin_host = origin.split_once("://").map(|(_, authority)| host_of(authority));
            let own = match origin_host {
                Some(o) => {
                    let o = o.to_ascii_lowercase();
                    is_localhost(&o)
                        || o.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
                        || host.is_some_and(|h| h.eq_ignore_ascii_case(&o))
                        || self.hosts.contains(&o)
                }
                None => false, // "null": a sandboxed page or a file
            };
            if !own && !self.origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) {
                return Err("this route refuses requests from web pages of other origins \
                            (set LAB_ADMIN_ORIGINS to allow one)");
            }
        }
        Ok(())
    }
}

/// The guard as a route layer: each route it wraps answers 403 (and logs why) to a request its
/// scope does not admit. A plain tower service, not a `from_fn` middleware: the latter boxed
/// the route and its future on every request, the unguarded GETs included.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    policy: Arc<AdminPolicy>,
    scope: Scope,
}

impl GuardLayer {
    /// Guard at `scope`, with the policy read from the environment.
    pub fn new(scope: Scope) -> Self {
        GuardLayer { policy: Arc::new(AdminPolicy::from_env()), scope }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded { inner, policy: self.policy.clone(), scope: self.scope }
    }
}

/// A route behind the guard.
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    policy: Arc<AdminPolicy>,
    scope: Scope,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        match self.policy.check(self.scope, peer, &request) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(why) => {
                let origin = request.headers().get(header::ORIGIN);
                let host = request.headers().get(header::HOST);
                tracing::warn!(?peer, ?origin, ?host, path = %request.uri().path(), "request refused: {why}");
                Either::Right(ready(Ok(error_response(StatusCode::FORBIDDEN, why))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(origin: Option<&str>, token: Option<&str>) -> Request {
        request_to("127.0.0.1:8080", origin, token)
    }

    fn request_to(host: &str, origin: Option<&str>, token: Option<&str>) -> Request {
        let mut builder = Request::post("/admin/x").header(header::HOST, host);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    }

    const LOCAL: Option<SocketAddr> =
        Some(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5555));
    const REMOTE: Option<SocketAddr> =
        Some(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3)), 5555));

    #[test]
    fn loopback_and_same_origin_pass_others_do_not() {
        let policy = AdminPolicy::default();
        let admin = |peer, request: Request| policy.check(Scope::Admin, peer, &request);
        assert!(admin(LOCAL, request(None, None)).is_ok());
        assert!(admin(LOCAL, request(Some("http://127.0.0.1:8080"), None)).is_ok());
        assert!(
            admin(LOCAL, request(Some("http://localhost:8080"), None)).is_ok(),
            "the dashboard"
        );
        assert!(admin(LOCAL, request(Some("http://evil.example"), None)).is_err());
        assert!(admin(LOCAL, request(Some("null"), None)).is_err());
        assert!(admin(LOCAL, request(Some("http://93.184.216.34"), None)).is_err(), "a foreign IP");
        assert!(admin(REMOTE, request(None, None)).is_err());
        assert!(
            policy.check(Scope::Changes, REMOTE, &request(None, None)).is_ok(),
            "curl anywhere"
        );
    }

    #[test]
    fn a_rebinding_host_is_refused_even_as_its_own_origin() {
        let policy = AdminPolicy::default();
        for scope in [Scope::Admin, Scope::Changes] {
            let rebound = request_to("evil.example:8080", Some("http://evil.example:8080"), None);
            assert!(policy.check(scope, LOCAL, &rebound).is_err(), "{scope:?}");
            assert!(policy
                .check(scope, LOCAL, &request_to("evil.example:8080", None, None))
                .is_err());
            for own in
                ["localhost:7001", "127.0.0.1", "[::1]:3010", "192.168.1.5:3001", "lab.localhost"]
            {
                assert!(policy.check(scope, LOCAL, &request_to(own, None, None)).is_ok(), "{own}");
            }
        }
        // The dashboard served on a LAN address calls a service on another port of it.
        let lan = request_to("192.168.1.5:3001", Some("http://192.168.1.5:8080"), None);
        assert!(policy.check(Scope::Changes, REMOTE, &lan).is_ok());
    }

    #[test]
    fn a_token_an_allowed_origin_or_an_allowed_host_opens_the_door() {
        let policy = AdminPolicy {
            token: Some("s3cret".into()),
            origins: vec!["http://lab.example".into()],
            hosts: vec!["labbox".into()],
        };
        let admin = |peer, request: Request| policy.check(Scope::Admin, peer, &request);
        assert!(admin(REMOTE, request(None, Some("s3cret"))).is_ok());
        assert!(admin(
            REMOTE,
            request_to("evil.example", Some("http://evil.example"), Some("s3cret"))
        )
        .is_ok());
        assert!(admin(REMOTE, request(None, Some("wrong"))).is_err());
        assert!(admin(LOCAL, request(Some("http://lab.example"), None)).is_ok());
        assert!(admin(LOCAL, request_to("labbox:8080", Some("http://labbox:8080"), None)).is_ok());
    }
}
