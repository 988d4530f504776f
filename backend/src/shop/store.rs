//! `ShopStore`: products, orders and carts in one SQLite file.
//!
//! Shop servers A and B open the same file, so either can answer any request and a failover
//! loses nothing. Every write is one transaction: it happens whole or not at all. Ids come from
//! `AUTOINCREMENT`, so a deleted product's id is never handed out again.

use crate::service::now_ms;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shared::shop::{
    Cart, CartAdd, CartLine, Money, NewOrder, NewProduct, Order, OrderLine, Product, ProductFilter,
    ProductPatch,
};

use axum::body::Bytes;

use super::cache::ProductListCache;
use super::error::ShopError;
use super::validate::MAX_QUANTITY;
use crate::sqlite::rusqlite::{params, Connection, OptionalExtension, Row};
use shared::replication::{Change, LoggedChange};

type SqlError = crate::sqlite::rusqlite::Error;
use crate::sqlite::{ChangeWatch, Db, DbError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    category    TEXT    NOT NULL,
    in_stock    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS products_by_category ON products (category);
CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders (id),
    line             INTEGER NOT NULL,
    product_id       INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE TABLE IF NOT EXISTS cart_items (
    user_id    INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (user_id, product_id)
);
CREATE TABLE IF NOT EXISTS changelog (
    seq    INTEGER PRIMARY KEY,
    at_ms  INTEGER NOT NULL,
    change TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

const PRODUCT_COLUMNS: &str = "id, name, description, price_cents, category, in_stock";

/// The shop's data, shared by every server that opens the same file. One `Arc`: every request
/// clones the store (axum's `State`), so a clone is one count, not one per part.
#[derive(Debug, Clone)]
pub struct ShopStore(Arc<Parts>);

impl std::ops::Deref for ShopStore {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What a [`ShopStore`] holds.
#[derive(Debug)]
pub struct Parts {
    db: Db,
    /// Notices commits from any connection or process, to know when a cached answer is stale.
    changes: ChangeWatch,
    product_lists: ProductListCache,
    /// Whether writes are logged with a sequence number (a store process that is replicated).
    logged: bool,
    /// A mirror applies its primary's changes only: shop writes are refused.
    mirror: AtomicBool,
}

/// A write's result, and its place in the change log when the store logs changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    pub value: T,
    pub seq: Option<u64>,
}

impl<T> Written<T> {
    /// The same write, its result in another shape (the answer's).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Written<U> {
        Written { value: f(self.value), seq: self.seq }
    }
}

impl ShopStore {
    /// A store shared by shop servers (A and B): no change log.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        Self::open_with(path, false).await
    }

    /// A store process that logs every change, as a primary or a mirror (its role is kept in
    /// the database).
    pub async fn open_logged(path: &Path) -> Result<Self, DbError> {
        Self::open_with(path, true).await
    }

    async fn open_with(path: &Path, logged: bool) -> Result<Self, DbError> {
        let db = Db::open(path, SCHEMA).await?;
        let changes = ChangeWatch::open(path)?;
        let role: Option<String> = db
            .call(|conn| {
                conn.query_row("SELECT value FROM store_meta WHERE key = 'role'", [], |r| r.get(0))
                    .optional()
            })
            .await?;
        let mirror = AtomicBool::new(role.as_deref() == Some("mirror"));
        Ok(Self(Arc::new(Parts {
            db,
            changes,
            product_lists: ProductListCache::default(),
            logged,
            mirror,
        })))
    }

    pub fn is_mirror(&self) -> bool {
        self.mirror.load(Ordering::SeqCst)
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Refuse shop writes on a mirror.
    fn writable(&self) -> Result<bool, ShopError> {
        if self.is_mirror() {
            return Err(ShopError::Conflict(
                "this store is a mirror: it applies its primary's changes only (write through the primary)".into(),
            ));
        }
        Ok(self.logged)
    }

    /// Set the role kept in the database (`primary` or `mirror`).
    pub(crate) async fn set_role(&self, mirror: bool) -> Result<(), DbError> {
        let role = if mirror { "mirror" } else { "primary" };
        // Through the writer thread, like every write (a pooled connection would compete with
        // it for SQLite's lock).
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO store_meta (key, value) VALUES ('role', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [role],
                )
                .map(|_| Ok::<_, std::convert::Infallible>(()))
            })
            .await?;
        self.mirror.store(mirror, Ordering::SeqCst);
        Ok(())
    }

    /// `GET /products` as JSON bytes, from the cache while the store has not changed.
    pub async fn list_products_json(&self, filter: ProductFilter) -> Result<Bytes, ShopError> {
        let version = self.changes.version()?;
        if let Some(body) = self.product_lists.get(&filter, version) {
            return Ok(body);
        }
        let products = self.list_products(filter.clone()).await?;
        let body = Bytes::from(serde_json::to_vec(&products).expect("products serialize"));
        self.product_lists.put(filter, version, body.clone());
        Ok(body)
    }

    /// Can the store be read? (`GET /health`)
    pub async fn ping(&self) -> Result<(), DbError> {
        self.db.call(|conn| conn.query_row("SELECT count(*) FROM products", [], |_| Ok(()))).await
    }

    pub async fn list_products(&self, filter: ProductFilter) -> Result<Vec<Product>, ShopError> {
        Ok(self.db.call(move |conn| list_products(conn, &filter)).await?)
    }

    pub async fn product(&self, id: u64) -> Result<Product, ShopError> {
        self.db.call(move |conn| product(conn, id)).await?.ok_or_else(|| no_product(id))
    }

    pub async fn create_product(&self, new: NewProduct) -> Result<Written<Product>, ShopError> {
        let logged = self.writable()?;
        self.db
            .write(move |tx| {
                let product = Product {
                    id: next_id(tx, "products")?,
                    name: new.name.trim().to_owned(),
                    description: new.description,
                    price: new.price,
                    category: new.category.trim().to_owned(),
                    in_stock: new.in_stock,
                };
                let seq = record(tx, &Change::PutProduct { product: product.clone() }, logged)?;
                Ok(Ok(Written { value: product, seq }))
            })
            .await?
    }

    pub async fn update_product(
        &self,
        id: u64,
        patch: ProductPatch,
    ) -> Result<Written<Product>, ShopError> {
        let logged = self.writable()?;
        self.db
            .write(move |tx| {
                let Some(mut found) = product(tx, id)? else { return Ok(Err(no_product(id))) };
                if let Some(name) = patch.name {
                    found.name = name.trim().to_owned();
                }
                if let Some(description) = patch.description {
                    found.description = description;
                }
                if let Some(price) = patch.price {
                    found.price = price;
                }
                if let Some(category) = patch.category {
                    found.category = category.trim().to_owned();
                }
                if let Some(in_stock) = patch.in_stock {
                    found.in_stock = in_stock;
                }
                let seq = record(tx, &Change::PutProduct { product: found.clone() }, logged)?;
                Ok(Ok(Written { value: found, seq }))
            })
            .await?
    }

    /// Delete a product (and take it out of every cart); returns what was deleted. Orders keep
    /// their own copy of the name and price.
    pub async fn delete_product(&self, id: u64) -> Result<Written<Product>, ShopError> {
        let logged = self.writable()?;
        self.db
            .write(move |tx| {
                let Some(found) = product(tx, id)? else { return Ok(Err(no_product(id))) };
                let seq = record(tx, &Change::DeleteProduct { id }, logged)?;
                Ok(Ok(Written { value: found, seq }))
            })
            .await?
    }

    /// Price and store an order in one transaction: every product must exist and be in stock.
    pub async fn place_order(&self, new: NewOrder) -> Result<Written<Order>, ShopError> {
        let logged = self.writable()?;
        let created_at = now_ms();
        self.db
            .write(move |tx| {
                let mut lines = Vec::<OrderLine>::with_capacity(new.items.len());
                for item in &new.items {
                    // The same product twice in one order is one line with both quantities (at
                    // most 100 lines of at most MAX_QUANTITY each: it fits, and so does its total).
                    if let Some(line) = lines.iter_mut().find(|l| l.product_id == item.product_id) {
                        line.quantity += item.quantity;
                        continue;
                    }
                    let Some(found) = product(tx, item.product_id)? else {
                        return Ok(Err(no_product(item.product_id)));
                    };
                    if !found.in_stock {
                        return Ok(Err(ShopError::Conflict(format!(
                            "product {} ({}) is out of stock",
                            found.id, found.name
                        ))));
                    }
                    lines.push(OrderLine {
                        product_id: found.id,
                        name: found.name,
                        quantity: item.quantity,
                        unit_price: found.price,
                        line_total: Money(0),
                    });
                }
                let mut total = Money(0);
                for line in &mut lines {
                    line.line_total =
                        line.unit_price.checked_mul(line.quantity).unwrap_or(Money::MAX);
                    total = total.checked_add(line.line_total).unwrap_or(Money::MAX);
                }
                if total > Money::MAX {
                    return Ok(Err(ShopError::Invalid("the order's total is too large".into())));
                }
                let order = Order {
                    id: next_id(tx, "orders")?,
                    user_id: new.user_id,
                    items: lines,
                    total,
                    status: "confirmed".to_owned(),
                    created_at,
                };
                let seq = record(tx, &Change::PlaceOrder { order: order.clone() }, logged)?;
                Ok(Ok(Written { value: order, seq }))
            })
            .await?
    }

    /// A user's orders, oldest first.
    pub async fn orders_of(&self, user_id: u64) -> Result<Vec<Order>, ShopError> {
        Ok(self.db.call(move |conn| orders_of(conn, user_id)).await?)
    }

    /// Add `quantity` of a product to a user's cart (on top of what is there).
    pub async fn add_to_cart(
        &self,
        user_id: u64,
        add: CartAdd,
    ) -> Result<Written<Cart>, ShopError> {
        let logged = self.writable()?;
        self.db
            .write(move |tx| {
                if product(tx, add.product_id)?.is_none() {
                    return Ok(Err(no_product(add.product_id)));
                }
                let held: u32 = tx
                    .query_row(
                        "SELECT quantity FROM cart_items WHERE user_id = ?1 AND product_id = ?2",
                        params![user_id as i64, add.product_id as i64],
                        |row| row.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                let quantity = held + add.quantity;
                if quantity > MAX_QUANTITY {
                    // Fine on its own, too many with what the cart holds: a conflict with state.
                    return Ok(Err(ShopError::Conflict(format!(
                        "a cart holds at most {MAX_QUANTITY} of one product (it has {held})"
                    ))));
                }
                let change = Change::SetCartItem { user_id, product_id: add.product_id, quantity };
                let seq = record(tx, &change, logged)?;
                Ok(Ok(Written { value: cart(tx, user_id)?, seq }))
            })
            .await?
    }

    pub async fn cart(&self, user_id: u64) -> Result<Cart, ShopError> {
        Ok(self.db.call(move |conn| cart(conn, user_id)).await?)
    }

    pub async fn remove_from_cart(
        &self,
        user_id: u64,
        product_id: u64,
    ) -> Result<Written<Cart>, ShopError> {
        let logged = self.writable()?;
        self.db
            .write(move |tx| {
                let held = tx
                    .query_row(
                        "SELECT 1 FROM cart_items WHERE user_id = ?1 AND product_id = ?2",
                        params![user_id as i64, product_id as i64],
                        |_| Ok(()),
                    )
                    .optional()?;
                if held.is_none() {
                    return Ok(Err(ShopError::NotFound(format!(
                        "product {product_id} is not in the cart of user {user_id}"
                    ))));
                }
                let seq = record(tx, &Change::RemoveCartItem { user_id, product_id }, logged)?;
                Ok(Ok(Written { value: cart(tx, user_id)?, seq }))
            })
            .await?
    }
}

