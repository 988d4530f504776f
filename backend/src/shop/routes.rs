//! The shop's HTTP routes: parse, validate, call the store, answer JSON.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use shared::shop::{
    Cart, CartAdd, CartUpdate, DeletedProduct, NewOrder, NewProduct, PlacedOrder, Product,
    ProductFilter, ProductPatch,
};
use shared::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ShopError;
use super::store::{ShopStore, Written};
use super::validate;
use shared::whole::PathNumber;

use crate::service::{ApiJson, ApiPath, ApiQuery};

type State = axum::extract::State<ShopStore>;

/// The header that carries a write's place in the change log.
pub const CHANGE_SEQ: &str = "x-change-seq";

/// A write's answer, with its place in the change log when the store logs changes.
fn written<T: serde::Serialize>(status: StatusCode, written: Written<T>) -> Response {
    let mut response = (status, ApiJson(written.value)).into_response();
    if let Some(seq) = written.seq {
        response.headers_mut().insert(CHANGE_SEQ, axum::http::HeaderValue::from(seq));
    }
    response
}

pub fn router() -> OpenApiRouter<ShopStore> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(place_order))
        .routes(routes!(orders_of))
        .routes(routes!(add_to_cart, get_cart))
        .routes(routes!(remove_from_cart))
}

/// All products, optionally only one category and/or only those in (or out of) stock.
#[utoipa::path(get, path = "/products", tag = "products", params(ProductFilter), responses(
    (status = 200, body = [Product]),
    (status = 400, description = "Unknown or malformed filter", body = ErrorBody),
))]
async fn list_products(
    axum::extract::State(store): State,
    ApiQuery(filter): ApiQuery<ProductFilter>,
) -> Result<impl IntoResponse, ShopError> {
    let body = store.list_products_json(filter).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

#[utoipa::path(get, path = "/products/{id}", tag = "products", params(("id" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)), responses(
    (status = 200, body = Product),
    (status = 404, body = ErrorBody),
))]
async fn get_product(
    axum::extract::State(store): State,
    ApiPath(PathNumber(id)): ApiPath<PathNumber>,
) -> Result<ApiJson<Product>, ShopError> {
    validate::id("id", id)?;
    Ok(ApiJson(store.product(id).await?))
}

#[utoipa::path(post, path = "/products", tag = "products", request_body = NewProduct, responses(
    (status = 409, description = "On a mirror store (3012, 3022): it takes its primary's changes only", body = ErrorBody),
    (status = 201, body = Product),
    (status = 400, body = ErrorBody),
))]
async fn create_product(
    axum::extract::State(store): State,
    ApiJson(new): ApiJson<NewProduct>,
) -> Result<Response, ShopError> {
    validate::new_product(&new)?;
    let product = store.create_product(new).await?;
    tracing::info!(id = product.value.id, name = %product.value.name, "product created");
    Ok(written(StatusCode::CREATED, product))
}

/// Change some fields of a product; the others keep their value.
#[utoipa::path(put, path = "/products/{id}", tag = "products", params(("id" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)),
    request_body = ProductPatch, responses(
    (status = 409, description = "On a mirror store (3012, 3022): it takes its primary's changes only", body = ErrorBody),
    (status = 200, body = Product),
    (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
async fn update_product(
    axum::extract::State(store): State,
    ApiPath(PathNumber(id)): ApiPath<PathNumber>,
    ApiJson(patch): ApiJson<ProductPatch>,
) -> Result<Response, ShopError> {
    validate::id("id", id)?;
    validate::product_patch(&patch)?;
    Ok(written(StatusCode::OK, store.update_product(id, patch).await?))
}

/// Delete a product; answers the workshop's `{"message": "Deleted", "product": {...}}`, with the
/// product's fields at the top level too.
#[utoipa::path(delete, path = "/products/{id}", tag = "products", params(("id" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)), responses(
    (status = 409, description = "On a mirror store (3012, 3022): it takes its primary's changes only", body = ErrorBody),
    (status = 200, body = DeletedProduct),
    (status = 404, body = ErrorBody),
))]
async fn delete_product(
    axum::extract::State(store): State,
    ApiPath(PathNumber(id)): ApiPath<PathNumber>,
) -> Result<Response, ShopError> {
    validate::id("id", id)?;
    let product = store.delete_product(id).await?;
    tracing::info!(id, "product deleted");
    Ok(written(StatusCode::OK, product.map(DeletedProduct::from)))
}

