//! The Workshop page's bundle, loaded at `/workshop/` (see the library's docs).

fn main() {
    yew::Renderer::<frontend::workshop::WorkshopPage>::new().render();
}
