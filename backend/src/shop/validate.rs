//! The shop's rules for what a request may contain, checked before anything is written.

use shared::replication::{Change, LoggedChange};
use shared::shop::{CartAdd, Money, NewOrder, NewProduct, Order, ProductPatch};

use super::error::ShopError;

/// Largest id the shop hands out or accepts: JavaScript's largest exact integer, so ids survive
/// a trip through the dashboard.
pub const MAX_ID: u64 = (1 << 53) - 1;
pub const MAX_QUANTITY: u32 = 10_000;
pub const MAX_ORDER_LINES: usize = 100;
/// The highest price, $10,000.00: the largest order (100 lines of 10,000 at this price) then
/// totals `Money::MAX` at most, which every JSON client reads exactly to the cent.
pub const MAX_PRICE: Money = Money(1_000_000);
const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2_000;
const MAX_CATEGORY: usize = 100;

fn invalid(message: impl Into<String>) -> ShopError {
    ShopError::Invalid(message.into())
}

pub fn id(what: &str, id: u64) -> Result<(), ShopError> {
    if id == 0 || id > MAX_ID {
        return Err(invalid(format!("{what} must be between 1 and {MAX_ID}, got {id}")));
    }
    Ok(())
}

/// White space as JSON Schema's patterns (ECMA-262 `\s`) define it, so that "not blank" here
/// means what the schemas' `\S` says (Rust's `trim` also counts U+0085, which `\S` matches).
fn ecma_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

