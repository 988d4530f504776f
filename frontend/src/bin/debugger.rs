//! The run debugger's bundle, loaded at `/debugger/?run=<id>` (see the library's docs).

fn main() {
    yew::Renderer::<frontend::debugger::Debugger>::new().render();
}
