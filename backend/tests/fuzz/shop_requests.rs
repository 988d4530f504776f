//! The shop's routes, in-process through its real router (`shop::router` over a temporary
//! SQLite store, as shop A and B run): JSON bodies (`NewProduct`, `ProductPatch`, `NewOrder`,
//! `CartAdd`), `?category=&inStock=` queries and path ids, parsed and validated as a request
//! arrives. Never a panic or a 5xx; every 4xx is the JSON `{code, message}`; a 2xx JSON answer is
//! JSON; and after a write the store still reads, the product list showing what was written.
//!
//! An input is an HTTP request as text: `METHOD TARGET`, then a newline and the body, e.g.
//! `POST /cart/1\n{"productId":1,"quantity":1}`. Bytes a URI cannot hold are percent-encoded.

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode, Uri};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use shared::shop::Product;
use tower::ServiceExt;

use super::harness::{fuzz, gist, rejection_gist, scratch_dir, Verdict};

const WORDS: &[&str] = &[
    "GET ",
    "POST ",
    "PUT ",
    "DELETE ",
    "/products",
    "/products/1",
    "/orders",
    "/orders/1",
    "/cart/1",
    "/cart/1/item/1",
    "?category=",
    "&inStock=",
    "true",
    "false",
    "%20",
    "%00",
    "%FF",
    "%",
    "\"name\"",
    "\"price\"",
    "\"description\"",
    "\"category\"",
    "\"inStock\"",
    "\"userId\"",
    "\"items\"",
    "\"productId\"",
    "\"quantity\"",
];

/// How long one request may take before the run counts it as hung.
const PATIENCE: Duration = Duration::from_secs(10);

struct Shop {
    runtime: tokio::runtime::Runtime,
    app: Router,
    _dir: tempfile::TempDir,
}

impl Drop for Shop {
    /// The store's connection pool must be dropped inside the runtime it was made in.
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        self.app = Router::new();
    }
}

fn fresh() -> Shop {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = scratch_dir();
    let path = dir.path().join("shop.sqlite3");
    let app = runtime.block_on(async {
        let store = backend::shop::ShopStore::open(&path).await.expect("a shop store");
        backend::shop::router("shop-fuzz", store)
    });
    Shop { runtime, app, _dir: dir }
}

/// The request an input stands for, if it is one (`None`: a method http cannot send).
fn request(input: &[u8]) -> Option<(Method, String, Vec<u8>)> {
    let (line, body) = match input.iter().position(|b| *b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[][..]),
    };
    let (method, target) = match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b"/"[..]),
    };
    let method = Method::from_bytes(method).ok()?;
    let mut uri = String::from(if target.first() == Some(&b'/') { "" } else { "/" });
    for &b in target {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    Some((method, uri, body.to_vec()))
}

struct Answer {
    status: StatusCode,
    json: Option<Value>,
    /// The body as text, for the report.
    text: String,
}

async fn send(app: &Router, method: Method, uri: Uri, body: Vec<u8>) -> Result<Answer, String> {
    let mut builder =
        Request::builder().method(method.clone()).uri(uri).header(header::HOST, "localhost");
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder.body(Body::from(body)).map_err(|e| format!("request: {e}"))?;
    let response = tokio::time::timeout(PATIENCE, app.clone().oneshot(request))
        .await
        .map_err(|_| format!("no answer within {PATIENCE:?}"))?
        .map_err(|e| format!("the router failed: {e}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("text/event-stream") {
        // `/events` streams for ever: its status is the answer.
        return Ok(Answer { status, json: None, text: String::new() });
    }
    let bytes = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .map_err(|_| format!("no whole body within {PATIENCE:?}"))?
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = if content_type.starts_with("application/json") && method != Method::HEAD {
        Some(serde_json::from_slice(&bytes).map_err(|e| {
            format!("{status} with content-type JSON that is not JSON ({e}): {text:?}")
        })?)
    } else {
        None
    };
    Ok(Answer { status, json, text })
}

async fn get(app: &Router, uri: &str) -> Result<Answer, String> {
    send(app, Method::GET, Uri::try_from(uri).expect("a URI"), Vec::new()).await
}

/// An outcome's name: the route's shape (numbers as N, other words as x), the status and the
/// message's gist.
fn outcome(method: &Method, uri: &str, answer: &Answer) -> String {
    const KNOWN: &[&str] =
        &["", "products", "orders", "cart", "item", "health", "metrics", "openapi.json"];
    let path = uri.split('?').next().unwrap_or_default();
    let shape: Vec<&str> = path
        .split('/')
        .take(5)
        .map(|part| match part {
            _ if KNOWN.contains(&part) => part,
            _ if part.bytes().all(|b| b.is_ascii_digit()) => "N",
            _ => "x",
        })
        .collect();
    let query = if uri.contains('?') { "?" } else { "" };
    let message = answer.json.as_ref().and_then(|j| j["message"].as_str()).unwrap_or_default();
    let method = if KNOWN_METHODS.contains(&method.as_str()) { method.as_str() } else { "OTHER" };
    let status = answer.status.as_u16();
    if message == "no such route" || message == "method not allowed on this route" {
        return format!("{method} unrouted {status}");
    }
    let message = rejection_gist(message).unwrap_or_else(|| gist(message, 60));
    format!("{method} {}{query} {status} {message}", shape.join("/"))
}

const KNOWN_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];

