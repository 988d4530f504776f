//! A user's cart and orders.

use shared::shop::{Cart, PlacedOrder};
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub cart: Option<Cart>,
    pub orders: Vec<PlacedOrder>,
    pub onremove: Callback<u64>,
}

#[function_component(CartPanel)]
pub fn cart_panel(props: &Props) -> Html {
    let cart = props.cart.as_ref();
    html! {
        <div class="columns">
            <div>
                <h3>{ "Cart" }</h3>
                <table id="cart" class="table compact">
                    <tbody>
                        { for cart.into_iter().flat_map(|c| c.items.iter()).map(|line| {
                            let id = line.product_id;
                            html! {
                                <tr>
                                    <td>{ &line.product.name }</td>
                                    <td>{ format!("× {}", line.quantity) }</td>
                                    <td>{ line.line_total.to_string() }</td>
                                    <td><button onclick={props.onremove.reform(move |_: MouseEvent| id)}>{ "Remove" }</button></td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
                <p id="cart-total">{ format!("Total: {}", cart.map(|c| c.total.to_string()).unwrap_or_else(|| "0.00".into())) }</p>
            </div>
            <div>
                <h3>{ "Orders" }</h3>
                <table id="orders" class="table compact">
                    <tbody>
                        { for props.orders.iter().rev().map(|placed| {
                            let o = &placed.order;
                            html! {
                                <tr>
                                    <td>{ format!("#{}", placed.order_id) }</td>
                                    <td>{ o.items.iter().map(|l| format!("{} × {}", l.quantity, l.name)).collect::<Vec<_>>().join(", ") }</td>
                                    <td>{ o.total.to_string() }</td>
                                    <td>{ &o.status }</td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}
