//! The e-commerce API of the workshop's Part B: products, orders and carts.
//!
//! Field names are the workshop's (`userId`, `productId`, `inStock`), so its curl commands work
//! unchanged. Money is exact: [`Money`] holds integer cents and reads/writes JSON numbers with at
//! most two decimals, so `0.1 + 0.2` is `0.3`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of money in cents. On the wire: a JSON number such as `299.99`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = f64, example = 299.99))]
pub struct Money(pub i64);

impl Money {
    /// Largest price or total the shop handles: ten billion units, far from any overflow.
    pub const MAX: Money = Money(1_000_000_000_000);

    /// The amount in cents (`29999` for 299.99).
    pub fn cents(self) -> i64 {
        self.0
    }

    /// Parse a decimal such as `"299.99"`, `"5"` or `"0.1"`; more than two decimals is an error.
    pub fn parse_decimal(text: &str) -> Result<Money, String> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !valid(whole) || !valid(fraction) {
            return Err(format!("{text:?} is not a decimal amount"));
        }
        if fraction.len() > 2 {
            return Err(format!("{text} has more than two decimals (amounts are in cents)"));
        }
        let whole: i64 = whole.parse().map_err(|_| format!("{text} is too large"))?;
        let fraction: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let cents = whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(fraction))
            .filter(|c| *c <= Money::MAX.0)
            .ok_or_else(|| format!("{text} is too large"))?;
        Ok(Money(if negative { -cents } else { cents }))
    }

    /// `quantity` times this amount; `None` on overflow (a line total).
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(quantity)).map(Money)
    }

    /// The sum of two amounts; `None` on overflow (an order total).
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Cents → f64 is exact to the cent for every amount up to `Money::MAX`, and serde_json
        // prints the shortest decimal that reads back as the same f64: `299.99`, never
        // `299.99000000000001`.
        serializer.serialize_f64(self.0 as f64 / 100.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MoneyVisitor;
        impl serde::de::Visitor<'_> for MoneyVisitor {
            type Value = Money;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an amount such as 299.99 (a number with at most two decimals)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Money::parse_decimal(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Money::parse_decimal(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                // `{}` of an f64 is the shortest decimal that reads back as the same f64, i.e.
                // the text the client wrote (299.99), which is then parsed exactly.
                if !v.is_finite() {
                    return Err(E::custom("amount must be a finite number"));
                }
                Money::parse_decimal(&format!("{v}")).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(MoneyVisitor)
    }
}

/// A product of the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Never reused, even after a delete.
    pub id: u64,
    /// What the product is called, as given when created (not blank, at most 200 characters).
    pub name: String,
    /// Free text, at most 2,000 characters; empty when none was given.
    pub description: String,
    /// Its price now; orders keep the price they were placed at.
    pub price: Money,
    /// What `GET /products?category=` filters on; `general` when none was given.
    pub category: String,
    /// Whether it can be ordered: an order with a product out of stock is refused (409).
    pub in_stock: bool,
}

/// `POST /products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProduct {
    /// Not blank, at most 200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200, pattern = r"\S"))]
    pub name: String,
    /// Free text, at most 2,000 characters; empty when left out.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// Above 0, at most 10,000, to the cent.
    #[cfg_attr(feature = "openapi", schema(value_type = f64, exclusive_minimum = 0, maximum = 10_000.0, multiple_of = 0.01))]
    pub price: Money,
    /// Not blank, at most 100 characters.
    #[serde(default = "default_category")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100, pattern = r"\S"))]
    pub category: String,
    /// Whether it can be ordered; `true` when left out.
    #[serde(default = "default_in_stock")]
    pub in_stock: bool,
}

fn default_category() -> String {
    "general".to_owned()
}

fn default_in_stock() -> bool {
    true
}

/// `PUT /products/:id`: a partial update; absent fields keep their value (`{}` changes nothing),
/// given ones follow the rules of [`NewProduct`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductPatch {
    /// A new name (rules of [`NewProduct::name`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::given"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub name: Option<String>,
    /// A new description (at most 2,000 characters).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::given"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false, max_length = 2000))]
    pub description: Option<String>,
    /// A new price (rules of [`NewProduct::price`]); orders already placed keep theirs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::given"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, nullable = false, exclusive_minimum = 0, maximum = 10_000.0, multiple_of = 0.01))]
    pub price: Option<Money>,
    /// A new category (rules of [`NewProduct::category`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::given"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub category: Option<String>,
    /// Whether it is in stock from now on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::given"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub in_stock: Option<bool>,
}

