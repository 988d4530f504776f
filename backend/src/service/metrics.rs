//! HTTP request metrics every service exports on `GET /metrics`: requests by method, route and
//! status (`http_requests_total`), and their latency by method and route
//! (`http_request_duration_seconds`).
//!
//! On the request path nothing is locked or allocated: every route the service documents has
//! its counters made at start ([`HttpMetrics::register`], from its OpenAPI document), found by
//! the matched route's text, and counted with atomics. A route it does not document (the event
//! stream, a request no route matched) gets its counters on first use, under a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/products/{id}`), not the raw path, so the label set stays small.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The statuses counted in a slot of their own; any other is counted under a lock.
const STATUSES: [u16; 20] = [
    200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 500, 502,
    503,
];

/// One route and method: its latency histogram and its answers by status.
#[derive(Debug)]
pub(super) struct RouteMetrics {
    method: Method,
    route: String,
    /// Upper bounds in seconds: 50 µs .. ~1.6 s (the lab's answers range from in-memory lookups
    /// to fsync'd mirrored writes), then +Inf.
    bounds: Arc<[f64]>,
    /// Observations per bucket (not cumulative), one per bound.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_ns: AtomicU64,
    statuses: [AtomicU64; STATUSES.len()],
    /// Statuses outside [`STATUSES`] (rare).
    other_statuses: Mutex<Vec<(u16, u64)>>,
}

