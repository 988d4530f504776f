//! Reading a form's fields at the moment it is submitted.
//!
//! A callback made at render time sees the state of that render: a submit that follows the last
//! keystroke before the next render would read stale text. Submit handlers therefore read the
//! fields themselves, by id.

use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement};

fn element<T: JsCast>(id: &str) -> Option<T> {
    web_sys::window()?.document()?.get_element_by_id(id)?.dyn_into::<T>().ok()
}

/// The current text of the input with this id ("" if there is none).
pub fn input(id: &str) -> String {
    element::<HtmlInputElement>(id).map(|i| i.value()).unwrap_or_default()
}

/// Whether the checkbox with this id is ticked.
pub fn checked(id: &str) -> bool {
    element::<HtmlInputElement>(id).is_some_and(|i| i.checked())
}

/// The value of the selected option of the select with this id.
pub fn selected(id: &str) -> String {
    element::<HtmlSelectElement>(id).map(|s| s.value()).unwrap_or_default()
}