fn text(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), ShopError> {
    if !may_be_empty && value.chars().all(ecma_space) {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(invalid(format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

/// A price a client may set: above 0, at most [`MAX_PRICE`].
fn price(value: Money) -> Result<(), ShopError> {
    price_within(value, MAX_PRICE)
}

/// A price above 0 and at most `max` (a change log may hold prices up to `Money::MAX`, set
/// before `MAX_PRICE` was lowered: a mirror takes those too).
fn price_within(value: Money, max: Money) -> Result<(), ShopError> {
    if value <= Money(0) {
        return Err(invalid(format!("price must be greater than 0, got {value}")));
    }
    if value > max {
        return Err(invalid(format!("price must be at most {max}, got {value}")));
    }
    Ok(())
}

pub fn quantity(value: u32) -> Result<(), ShopError> {
    if value == 0 || value > MAX_QUANTITY {
        return Err(invalid(format!("quantity must be between 1 and {MAX_QUANTITY}, got {value}")));
    }
    Ok(())
}

pub fn new_product(product: &NewProduct) -> Result<(), ShopError> {
    text("name", &product.name, MAX_NAME, false)?;
    text("description", &product.description, MAX_DESCRIPTION, true)?;
    text("category", &product.category, MAX_CATEGORY, false)?;
    price(product.price)
}

/// An empty patch is valid and changes nothing (the product is answered as it is).
pub fn product_patch(patch: &ProductPatch) -> Result<(), ShopError> {
    if let Some(name) = &patch.name {
        text("name", name, MAX_NAME, false)?;
    }
    if let Some(description) = &patch.description {
        text("description", description, MAX_DESCRIPTION, true)?;
    }
    if let Some(category) = &patch.category {
        text("category", category, MAX_CATEGORY, false)?;
    }
    patch.price.map_or(Ok(()), price)
}

pub fn new_order(order: &NewOrder) -> Result<(), ShopError> {
    id("userId", order.user_id)?;
    if order.items.is_empty() {
        return Err(invalid("an order needs at least one item"));
    }
    if order.items.len() > MAX_ORDER_LINES {
        return Err(invalid(format!("an order has at most {MAX_ORDER_LINES} items")));
    }
    for (i, item) in order.items.iter().enumerate() {
        id(&format!("items[{i}].productId"), item.product_id)?;
        quantity(item.quantity).map_err(|e| invalid(format!("items[{i}]: {e}")))?;
    }
    Ok(())
}

pub fn cart_add(user_id: u64, add: &CartAdd) -> Result<(), ShopError> {
    id("userId", user_id)?;
    id("productId", add.product_id)?;
    quantity(add.quantity)
}

/// Could a primary have logged `change`? A mirror applies nothing else (`replica`): an id past
/// [`MAX_ID`], a quantity past [`MAX_QUANTITY`] or an order whose totals are not its lines'
/// would be stored as they come and break the shop's rules once the mirror is promoted (a cart
/// holding 4,294,967,295 of a product overflows the next add), and a price of 0 or a quantity
/// of 0 would reach the database's checks and fail as a store failure (500). Text lengths are not
/// checked: those rules may change between versions, and no stored text breaks the store.
/// A logged change as a primary logs it: a seq from 1, a time, and a change it could make.
pub fn logged(logged: &LoggedChange) -> Result<(), ShopError> {
    id("seq", logged.seq)?;
    if logged.at_ms > MAX_ID {
        return Err(invalid(format!("atMs must be at most {MAX_ID}, got {}", logged.at_ms)));
    }
    logged_change(&logged.change)
}

pub fn logged_change(change: &Change) -> Result<(), ShopError> {
    match change {
        Change::PutProduct { product } => {
            id("product id", product.id)?;
            price_within(product.price, Money::MAX)
        }
        Change::DeleteProduct { id: product } => id("product id", *product),
        Change::PlaceOrder { order } => logged_order(order),
        Change::SetCartItem { user_id, product_id, quantity: q } => {
            id("userId", *user_id)?;
            id("productId", *product_id)?;
            quantity(*q)
        }
        Change::RemoveCartItem { user_id, product_id } => {
            id("userId", *user_id)?;
            id("productId", *product_id)
        }
    }
}

/// An order as `place_order` stores it: real ids, at least one line, each line's total its
/// price times its quantity, and the order's total their sum.
fn logged_order(order: &Order) -> Result<(), ShopError> {
    id("order id", order.id)?;
    id("userId", order.user_id)?;
    if order.items.is_empty() {
        return Err(invalid("an order needs at least one line"));
    }
    let mut total = Money(0);
    for (i, line) in order.items.iter().enumerate() {
        id(&format!("items[{i}].productId"), line.product_id)?;
        // One line holds every line of the order that named its product: up to 100 × 10,000.
        let most = MAX_QUANTITY * MAX_ORDER_LINES as u32;
        if line.quantity == 0 || line.quantity > most {
            return Err(invalid(format!(
                "items[{i}]: quantity must be between 1 and {most}, got {}",
                line.quantity
            )));
        }
        price_within(line.unit_price, Money::MAX)
            .map_err(|e| invalid(format!("items[{i}]: unit {e}")))?;
        if line.unit_price.checked_mul(line.quantity) != Some(line.line_total) {
            return Err(invalid(format!("items[{i}]: lineTotal is not unitPrice × quantity")));
        }
        total = total.checked_add(line.line_total).unwrap_or(Money::MAX);
    }
    if order.total != total || total > Money::MAX {
        return Err(invalid("the order's total is not the sum of its lines"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::shop::OrderItem;

    fn product(name: &str, cents: i64) -> NewProduct {
        NewProduct {
            name: name.into(),
            description: String::new(),
            price: Money(cents),
            category: "c".into(),
            in_stock: true,
        }
    }

    #[test]
    fn products_need_a_name_and_a_positive_price() {
        assert!(new_product(&product("Tablet", 29_999)).is_ok());
        assert!(new_product(&product("  ", 100)).is_err());
        assert!(new_product(&product("\u{3000}\t", 100)).is_err());
        assert!(
            new_product(&product("\u{85}", 100)).is_ok(),
            "not white space to JSON Schema's \\S"
        );
        assert!(new_product(&product("x", 0)).is_err());
        assert!(new_product(&product("x", -1)).is_err());
    }

    #[test]
    fn orders_need_items_with_positive_quantities() {
        let order =
            |quantity| NewOrder { user_id: 1, items: vec![OrderItem { product_id: 1, quantity }] };
        assert!(new_order(&order(2)).is_ok());
        assert!(new_order(&order(0)).unwrap_err().to_string().contains("items[0]"));
        assert!(new_order(&NewOrder { user_id: 1, items: vec![] }).is_err());
        assert!(new_order(&NewOrder { user_id: 0, ..order(1) }).is_err());
    }

    #[test]
    fn a_mirror_takes_what_a_primary_of_any_version_logged() {
        let product = shared::shop::Product {
            id: 1,
            name: "Old and dear".into(),
            description: String::new(),
            price: Money(1_029_999), // above MAX_PRICE: set before it was lowered
            category: "c".into(),
            in_stock: true,
        };
        assert!(logged_change(&Change::PutProduct { product: product.clone() }).is_ok());
        let line = |quantity: u32| shared::shop::OrderLine {
            product_id: 1,
            name: "x".into(),
            quantity,
            unit_price: Money(100),
            line_total: Money(100 * i64::from(quantity)),
        };
        let order = |quantity| Order {
            id: 1,
            user_id: 1,
            items: vec![line(quantity)],
            total: Money(100 * i64::from(quantity)),
            status: "confirmed".into(),
            created_at: 1,
        };
        // Two order lines of 10,000 of one product are one stored line of 20,000.
        assert!(logged_change(&Change::PlaceOrder { order: order(20_000) }).is_ok());
        assert!(logged_change(&Change::PlaceOrder { order: order(1_000_001) }).is_err());
        let too_dear = shared::shop::Product { price: Money(Money::MAX.0 + 1), ..product };
        assert!(logged_change(&Change::PutProduct { product: too_dear }).is_err());
    }

    #[test]
    fn an_empty_patch_is_valid() {
        assert!(product_patch(&ProductPatch::default()).is_ok());
        assert!(
            product_patch(&ProductPatch { name: Some(" ".into()), ..Default::default() }).is_err()
        );
        assert!(
            product_patch(&ProductPatch { in_stock: Some(false), ..Default::default() }).is_ok()
        );
    }
}
