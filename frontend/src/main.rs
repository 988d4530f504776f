//! The dashboard's bundle: the app of every page but the debugger (see the library's docs).

fn main() {
    yew::Renderer::<frontend::app::App>::new().render();
}
