//! The lab's dashboard: a Yew app compiled to wasm and served by the control plane (:8080).
//!
//! - `app` — the routes and the page frame;
//! - `api` — the only module that talks HTTP (gloo-net);
//! - `state` — page state as pure reducers (unit-tested natively);
//! - `pages/`, `components/` — one component per file.

mod api;
mod app;
mod components;
mod dom;
mod pages;
mod state;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
