//! An uncontrolled text field: the page sets its text when it first shows and whenever `initial`
//! changes, and never otherwise; the form that renders it hands it a [`NodeRef`] (`node`) and
//! reads the text through that at submit ([`crate::dom::text`]).
//!
//! A controlled field (`value={state}`) does not work for forms here: on every re-render Yew
//! writes the rendered value into the field when the two differ, and a re-render driven by
//! something else (a poll every second or two) can run with a state older than the last
//! keystrokes — wiping what was just typed before the submit reads it.

use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct FieldProps {
    /// The input's id (for its label, the stylesheet and the browser tests; forms read the field
    /// through `node`, not by id).
    pub id: AttrValue,
    /// What the field is, for people who cannot see the page: its accessible name
    /// (`aria-label`). Required, so that no field goes unnamed.
    pub label: AttrValue,
    /// The form's handle on the input, to read it at submit; a field nobody reads needs none.
    #[prop_or_default]
    pub node: Option<NodeRef>,
    #[prop_or_default]
    pub class: Classes,
    #[prop_or_default]
    pub placeholder: AttrValue,
    /// The text it shows first, and again whenever this changes.
    #[prop_or_default]
    pub initial: AttrValue,
    /// The input's `type` (`text` if empty).
    #[prop_or_default]
    pub kind: AttrValue,
    #[prop_or_default]
    pub min: Option<AttrValue>,
    /// Called with the text when the user commits a change (enter, or leaving the field).
    #[prop_or_default]
    pub onchange: Option<Callback<String>>,
}

#[function_component(Field)]
pub fn field(props: &FieldProps) -> Html {
    let own = use_node_ref();
    let node = props.node.clone().unwrap_or(own);
    {
        let node = node.clone();
        use_effect_with(props.initial.clone(), move |initial| {
            if let Some(input) = node.cast::<HtmlInputElement>() {
                input.set_value(initial);
            }
        });
    }
    let onchange = props.onchange.clone().map(|emit| {
        Callback::from(move |e: Event| {
            emit.emit(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    });
    let kind = if props.kind.is_empty() { AttrValue::Static("text") } else { props.kind.clone() };
    html! {
        <input ref={node} id={props.id.clone()} aria-label={props.label.clone()} type={kind} min={props.min.clone()} class={props.class.clone()}
            placeholder={props.placeholder.clone()} {onchange} />
    }
}
