//! The product list, with a button for each thing a user can do to a product.

use shared::shop::Product;
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub products: Vec<Product>,
    pub onedit: Callback<Product>,
    pub ondelete: Callback<u64>,
    pub oncart: Callback<u64>,
    pub onorder: Callback<u64>,
}

#[function_component(ProductTable)]
pub fn product_table(props: &Props) -> Html {
    html! {
        <table id="products" class="table">
            <thead><tr><th>{ "id" }</th><th>{ "name" }</th><th>{ "price" }</th><th>{ "category" }</th><th>{ "stock" }</th><th><span class="visually-hidden">{ "actions" }</span></th></tr></thead>
            <tbody>
                { for props.products.iter().map(|p| {
                    let id = p.id;
                    let edit = { let p = p.clone(); props.onedit.reform(move |_: MouseEvent| p.clone()) };
                    html! {
                        <tr key={id} data-product={id.to_string()}>
                            <td>{ id }</td>
                            <td class="name">{ &p.name }</td>
                            <td class="price">{ p.price.to_string() }</td>
                            <td>{ &p.category }</td>
                            <td>{ if p.in_stock { "in stock" } else { "out of stock" } }</td>
                            <td class="actions">
                                <button onclick={edit}>{ "Edit" }</button>
                                <button class="cart" onclick={props.oncart.reform(move |_: MouseEvent| id)}>{ "+ cart" }</button>
                                <button class="order" onclick={props.onorder.reform(move |_: MouseEvent| id)}>{ "Order 1" }</button>
                                <button class="delete" onclick={props.ondelete.reform(move |_: MouseEvent| id)}>{ "Delete" }</button>
                            </td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}
