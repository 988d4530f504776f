//! What every service gets from `service::Service`: health, metrics, OpenAPI, CORS, JSON errors,
//! a body limit — checked in-process on the shop's router, and once over a real socket.

use crate::support;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use shared::{ErrorBody, HealthReport, ServiceKind};
use tower::ServiceExt;

async fn shop() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = backend::shop::ShopStore::open(&dir.path().join("shop.sqlite3")).await.unwrap();
    (backend::shop::router("shop-test", store), dir)
}

async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn health_names_the_service_and_its_process() {
    let (app, _dir) = shop().await;
    let (status, _, body) = send(&app, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    let report: HealthReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (report.service.as_str(), report.kind, report.status.as_str()),
        ("shop-test", ServiceKind::Shop, "ok")
    );
    assert_eq!(report.pid, std::process::id());
}

#[tokio::test]
async fn metrics_count_requests_by_route_in_prometheus_text() {
    let (app, _dir) = shop().await;
    for _ in 0..3 {
        send(&app, get("/products")).await;
    }
    send(&app, get("/products/77")).await;
    let (status, headers, body) = send(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().contains("openmetrics-text"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(r#"lab_http_requests_total{method="GET",route="/products",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/products/{id}",status="404"} 1"#), "{text}");
    assert!(text.contains("lab_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let (app, _dir) = shop().await;
    let (status, _, body) = send(&app, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/products",
        "/products/{id}",
        "/orders",
        "/orders/{userId}",
        "/cart/{userId}",
        "/cart/{userId}/item/{productId}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
    assert!(doc["components"]["schemas"]["Product"].is_object());
    // Each answer is documented in the workshop's shape.
    for (path, method, status, schema) in [
        ("/orders", "post", "201", "PlacedOrder"),
        ("/orders/{userId}", "get", "200", "PlacedOrder"),
        ("/cart/{userId}", "post", "200", "CartUpdate"),
        ("/cart/{userId}", "get", "200", "Cart"),
        ("/cart/{userId}/item/{productId}", "delete", "200", "CartUpdate"),
        ("/products/{id}", "delete", "200", "DeletedProduct"),
    ] {
        let answer = &doc["paths"][path][method]["responses"][status]["content"];
        let documented = answer["application/json"]["schema"].to_string();
        let reference = format!("\"#/components/schemas/{schema}\"");
        assert!(documented.contains(&reference), "{method} {path}: {documented}");
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn cors_lets_the_dashboard_call_from_another_origin() {
    let (app, _dir) = shop().await;
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/products")
        .header(header::ORIGIN, "http://localhost:8080")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, preflight).await;
    assert!(status.is_success());
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_huge_bodies_answer_json_errors() {
    let (app, _dir) = shop().await;
    let (status, _, body) = send(&app, get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, 404);

    let (status, _, body) =
        send(&app, Request::patch("/products").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, 405);

    let huge = format!(r#"{{"name":"{}","price":1}}"#, "x".repeat(200_000));
    let request = Request::post("/products")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .unwrap();
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().code, 413);
    let (_, _, body) = send(&app, get("/products")).await;
    assert_eq!(body, b"[]", "the rejected body wrote nothing");
}

#[tokio::test]
async fn a_service_answers_over_a_real_socket_and_stops_on_shutdown() {
    let (app, _dir) = shop().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(backend::service::run(listener, app, async {
        let _ = stopped.await;
    }));
    let report: HealthReport = support::get_json(&format!("http://{addr}/health")).await;
    assert_eq!(report.service, "shop-test");
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{addr}/health")).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn the_dashboard_is_sent_precompressed_and_unknown_api_paths_are_json_404s() {
    let dist = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dist.path().join(name), bytes).unwrap();
    write("index.html", b"<html>the page</html>");
    write("index.html.br", b"brotli page");
    write("app_bg.wasm", b"the whole wasm");
    write("app_bg.wasm.br", b"brotli wasm");
    write("app_bg.wasm.gz", b"gzip wasm");
    let app = backend::control::dashboard(dist.path());
    let with = |uri: &str, accept: &str| {
        Request::get(uri).header(header::ACCEPT_ENCODING, accept).body(Body::empty()).unwrap()
    };

    let (status, headers, body) = send(&app, with("/app_bg.wasm", "gzip, deflate, br")).await;
    assert_eq!(
        (status, headers[header::CONTENT_ENCODING].as_bytes()),
        (StatusCode::OK, &b"br"[..])
    );
    assert_eq!(body, b"brotli wasm");
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    let (_, headers, body) = send(&app, with("/app_bg.wasm", "gzip")).await;
    assert_eq!(
        (headers[header::CONTENT_ENCODING].as_bytes(), body.as_slice()),
        (&b"gzip"[..], &b"gzip wasm"[..])
    );
    let (_, headers, body) = send(&app, get("/app_bg.wasm")).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body, b"the whole wasm");

    // Client-side routes get the page, compressed too.
    let (status, headers, body) = send(&app, with("/sync", "br")).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"brotli page"[..]));
    assert_eq!(headers[header::CONTENT_ENCODING], "br");

    for uri in ["/api/nope", "/api", "/api/services/x/y/z"] {
        let (status, headers, body) = send(&app, get(uri)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().contains("json"), "{uri}");
        let error: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(error.code, 404);
    }
}
