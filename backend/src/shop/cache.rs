//! `GET /products` answers, serialized once and served until the store changes.
//!
//! The product list is what every shopper asks for first and changes rarely; re-reading and
//! re-serializing it per request is the cost that dominates a busy shop. An answer is kept per
//! filter with the store's change counter (`PRAGMA data_version`) it was read at; any commit by
//! any server — this process or the other shop server — changes the counter, and the next
//! request reads afresh. The counter is read *before* the query, so a write racing with a read
//! makes the next request miss rather than serve stale data.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use shared::shop::ProductFilter;

/// Filters remembered at most (each distinct category is one); past that the cache starts over.
const MAX_ENTRIES: usize = 256;

#[derive(Debug, Default)]
pub struct ProductListCache {
    entries: Mutex<HashMap<ProductFilter, (u64, Bytes)>>,
}

impl ProductListCache {
    /// The answer for `filter` if it was read at `version`.
    pub fn get(&self, filter: &ProductFilter, version: u64) -> Option<Bytes> {
        let entries = self.entries.lock().expect("cache lock poisoned");
        entries.get(filter).filter(|(at, _)| *at == version).map(|(_, body)| body.clone())
    }

    pub fn put(&self, filter: ProductFilter, version: u64, body: Bytes) {
        let mut entries = self.entries.lock().expect("cache lock poisoned");
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&filter) {
            entries.clear();
        }
        entries.insert(filter, (version, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_only_at_the_version_it_was_read() {
        let cache = ProductListCache::default();
        let all = ProductFilter::default();
        cache.put(all.clone(), 7, Bytes::from_static(b"[]"));
        assert_eq!(cache.get(&all, 7).as_deref(), Some(&b"[]"[..]));
        assert_eq!(cache.get(&all, 8), None);
        let office = ProductFilter { category: Some("office".into()), in_stock: None };
        assert_eq!(cache.get(&office, 7), None);
    }
}