/// `GET /products?category=...&inStock=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductFilter {
    /// Only products of this category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only products in stock (`true`) or out of stock (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
}

/// One line of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderItem {
    /// The product ordered (it must exist and be in stock).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
    pub product_id: u64,
    /// How many: 1 to 10,000. The same product on two lines counts as one line of both quantities.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    pub quantity: u32,
}

/// `POST /orders`: `{"userId":1,"items":[{"productId":1,"quantity":2}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOrder {
    /// Whose order: a user id from 1 (the shop has no accounts; any id is a user).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
    pub user_id: u64,
    /// What is ordered: 1 to 100 lines.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub items: Vec<OrderItem>,
}

/// One line of a placed order, priced when it was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The product ordered.
    pub product_id: u64,
    /// The product's name when ordered (the product may be renamed or deleted later).
    pub name: String,
    /// How many were ordered.
    pub quantity: u32,
    /// The product's price when the order was placed.
    pub unit_price: Money,
    /// `unitPrice × quantity`.
    pub line_total: Money,
}

/// A placed order, as the store keeps it and the change log carries it. The routes answer it as
/// a `PlacedOrder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The order's id, from 1, never reused; equal to the workshop's `orderId`.
    pub id: u64,
    /// Whose order it is (`GET /orders/:userId` lists them).
    pub user_id: u64,
    /// Its lines, one per product.
    pub items: Vec<OrderLine>,
    /// The sum of the lines' totals.
    pub total: Money,
    /// `"confirmed"` once stored.
    pub status: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

/// `POST /orders` and each order of `GET /orders/:userId`: the workshop's `orderId` beside the
/// lab's own fields (`id` among them, the same number).
// A type of its own rather than a field of `Order`: the change log, which carries `Order`,
// keeps its format, and a field that must equal `id` is never stored apart from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlacedOrder {
    /// The workshop's name for the order's id: always equal to `id`.
    pub order_id: u64,
    /// The order itself, its fields at the top level.
    #[serde(flatten)]
    pub order: Order,
}

impl From<Order> for PlacedOrder {
    fn from(order: Order) -> Self {
        Self { order_id: order.id, order }
    }
}

/// `POST /cart/:userId`: `{"productId":1,"quantity":1}` (added to what the cart holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CartAdd {
    /// The product to add (it must exist).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
    pub product_id: u64,
    /// How many to add: 1 to 10,000, and the cart's line holds at most 10,000.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
    pub quantity: u32,
}

/// One line of a cart, with the product's current details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product in the cart.
    pub product_id: u64,
    /// How many of it the cart holds.
    pub quantity: u32,
    /// The product as it is now (current name and price).
    pub product: Product,
    /// `product.price × quantity`, at today's price.
    pub line_total: Money,
}

/// `GET /cart/:userId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// Whose cart.
    pub user_id: u64,
    /// Its lines, in the order the products were first added.
    pub items: Vec<CartLine>,
    /// The sum of the lines' totals, at today's prices.
    pub total: Money,
}

/// One line of the workshop's `cart`: which product, and how many of it the cart holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CartEntry {
    /// The product in the cart.
    pub product_id: u64,
    /// How many of it the cart holds.
    pub quantity: u32,
}

/// `POST /cart/:userId` and `DELETE /cart/:userId/item/:productId`: the workshop's
/// `{"cart": [{"productId", "quantity"}, ...]}`, beside the fields of `Cart` (what
/// `GET /cart/:userId` answers: `userId`, `items` with each product's details, `total`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CartUpdate {
    /// The cart's lines, in the same order as `items`.
    pub cart: Vec<CartEntry>,
    /// What `GET /cart/:userId` answers, its fields at the top level.
    #[serde(flatten)]
    pub details: Cart,
}

impl From<Cart> for CartUpdate {
    fn from(details: Cart) -> Self {
        let cart = details
            .items
            .iter()
            .map(|line| CartEntry { product_id: line.product_id, quantity: line.quantity })
            .collect();
        Self { cart, details }
    }
}