/// The id AUTOINCREMENT would give next: one past the highest ever used in `table`.
fn next_id(tx: &Connection, table: &str) -> Result<u64, SqlError> {
    let used: Option<i64> = tx
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [table], |r| r.get(0))
        .optional()?;
    Ok(used.unwrap_or(0) as u64 + 1)
}

/// Apply `change`, and log it with the next sequence number when the store logs changes.
fn record(tx: &Connection, change: &Change, logged: bool) -> Result<Option<u64>, SqlError> {
    apply_change(tx, change)?;
    if !logged {
        return Ok(None);
    }
    let seq = last_seq(tx)? + 1;
    append_log(tx, &LoggedChange { seq, at_ms: now_ms(), change: change.clone() })?;
    Ok(Some(seq))
}

pub(crate) fn last_seq(conn: &Connection) -> Result<u64, SqlError> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM changelog", [], |r| r.get::<_, i64>(0))
        .map(|s| s as u64)
}

pub(crate) fn append_log(tx: &Connection, logged: &LoggedChange) -> Result<(), SqlError> {
    let json = serde_json::to_string(&logged.change).expect("changes serialize");
    tx.prepare_cached("INSERT INTO changelog (seq, at_ms, change) VALUES (?1, ?2, ?3)")?
        .execute(params![logged.seq as i64, logged.at_ms as i64, json])?;
    Ok(())
}

