//! Real-browser end-to-end tests: `lab up` as real processes, the built dashboard in headless
//! Chromium through chromedriver. Run by `make test` (feature `e2e`); each page's tests live in
//! a module of their own here, using `support::Lab` and `support::browser::Browser`.

#[path = "../support/mod.rs"]
mod support;

mod accessibility;
mod debugger;
mod models;
mod overview;
mod replication;
mod runs;
mod shop;
mod sync;
mod workshop;
