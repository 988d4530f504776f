//! The Shop page's state.

use std::collections::BTreeMap;
use std::rc::Rc;

use shared::registry::RegistryStatus;
use shared::shop::{Cart, PlacedOrder, Product};
use yew::Reducible;

use crate::api::Trace;

/// How many requests the page keeps in its log.
pub const LOG_LEN: usize = 40;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShopState {
    pub products: Vec<Product>,
    pub cart: Option<Cart>,
    pub orders: Vec<PlacedOrder>,
    pub registry: Option<RegistryStatus>,
    /// The latest requests first: which server answered each.
    pub log: Vec<Trace>,
    /// Answers counted per server since the page opened (for the chart).
    pub served: BTreeMap<String, u32>,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// The product being edited in the form, if any.
    pub editing: Option<Product>,
}

#[derive(Debug, Clone)]
pub enum ShopAction {
    Products(Vec<Product>),
    Cart(Cart),
    Orders(Vec<PlacedOrder>),
    Registry(RegistryStatus),
    Traced(Trace),
    Failed(String),
    Notice(String),
    Edit(Option<Product>),
}

impl Reducible for ShopState {
    type Action = ShopAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ShopAction::Products(products) => next.products = products,
            ShopAction::Cart(cart) => next.cart = Some(cart),
            ShopAction::Orders(orders) => next.orders = orders,
            ShopAction::Registry(status) => next.registry = Some(status),
            ShopAction::Traced(trace) => {
                if let Some(server) = &trace.server {
                    *next.served.entry(server.clone()).or_default() += 1;
                }
                next.log.insert(0, trace);
                next.log.truncate(LOG_LEN);
            }
            ShopAction::Failed(error) => {
                next.error = Some(error);
                next.notice = None;
            }
            ShopAction::Notice(notice) => {
                next.notice = Some(notice);
                next.error = None;
            }
            ShopAction::Edit(product) => next.editing = product,
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(server: Option<&str>) -> Trace {
        Trace {
            method: "GET",
            path: "/products".into(),
            server: server.map(Into::into),
            status: server.map(|_| 200),
            failed: Vec::new(),
        }
    }

    #[test]
    fn the_log_keeps_the_latest_requests_and_counts_servers() {
        let mut state = Rc::new(ShopState::default());
        for n in 0..LOG_LEN + 5 {
            let server = if n % 3 == 0 { "localhost:3001" } else { "localhost:3002" };
            state = state.reduce(ShopAction::Traced(trace(Some(server))));
        }
        state = state.reduce(ShopAction::Traced(trace(None)));
        assert_eq!(state.log.len(), LOG_LEN);
        assert_eq!(state.log[0].server, None, "newest first");
        assert_eq!(state.served["localhost:3001"], 15);
        assert_eq!(state.served["localhost:3002"], 30);
    }

    #[test]
    fn a_notice_replaces_an_error_and_back() {
        let state = Rc::new(ShopState::default()).reduce(ShopAction::Failed("boom".into()));
        let state = state.reduce(ShopAction::Notice("saved".into()));
        assert_eq!((state.error.as_deref(), state.notice.as_deref()), (None, Some("saved")));
        let state = state.reduce(ShopAction::Failed("again".into()));
        assert_eq!(state.notice, None);
    }
}