/// After a write was answered 2xx: the store still reads, and the product list shows what the
/// write answered.
async fn still_reads(
    app: &Router,
    method: &Method,
    uri: &str,
    answer: &Answer,
) -> Result<(), String> {
    let list = get(app, "/products").await?;
    let products: Vec<Product> = match (&list.status, &list.json) {
        (&StatusCode::OK, Some(json)) => serde_json::from_value(json.clone())
            .map_err(|e| format!("GET /products is no product list ({e}): {}", list.text))?,
        _ => {
            return Err(format!(
                "after the write, GET /products answers {}: {}",
                list.status, list.text
            ))
        }
    };
    let path = uri.split('?').next().unwrap_or_default();
    let written =
        answer.json.as_ref().and_then(|j| serde_json::from_value::<Product>(j.clone()).ok());
    let is_product_route = path == "/products" || path.starts_with("/products/");
    match (method.as_str(), written) {
        ("POST" | "PUT", Some(product)) if is_product_route => {
            if !products.contains(&product) {
                return Err(format!("{method} {uri} answered {product:?}, GET /products lacks it"));
            }
            let one = get(app, &format!("/products/{}", product.id)).await?;
            let read = one.json.and_then(|j| serde_json::from_value::<Product>(j).ok());
            if read.as_ref() != Some(&product) {
                return Err(format!("{method} {uri} answered {product:?}, GET reads {}", one.text));
            }
        }
        ("DELETE", Some(product))
            if is_product_route && products.iter().any(|p| p.id == product.id) =>
        {
            return Err(format!(
                "{method} {uri} deleted {}, GET /products still lists it",
                product.id
            ));
        }
        _ => {}
    }
    Ok(())
}

async fn check(app: &Router, input: &[u8]) -> Verdict {
    let Some((method, uri, body)) = request(input) else { return Ok("no such method".into()) };
    let Ok(parsed) = Uri::try_from(uri.as_str()) else { return Ok("no such URI".into()) };
    let answer = send(app, method.clone(), parsed, body).await?;
    let status = answer.status;
    if status.is_server_error() {
        return Err(format!("{method} {uri} answered {status}: {}", answer.text));
    }
    if status.is_client_error() && method != Method::HEAD {
        let json = answer.json.as_ref();
        let code = json.and_then(|j| j["code"].as_u64());
        let message = json.and_then(|j| j["message"].as_str());
        if code != Some(u64::from(status.as_u16())) || message.is_none() {
            return Err(format!(
                "{method} {uri} answered {status} without {{code, message}}: {:?}",
                answer.text
            ));
        }
    }
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if status.is_success() && writes {
        still_reads(app, &method, &uri, &answer).await?;
    }
    Ok(outcome(&method, &uri, &answer))
}

#[test]
fn fuzz_shop_requests() {
    fuzz("shop_requests", WORDS, fresh, |shop, input| {
        let app = shop.app.clone();
        shop.runtime.block_on(check(&app, input))
    });
}