/// `DELETE /products/:id`: the workshop's `{"message": "Deleted", "product": {...}}`, and the
/// deleted product's fields at the top level too (`id`, `name`, ...), which is what the lab
/// answered before it took the workshop's shape: clients of either shape keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeletedProduct {
    /// Always `"Deleted"` (`DeletedProduct::MESSAGE`).
    pub message: String,
    /// The product as it was when deleted.
    pub product: Product,
    /// The same product, its fields beside `message` and `product`.
    #[serde(flatten)]
    pub fields: Product,
}

impl DeletedProduct {
    /// The workshop's `message`.
    pub const MESSAGE: &str = "Deleted";
}

impl From<Product> for DeletedProduct {
    fn from(product: Product) -> Self {
        Self { message: Self::MESSAGE.to_owned(), fields: product.clone(), product }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_what_the_client_wrote() {
        let read = |json: &str| serde_json::from_str::<Money>(json);
        assert_eq!(read("299.99").unwrap(), Money(29_999));
        assert_eq!(read("0.1").unwrap(), Money(10));
        assert_eq!(read("5").unwrap(), Money(500));
        assert_eq!(read("1e2").unwrap(), Money(10_000));
        assert!(read("1.234").unwrap_err().to_string().contains("two decimals"));
        assert!(read("\"3\"").is_err());
        assert!(read("1e300").is_err());
    }

    #[test]
    fn money_adds_without_drift() {
        let sum = Money(10).checked_add(Money(20)).unwrap();
        assert_eq!(serde_json::to_string(&sum).unwrap(), "0.3");
        assert_eq!(serde_json::to_string(&Money(29_999)).unwrap(), "299.99");
        assert_eq!(Money(-5).to_string(), "-0.05");
    }

    #[test]
    fn answers_carry_the_workshops_fields_beside_the_labs_and_read_back() {
        let product = Product {
            id: 3,
            name: "Pen".into(),
            description: String::new(),
            price: Money(150),
            category: "office".into(),
            in_stock: true,
        };
        let deleted = serde_json::to_value(DeletedProduct::from(product.clone())).unwrap();
        assert_eq!(
            (&deleted["message"], &deleted["product"]["name"]),
            (&"Deleted".into(), &"Pen".into())
        );
        assert_eq!((&deleted["id"], &deleted["price"]), (&3.into(), &1.5.into()), "{deleted}");
        assert_eq!(serde_json::from_value::<DeletedProduct>(deleted).unwrap().product, product);

        let line = OrderLine {
            product_id: 3,
            name: "Pen".into(),
            quantity: 2,
            unit_price: Money(150),
            line_total: Money(300),
        };
        let order = Order {
            id: 9,
            user_id: 1,
            items: vec![line],
            total: Money(300),
            status: "confirmed".into(),
            created_at: 1,
        };
        let placed = serde_json::to_value(PlacedOrder::from(order.clone())).unwrap();
        assert_eq!(
            (&placed["orderId"], &placed["id"], &placed["userId"]),
            (&9.into(), &9.into(), &1.into())
        );
        assert_eq!(placed["items"][0]["productId"], 3);
        assert_eq!(serde_json::from_value::<PlacedOrder>(placed).unwrap().order, order);

        let cart = Cart {
            user_id: 1,
            items: vec![CartLine { product_id: 3, quantity: 2, product, line_total: Money(300) }],
            total: Money(300),
        };
        let update = serde_json::to_value(CartUpdate::from(cart.clone())).unwrap();
        assert_eq!(update["cart"], serde_json::json!([{"productId": 3, "quantity": 2}]));
        assert_eq!(
            (&update["items"][0]["product"]["name"], &update["total"]),
            (&"Pen".into(), &3.0.into())
        );
        assert_eq!(serde_json::from_value::<CartUpdate>(update).unwrap().details, cart);
    }

    #[test]
    fn product_uses_the_workshops_field_names() {
        let json = r#"{"name":"Tablet","price":299.99,"category":"electronics","inStock":false}"#;
        let new: NewProduct = serde_json::from_str(json).unwrap();
        assert!(!new.in_stock);
        let err = serde_json::from_str::<NewProduct>(r#"{"name":"x","prise":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `prise`"), "{err}");
    }
}