/// Place an order: every product must exist and be in stock; prices are taken now.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = NewOrder, responses(
    (status = 201, body = PlacedOrder),
    (status = 400, body = ErrorBody),
    (status = 404, description = "An unknown product", body = ErrorBody),
    (status = 409, description = "A product out of stock", body = ErrorBody),
))]
async fn place_order(
    axum::extract::State(store): State,
    ApiJson(new): ApiJson<NewOrder>,
) -> Result<Response, ShopError> {
    validate::new_order(&new)?;
    let order = store.place_order(new).await?;
    tracing::info!(id = order.value.id, user = order.value.user_id, total = %order.value.total, "order placed");
    Ok(written(StatusCode::CREATED, order.map(PlacedOrder::from)))
}

/// A user's orders, oldest first.
#[utoipa::path(get, path = "/orders/{userId}", tag = "orders", params(("userId" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)), responses(
    (status = 200, body = [PlacedOrder]),
    (status = 400, body = ErrorBody),
))]
async fn orders_of(
    axum::extract::State(store): State,
    ApiPath(PathNumber(user_id)): ApiPath<PathNumber>,
) -> Result<ApiJson<Vec<PlacedOrder>>, ShopError> {
    validate::id("userId", user_id)?;
    let orders = store.orders_of(user_id).await?;
    Ok(ApiJson(orders.into_iter().map(PlacedOrder::from).collect()))
}

/// Add a quantity of a product to a user's cart; answers the workshop's `cart` beside the cart's
/// details.
#[utoipa::path(post, path = "/cart/{userId}", tag = "cart", params(("userId" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)),
    request_body = CartAdd, responses(
    (status = 409, description = "On a mirror store (3012, 3022): it takes its primary's changes only", body = ErrorBody),
    (status = 200, body = CartUpdate),
    (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
async fn add_to_cart(
    axum::extract::State(store): State,
    ApiPath(PathNumber(user_id)): ApiPath<PathNumber>,
    ApiJson(add): ApiJson<CartAdd>,
) -> Result<Response, ShopError> {
    validate::cart_add(user_id, &add)?;
    Ok(written(StatusCode::OK, store.add_to_cart(user_id, add).await?.map(CartUpdate::from)))
}

/// A user's cart with each product's details and the total.
#[utoipa::path(get, path = "/cart/{userId}", tag = "cart", params(("userId" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)), responses(
    (status = 200, body = Cart),
    (status = 400, body = ErrorBody),
))]
async fn get_cart(
    axum::extract::State(store): State,
    ApiPath(PathNumber(user_id)): ApiPath<PathNumber>,
) -> Result<ApiJson<Cart>, ShopError> {
    validate::id("userId", user_id)?;
    Ok(ApiJson(store.cart(user_id).await?))
}

/// Take a product out of a user's cart; answers like `POST /cart/{userId}`.
#[utoipa::path(delete, path = "/cart/{userId}/item/{productId}", tag = "cart",
    params(("userId" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0), ("productId" = u64, Path, minimum = 1, maximum = 9_007_199_254_740_991.0)), responses(
    (status = 409, description = "On a mirror store (3012, 3022): it takes its primary's changes only", body = ErrorBody),
    (status = 200, body = CartUpdate),
    (status = 404, body = ErrorBody),
))]
async fn remove_from_cart(
    axum::extract::State(store): State,
    ApiPath((PathNumber(user_id), PathNumber(product_id))): ApiPath<(PathNumber, PathNumber)>,
) -> Result<Response, ShopError> {
    validate::id("userId", user_id)?;
    validate::id("productId", product_id)?;
    let cart = store.remove_from_cart(user_id, product_id).await?;
    Ok(written(StatusCode::OK, cart.map(CartUpdate::from)))
}
