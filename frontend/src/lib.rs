//! The lab's dashboard: Yew apps compiled to wasm and served by the control plane (:8080).
//!
//! Three bundles, three binaries over this one library: the dashboard (`src/main.rs`, [`app`]),
//! the run debugger (`src/bin/debugger.rs`, [`debugger`]), loaded only when a run is opened, and
//! the Workshop page (`src/bin/workshop.rs`, [`workshop`]), so the dashboard's first load
//! carries neither.
//!
//! - `route` — one `Route` per page; `app` — the page frame that switches on it;
//! - `api` — the only module that talks HTTP (gloo-net);
//! - `state` — page state as pure reducers (unit-tested natively), depending on nothing above;
//! - `hooks` — what several pages do alike (polling);
//! - `pages/`, `components/` — one component per file;
//! - `debugger/` — the run debugger's views over one recorded history;
//! - `workshop/` — the workshop's questions as steps, with the evidence each run measured.
//!
//! Layers, top to bottom: `app`, `debugger`, `workshop` → `pages` → `components` → `hooks`,
//! `state`, `api`, `route`.

pub mod api;
pub mod app;
pub mod components;
pub mod debugger;
pub mod dom;
pub mod hooks;
pub mod pages;
pub mod route;
pub mod state;
pub mod workshop;
