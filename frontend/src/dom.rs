//! Reading a form's fields at the moment it is submitted.
//!
//! A callback made at render time sees the state of that render: a submit that follows the last
//! keystroke before the next render would read stale text. Submit handlers therefore read the
//! fields themselves, through the [`NodeRef`] each field was rendered with (a
//! [`crate::components::field::Field`]'s `node`, an `<input ref=...>`): the form that owns the
//! refs reads its own fields, whatever their ids.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::NodeRef;

/// The current text of the input behind `node` ("" while it is not rendered).
pub fn text(node: &NodeRef) -> String {
    node.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default()
}

/// Whether the checkbox behind `node` is ticked.
pub fn checked(node: &NodeRef) -> bool {
    node.cast::<HtmlInputElement>().is_some_and(|i| i.checked())
}

/// The value of the selected option of the select behind `node`.
pub fn selected(node: &NodeRef) -> String {
    node.cast::<HtmlSelectElement>().map(|s| s.value()).unwrap_or_default()
}
