//! The lab's dashboard: a Yew app compiled to wasm and served by the control plane (:8080).
//!
//! - `route` — one `Route` per page; `app` — the page frame that switches on it;
//! - `api` — the only module that talks HTTP (gloo-net);
//! - `state` — page state as pure reducers (unit-tested natively);
//! - `pages/`, `components/` — one component per file.

mod api;
mod app;
mod components;
mod dom;
mod pages;
mod route;
mod state;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
