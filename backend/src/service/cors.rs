//! CORS for web pages only. Any origin may read the lab (the dashboard calls every service from
//! :8080; what changes the lab is guarded apart, see [`admin`](super::admin)), so every page's
//! request gets tower-http's permissive answer. A request with no `Origin` header was not sent by
//! a page's script (curl, a peer, a workload's client): CORS headers mean nothing to it, and it
//! skips the layer, which built and merged a header map on every request.

use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, Method};
use axum::response::Response;
use futures::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};

/// Wraps a service in [`PageCors`].
#[derive(Debug, Clone)]
pub(super) struct PageCorsLayer(CorsLayer);

impl PageCorsLayer {
    /// Any origin, any method and header; no `Vary` (the answer is the same for every origin:
    /// the default one cost a header of three values on every response).
    pub fn permissive() -> Self {
        PageCorsLayer(CorsLayer::permissive().vary([]))
    }
}

impl<S> Layer<S> for PageCorsLayer {
    type Service = PageCors<S>;

    fn layer(&self, inner: S) -> PageCors<S> {
        PageCors(self.0.layer(inner))
    }
}

/// A service with CORS answers for pages' requests (preflights and requests with `Origin`).
#[derive(Debug, Clone)]
pub(super) struct PageCors<S>(Cors<S>);

impl<S> Service<Request> for PageCors<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, tower_http::cors::ResponseFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let from_page =
            request.headers().contains_key(header::ORIGIN) || request.method() == Method::OPTIONS;
        if from_page {
            Either::Right(self.0.call(request))
        } else {
            Either::Left(self.0.get_mut().call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn answer(request: Request) -> Response {
        let inner = tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        PageCorsLayer::permissive().layer(inner).oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn pages_get_cors_headers_and_other_clients_none() {
        let page = Request::get("/x").header(header::ORIGIN, "http://localhost:8080");
        let answered = answer(page.body(Body::empty()).unwrap()).await;
        assert_eq!(answered.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

        let preflight = Request::options("/x")
            .header(header::ORIGIN, "http://localhost:8080")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST");
        let answered = answer(preflight.body(Body::empty()).unwrap()).await;
        assert_eq!(answered.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(answered.headers().contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));

        let curl = Request::get("/x").body(Body::empty()).unwrap();
        let answered = answer(curl).await;
        assert!(!answered.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert!(!answered.headers().contains_key(header::VARY));
    }
}
