//! The one layer on every route of a service: it counts and times each request
//! ([`metrics`](super::metrics)) and, while a recording runs, records the messages peers send
//! and the replies to them ([`recorder`](super::recorder)).
//!
//! Written as a plain tower service with its own future rather than two `from_fn` middlewares:
//! each of those boxed the rest of the route and its future on every request, which showed in
//! the small routes' throughput (`scripts/bench.sh --only limits`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tower::{Layer, Service};

use super::metrics::{HttpMetrics, RouteMetrics};
use super::recorder::{Received, Recorder};

/// Wraps each route in [`Observed`].
#[derive(Debug, Clone)]
pub(super) struct ObserveLayer {
    pub metrics: Arc<HttpMetrics>,
    pub recorder: Recorder,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed { inner, metrics: self.metrics.clone(), recorder: self.recorder.clone() }
    }
}

/// A route, counted, timed and recorded.
#[derive(Debug, Clone)]
pub(super) struct Observed<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
    recorder: Recorder,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = self.metrics.route(
            request.method(),
            request.extensions().get::<MatchedPath>().map(MatchedPath::as_str),
        );
        // Requests without a stamp (people, the dashboard, the workloads' clients) pass
        // unrecorded: their operations are recorded by whoever makes them.
        let received = self.recorder.received(request.headers());
        ObservedFuture {
            started: Instant::now(),
            inner: self.inner.call(request),
            route,
            received: received.map(|r| (self.recorder.clone(), r)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer, counted (and its reply recorded) once it is ready.
    pub(super) struct ObservedFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Arc<RouteMetrics>,
        received: Option<(Recorder, Received)>,
    }
}

impl<F> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        this.route.observe(this.started.elapsed(), response.status().as_u16());
        if let Some((recorder, received)) = this.received.take() {
            recorder.replied(received, &mut response);
        }
        Poll::Ready(Ok(response))
    }
}