impl RouteMetrics {
    fn new(method: Method, route: String, bounds: Arc<[f64]>) -> Self {
        let buckets = bounds.iter().map(|_| AtomicU64::new(0)).collect();
        RouteMetrics {
            method,
            route,
            bounds,
            buckets,
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            statuses: std::array::from_fn(|_| AtomicU64::new(0)),
            other_statuses: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn observe(&self, took: Duration, status: u16) {
        let seconds = took.as_secs_f64();
        let bucket =
            self.bounds.iter().position(|b| seconds <= *b).unwrap_or(self.bounds.len() - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        match STATUSES.iter().position(|s| *s == status) {
            Some(slot) => {
                self.statuses[slot].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let mut others = self.other_statuses.lock().expect("metrics lock poisoned");
                match others.iter_mut().find(|(s, _)| *s == status) {
                    Some((_, n)) => *n += 1,
                    None => others.push((status, 1)),
                }
            }
        }
    }

    /// (status, answers) for every status answered at least once.
    fn answered(&self) -> Vec<(u16, u64)> {
        let counted = STATUSES.iter().zip(&self.statuses);
        let mut answered: Vec<(u16, u64)> =
            counted.map(|(s, n)| (*s, n.load(Ordering::Relaxed))).filter(|(_, n)| *n > 0).collect();
        answered.extend(self.other_statuses.lock().expect("metrics lock poisoned").iter().copied());
        answered
    }

    fn labels(&self) -> RouteLabels {
        RouteLabels { method: self.method.as_str().to_owned(), route: self.route.clone() }
    }
}

#[derive(Debug)]
pub(super) struct HttpMetrics {
    /// The documented routes, by route pattern, then method: made at start, never changed, so
    /// read without a lock.
    known: HashMap<String, Vec<Arc<RouteMetrics>>>,
    /// The rest, made on first use.
    others: Mutex<Vec<Arc<RouteMetrics>>>,
    bounds: Arc<[f64]>,
}

impl HttpMetrics {
    /// Make the counters of every route `documented` lists (each route with its methods) and
    /// register the two metrics.
    pub(super) fn register<'a>(
        registry: &mut Registry,
        documented: impl IntoIterator<Item = (&'a str, Vec<Method>)>,
    ) -> Arc<Self> {
        let bounds: Arc<[f64]> =
            exponential_buckets(0.000_05, 2.0, 16).chain(std::iter::once(f64::MAX)).collect();
        let mut known: HashMap<String, Vec<Arc<RouteMetrics>>> = HashMap::new();
        for (route, methods) in documented {
            let entry = known.entry(route.to_owned()).or_default();
            for method in methods {
                entry.push(Arc::new(RouteMetrics::new(method, route.to_owned(), bounds.clone())));
            }
        }
        let metrics = Arc::new(Self { known, others: Mutex::default(), bounds });
        registry.register("http_requests", "HTTP requests answered", Requests(metrics.clone()));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            Latency(metrics.clone()),
        );
        metrics
    }

    /// The counters of `method` on `route` (`None`: no route matched).
    pub(super) fn route(&self, method: &Method, route: Option<&str>) -> Arc<RouteMetrics> {
        let route = route.unwrap_or("unmatched");
        if let Some(found) =
            self.known.get(route).and_then(|m| m.iter().find(|r| r.method == method))
        {
            return found.clone();
        }
        let mut others = self.others.lock().expect("metrics lock poisoned");
        if let Some(found) = others.iter().find(|r| r.method == method && r.route == route) {
            return found.clone();
        }
        let made =
            Arc::new(RouteMetrics::new(method.clone(), route.to_owned(), self.bounds.clone()));
        others.push(made.clone());
        made
    }

    /// Every route's counters, documented ones first.
    fn all(&self) -> Vec<Arc<RouteMetrics>> {
        let mut all: Vec<Arc<RouteMetrics>> = self.known.values().flatten().cloned().collect();
        all.sort_by(|a, b| (&a.route, a.method.as_str()).cmp(&(&b.route, b.method.as_str())));
        all.extend(self.others.lock().expect("metrics lock poisoned").iter().cloned());
        all
    }
}

/// `http_requests_total`, encoded from the atomics when `/metrics` is read.
#[derive(Debug)]
struct Requests(Arc<HttpMetrics>);

impl EncodeMetric for Requests {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for route in self.0.all() {
            for (status, answered) in route.answered() {
                let labels = RequestLabels {
                    method: route.method.as_str().to_owned(),
                    route: route.route.clone(),
                    status,
                };
                encoder
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&answered, None)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// `http_request_duration_seconds`, for the routes asked at least once.
#[derive(Debug)]
struct Latency(Arc<HttpMetrics>);

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for route in self.0.all() {
            let count = route.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let sum = route.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let buckets: Vec<(f64, u64)> = (route.bounds.iter().copied())
                .zip(route.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
                .collect();
            let labels = route.labels();
            encoder
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn documented_and_undocumented_routes_are_counted_and_timed_by_status() {
        let mut registry = Registry::with_prefix("lab");
        let metrics =
            HttpMetrics::register(&mut registry, [("/products", vec![Method::GET, Method::POST])]);
        let get = metrics.route(&Method::GET, Some("/products"));
        assert!(Arc::ptr_eq(&get, &metrics.route(&Method::GET, Some("/products"))));
        get.observe(Duration::from_micros(40), 200);
        get.observe(Duration::from_millis(3), 200);
        get.observe(Duration::from_millis(3), 418);
        metrics.route(&Method::GET, Some("/events")).observe(Duration::from_secs(10), 200);
        metrics.route(&Method::PUT, None).observe(Duration::from_micros(1), 405);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"lab_http_requests_total{method="GET",route="/products",status="200"} 2"#,
            r#"lab_http_requests_total{method="GET",route="/products",status="418"} 1"#,
            r#"lab_http_requests_total{method="GET",route="/events",status="200"} 1"#,
            r#"lab_http_requests_total{method="PUT",route="unmatched",status="405"} 1"#,
            r#"lab_http_request_duration_seconds_count{method="GET",route="/products"} 3"#,
            r#"lab_http_request_duration_seconds_bucket{le="0.00005",method="GET",route="/products"} 1"#,
            r#"lab_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/events"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            text.contains(
                r#"lab_http_request_duration_seconds_sum{method="GET",route="/products"} 0.00604"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"method="POST""#), "a route never asked shows nothing: {text}");
    }
}
