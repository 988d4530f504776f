//! The form to add a product, or to edit one.

use shared::shop::{Money, Product};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// What the form produces, checked as far as the page can.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub name: String,
    pub price: Money,
    pub category: String,
    pub description: String,
    pub in_stock: bool,
}

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    /// The product being edited; `None` for a new one.
    pub editing: Option<Product>,
    pub onsubmit: Callback<ProductDraft>,
    pub oncancel: Callback<()>,
}

fn text_field(state: &UseStateHandle<String>) -> Callback<InputEvent> {
    let state = state.clone();
    Callback::from(move |e: InputEvent| {
        state.set(e.target_unchecked_into::<HtmlInputElement>().value())
    })
}

#[function_component(ProductForm)]
pub fn product_form(props: &Props) -> Html {
    let name = use_state(String::new);
    let price = use_state(String::new);
    let category = use_state(String::new);
    let description = use_state(String::new);
    let in_stock = use_state(|| true);
    let problem = use_state(|| None::<String>);

    {
        // Fill the fields from the product being edited (or clear them).
        let fields =
            (name.clone(), price.clone(), category.clone(), description.clone(), in_stock.clone());
        use_effect_with(props.editing.clone(), move |editing| {
            let (name, price, category, description, in_stock) = fields;
            match editing {
                Some(p) => {
                    name.set(p.name.clone());
                    price.set(p.price.to_string());
                    category.set(p.category.clone());
                    description.set(p.description.clone());
                    in_stock.set(p.in_stock);
                }
                None => {
                    name.set(String::new());
                    price.set(String::new());
                    category.set(String::new());
                    description.set(String::new());
                    in_stock.set(true);
                }
            }
        });
    }

    let onsubmit = {
        let problem = problem.clone();
        let submit = props.onsubmit.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let price = crate::dom::input("product-price");
            match Money::parse_decimal(price.trim()) {
                Ok(parsed) => {
                    problem.set(None);
                    let category = crate::dom::input("product-category");
                    let category = if category.trim().is_empty() {
                        "general".into()
                    } else {
                        category.trim().into()
                    };
                    submit.emit(ProductDraft {
                        name: crate::dom::input("product-name").trim().to_owned(),
                        price: parsed,
                        category,
                        description: crate::dom::input("product-description"),
                        in_stock: crate::dom::checked("product-in-stock"),
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
    let cancel = props.oncancel.reform(|_: MouseEvent| ());

    html! {
        <form id="product-form" class="form" {onsubmit}>
            <h3>{ if editing { "Edit product" } else { "Add a product" } }</h3>
            <input id="product-name" placeholder="name" value={(*name).clone()} oninput={text_field(&name)} />
            <input id="product-price" placeholder="price, e.g. 299.99" value={(*price).clone()} oninput={text_field(&price)} />
            <input id="product-category" placeholder="category" value={(*category).clone()} oninput={text_field(&category)} />
            <input id="product-description" placeholder="description" value={(*description).clone()} oninput={text_field(&description)} />
            <label><input id="product-in-stock" type="checkbox" checked={*in_stock} onchange={toggle_stock} />{ " in stock" }</label>
            <button id="product-submit" type="submit">{ if editing { "Save" } else { "Add" } }</button>
            if editing { <button type="button" onclick={cancel}>{ "Cancel" }</button> }
            if let Some(problem) = &*problem { <span class="error">{ problem }</span> }
        </form>
    }
}