/// Make the data what `change` says. Every change is absolute (ids, prices, quantities), so
/// applying it on any store gives the same rows, and applying it twice changes nothing.
pub(crate) fn apply_change(tx: &Connection, change: &Change) -> Result<(), SqlError> {
    match change {
        Change::PutProduct { product: p } => {
            tx.prepare_cached(
                "INSERT INTO products (id, name, description, price_cents, category, in_stock)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
                    price_cents = excluded.price_cents, category = excluded.category, in_stock = excluded.in_stock",
            )?
            .execute(params![p.id as i64, p.name, p.description, p.price.cents(), p.category, p.in_stock])?;
        }
        Change::DeleteProduct { id } => {
            tx.execute("DELETE FROM cart_items WHERE product_id = ?1", [*id as i64])?;
            tx.execute("DELETE FROM products WHERE id = ?1", [*id as i64])?;
        }
        Change::PlaceOrder { order } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO orders (id, user_id, total_cents, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![order.id as i64, order.user_id as i64, order.total.cents(), order.status, order.created_at as i64])?;
            tx.execute("DELETE FROM order_lines WHERE order_id = ?1", [order.id as i64])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO order_lines (order_id, line, product_id, name, quantity, unit_price_cents)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (n, line) in order.items.iter().enumerate() {
                insert.execute(params![
                    order.id as i64,
                    n as i64,
                    line.product_id as i64,
                    line.name,
                    line.quantity,
                    line.unit_price.cents()
                ])?;
            }
        }
        Change::SetCartItem { user_id, product_id, quantity } => {
            tx.prepare_cached(
                "INSERT INTO cart_items (user_id, product_id, quantity) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = excluded.quantity",
            )?
            .execute(params![*user_id as i64, *product_id as i64, quantity])?;
        }
        Change::RemoveCartItem { user_id, product_id } => {
            tx.execute(
                "DELETE FROM cart_items WHERE user_id = ?1 AND product_id = ?2",
                params![*user_id as i64, *product_id as i64],
            )?;
        }
    }
    Ok(())
}

