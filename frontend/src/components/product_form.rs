//! The form to add a product, or to edit one.

use shared::shop::{Money, Product};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::components::field::Field;

/// What the form produces, checked as far as the page can.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub name: String,
    pub price: Money,
    pub category: String,
    pub description: String,
    pub in_stock: bool,
}

/// The form's inputs, each read through its ref at submit.
#[derive(Debug, Clone)]
struct Fields {
    name: NodeRef,
    price: NodeRef,
    category: NodeRef,
    description: NodeRef,
    in_stock: NodeRef,
}

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    /// The product being edited; `None` for a new one.
    pub editing: Option<Product>,
    pub onsubmit: Callback<ProductDraft>,
    pub oncancel: Callback<()>,
}

#[function_component(ProductForm)]
pub fn product_form(props: &Props) -> Html {
    let in_stock = use_state(|| true);
    let problem = use_state(|| None::<String>);

    {
        // The stock box follows the product being edited (the text fields do by `initial`).
        let in_stock = in_stock.clone();
        use_effect_with(props.editing.clone(), move |editing| {
            in_stock.set(editing.as_ref().is_none_or(|p| p.in_stock));
        });
    }

    // The fields, read at submit.
    let fields = Fields {
        name: use_node_ref(),
        price: use_node_ref(),
        category: use_node_ref(),
        description: use_node_ref(),
        in_stock: use_node_ref(),
    };
    let onsubmit = {
        let problem = problem.clone();
        let submit = props.onsubmit.clone();
        let fields = fields.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let price = crate::dom::text(&fields.price);
            match Money::parse_decimal(price.trim()) {
                Ok(parsed) => {
                    problem.set(None);
                    let category = crate::dom::text(&fields.category);
                    let category = if category.trim().is_empty() {
                        "general".into()
                    } else {
                        category.trim().into()
                    };
                    submit.emit(ProductDraft {
                        name: crate::dom::text(&fields.name).trim().to_owned(),
                        price: parsed,
                        category,
                        description: crate::dom::text(&fields.description),
                        in_stock: crate::dom::checked(&fields.in_stock),
                    });
                }
                Err(why) => problem.set(Some(format!("price: {why}"))),
            }
        })
    };
    let toggle_stock = {
        let in_stock = in_stock.clone();
        Callback::from(move |e: Event| {
            in_stock.set(e.target_unchecked_into::<HtmlInputElement>().checked())
        })
    };
    let editing = props.editing.is_some();
    let initial = |field: fn(&Product) -> String| {
        AttrValue::from(props.editing.as_ref().map(field).unwrap_or_default())
    };
    let cancel = props.oncancel.reform(|_: MouseEvent| ());

    html! {
        <form id="product-form" class="form" {onsubmit}>
            <h2>{ if editing { "Edit product" } else { "Add a product" } }</h2>
            <Field id="product-name" label="product name" placeholder="name" initial={initial(|p| p.name.clone())} node={fields.name} />
            <Field id="product-price" label="price" placeholder="price, e.g. 299.99" initial={initial(|p| p.price.to_string())} node={fields.price} />
            <Field id="product-category" label="category" placeholder="category" initial={initial(|p| p.category.clone())} node={fields.category} />
            <Field id="product-description" label="description" placeholder="description" initial={initial(|p| p.description.clone())} node={fields.description} />
            <label><input id="product-in-stock" ref={fields.in_stock} type="checkbox" checked={*in_stock} onchange={toggle_stock} />{ " in stock" }</label>
            <button id="product-submit" type="submit">{ if editing { "Save" } else { "Add" } }</button>
            if editing { <button type="button" onclick={cancel}>{ "Cancel" }</button> }
            if let Some(problem) = &*problem { <span class="error">{ problem }</span> }
        </form>
    }
}
