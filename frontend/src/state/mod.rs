//! Page state as pure reducers: no I/O, tested natively with `cargo test`. Nothing here depends
//! on a page or a component (they depend on it): what a chart plots is [`series::Series`], here.

pub mod history;
pub mod models;
pub mod replication;
pub mod series;
pub mod services;
pub mod shop;
pub mod sync;
pub mod topology;
pub mod workshop;

#[cfg(test)]
mod tests {
    /// The rule of this module's doc, checked on its sources: no state module reaches up into
    /// the app, the pages, the components or the hooks.
    #[test]
    fn state_depends_on_nothing_above_it() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/state");
        let above: Vec<String> = ["app", "pages", "components", "hooks", "debugger", "workshop::"]
            .iter()
            .map(|m| format!("crate::{m}"))
            .collect();
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for module in &above {
                assert!(!text.contains(module.as_str()), "{} uses {module}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 6, "only {checked} files in {dir}");
    }
}