fn no_product(id: u64) -> ShopError {
    ShopError::NotFound(format!("no product with id {id}"))
}

/// A product from the row's columns `first..first + 6`, in `PRODUCT_COLUMNS` order.
fn product_at(row: &Row<'_>, first: usize) -> Result<Product, crate::sqlite::rusqlite::Error> {
    Ok(Product {
        id: row.get::<_, i64>(first)? as u64,
        name: row.get(first + 1)?,
        description: row.get(first + 2)?,
        price: Money(row.get(first + 3)?),
        category: row.get(first + 4)?,
        in_stock: row.get(first + 5)?,
    })
}

fn product_from_row(row: &Row<'_>) -> Result<Product, crate::sqlite::rusqlite::Error> {
    product_at(row, 0)
}

fn product(conn: &Connection, id: u64) -> Result<Option<Product>, crate::sqlite::rusqlite::Error> {
    conn.prepare_cached(&format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"))?
        .query_row([id as i64], product_from_row)
        .optional()
}

fn list_products(
    conn: &Connection,
    filter: &ProductFilter,
) -> Result<Vec<Product>, crate::sqlite::rusqlite::Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products
         WHERE (?1 IS NULL OR category = ?1) AND (?2 IS NULL OR in_stock = ?2)
         ORDER BY id"
    ))?;
    let rows = statement.query_map(params![filter.category, filter.in_stock], product_from_row)?;
    rows.collect()
}

fn orders_of(
    conn: &Connection,
    user_id: u64,
) -> Result<Vec<Order>, crate::sqlite::rusqlite::Error> {
    let mut orders = conn
        .prepare_cached(
            "SELECT id, total_cents, status, created_at FROM orders WHERE user_id = ?1 ORDER BY id",
        )?
        .query_map([user_id as i64], |row| {
            Ok(Order {
                id: row.get::<_, i64>(0)? as u64,
                user_id,
                items: Vec::new(),
                total: Money(row.get(1)?),
                status: row.get(2)?,
                created_at: row.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = conn.prepare_cached(
        "SELECT product_id, name, quantity, unit_price_cents FROM order_lines WHERE order_id = ?1 ORDER BY line",
    )?;
    for order in &mut orders {
        order.items = lines
            .query_map([order.id as i64], |row| {
                let quantity: u32 = row.get(2)?;
                let unit_price = Money(row.get(3)?);
                Ok(OrderLine {
                    product_id: row.get::<_, i64>(0)? as u64,
                    name: row.get(1)?,
                    quantity,
                    unit_price,
                    line_total: unit_price.checked_mul(quantity).unwrap_or(Money::MAX),
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(orders)
}

fn cart(conn: &Connection, user_id: u64) -> Result<Cart, crate::sqlite::rusqlite::Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT c.quantity, {} FROM cart_items c JOIN products p ON p.id = c.product_id
         WHERE c.user_id = ?1 ORDER BY c.rowid",
        PRODUCT_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
    ))?;
    let items = statement
        .query_map([user_id as i64], |row| {
            let quantity: u32 = row.get(0)?;
            let product = product_at(row, 1)?;
            Ok(CartLine {
                product_id: product.id,
                quantity,
                line_total: product.price.checked_mul(quantity).unwrap_or(Money::MAX),
                product,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let total = items
        .iter()
        .fold(Money(0), |sum, line| sum.checked_add(line.line_total).unwrap_or(Money::MAX));
    Ok(Cart { user_id, items, total })
}
