//! The lab's dashboard: a Yew app compiled to wasm and served by the control plane (:8080).
//!
//! - `route` — one `Route` per page; `app` — the page frame that switches on it;
//! - `api` — the only module that talks HTTP (gloo-net);
//! - `state` — page state as pure reducers (unit-tested natively), depending on nothing above;
//! - `hooks` — what several pages do alike (polling);
//! - `pages/`, `components/` — one component per file.
//!
//! Layers, top to bottom: `app` → `pages` → `components` → `hooks`, `state`, `api`, `route`.

mod api;
mod app;
mod components;
mod dom;
mod hooks;
mod pages;
mod route;
mod state;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
