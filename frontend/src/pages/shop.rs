//! Shop: products, a user's cart and orders — every request resolved through the registry, with
//! which server answered it — and the registry's live health table. Kill shop server A (its PID
//! is on the Overview) and watch requests move to B.

use std::future::Future;
use std::pin::Pin;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shared::shop::{
    Cart, CartAdd, CartUpdate, DeletedProduct, NewOrder, NewProduct, OrderItem, PlacedOrder,
    Product, ProductPatch,
};
use shared::ServiceKind;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api::{self, Method};
use crate::components::bar_chart::BarChart;
use crate::components::cart_panel::CartPanel;
use crate::components::field::Field;
use crate::components::product_form::{ProductDraft, ProductForm};
use crate::components::product_table::ProductTable;
use crate::components::registry_table::RegistryTable;
use crate::components::request_log::RequestLog;
use crate::hooks::use_polled;
use crate::state::shop::{ShopAction, ShopState};

type Dispatch = UseReducerDispatcher<ShopState>;

/// A user action: what to send, given the dispatcher, the registry's URL and the user id.
type ShopAct = Box<dyn FnOnce(Dispatch, String, u64) -> Pin<Box<dyn Future<Output = ()>>>>;

/// Send one shop request, log which server answered, report a failure; `Some` on success.
async fn request<T: DeserializeOwned>(
    dispatch: &Dispatch,
    registry: &str,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Option<T> {
    let (result, trace) = api::shop::<T>(registry, method, path, body).await;
    dispatch.dispatch(ShopAction::Traced(trace));
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            dispatch.dispatch(ShopAction::Failed(err.to_string()));
            None
        }
    }
}

const NO_BODY: Option<&()> = None;

async fn refresh(dispatch: &Dispatch, registry: &str, user: u64) {
    if let Some(products) =
        request::<Vec<Product>>(dispatch, registry, Method::Get, "/products", NO_BODY).await
    {
        dispatch.dispatch(ShopAction::Products(products));
    }
    let cart_path = format!("/cart/{user}");
    if let Some(cart) = request::<Cart>(dispatch, registry, Method::Get, &cart_path, NO_BODY).await
    {
        dispatch.dispatch(ShopAction::Cart(cart));
    }
    let orders_path = format!("/orders/{user}");
    if let Some(orders) =
        request::<Vec<PlacedOrder>>(dispatch, registry, Method::Get, &orders_path, NO_BODY).await
    {
        dispatch.dispatch(ShopAction::Orders(orders));
    }
}

#[function_component(ShopPage)]
pub fn shop_page() -> Html {
    let state = use_reducer_eq(ShopState::default);
    let registry = use_state(|| None::<String>);
    let user = use_state(|| 1u64);

    {
        let (registry, dispatch) = (registry.clone(), state.dispatcher());
        use_effect_with((), move |()| {
            spawn_local(async move {
                match api::service_url(ServiceKind::Registry).await {
                    Ok(url) => registry.set(Some(url)),
                    Err(err) => dispatch.dispatch(ShopAction::Failed(err.to_string())),
                }
            });
        });
    }
    {
        // Once the registry is known (and for each user picked): load the shop.
        let dispatch = state.dispatcher();
        use_effect_with(((*registry).clone(), *user), move |(registry, user)| {
            if let Some(url) = registry.clone() {
                let user = *user;
                spawn_local(async move { refresh(&dispatch, &url, user).await });
            }
        });
    }
    {
        // And poll the registry's health table.
        let dispatch = state.dispatcher();
        use_polled((*registry).clone(), 1_000, move |registry: &Option<String>| {
            if let Some(url) = registry.clone() {
                let dispatch = dispatch.clone();
                spawn_local(async move {
                    match api::registry_status(&url).await {
                        Ok(status) => dispatch.dispatch(ShopAction::Registry(status)),
                        Err(err) => dispatch.dispatch(ShopAction::Failed(err.to_string())),
                    }
                });
            }
        });
    }

    // Run `action` against the registry's shop, then reload products, cart and orders.
    let act = {
        let (registry, dispatch, user) = (registry, state.dispatcher(), *user);
        move |action: ShopAct| {
            let (registry, dispatch) = ((*registry).clone(), dispatch.clone());
            if let Some(registry) = registry {
                spawn_local(async move {
                    action(dispatch.clone(), registry.clone(), user).await;
                    refresh(&dispatch, &registry, user).await;
                });
            }
        }
    };

    let editing = state.editing.clone();
    let onsubmit = {
        let act = act.clone();
        let editing = editing.clone();
        Callback::from(move |draft: ProductDraft| {
            let editing = editing.clone();
            act(Box::new(move |d, r, _| {
                Box::pin(async move {
                    match editing {
                        Some(product) => {
                            let patch = ProductPatch {
                                name: Some(draft.name),
                                description: Some(draft.description),
                                price: Some(draft.price),
                                category: Some(draft.category),
                                in_stock: Some(draft.in_stock),
                            };
                            let path = format!("/products/{}", product.id);
                            if let Some(p) =
                                request::<Product>(&d, &r, Method::Put, &path, Some(&patch)).await
                            {
                                d.dispatch(ShopAction::Notice(format!(
                                    "Saved product {} ({})",
                                    p.id, p.name
                                )));
                                d.dispatch(ShopAction::Edit(None));
                            }
                        }
                        None => {
                            let new = NewProduct {
                                name: draft.name,
                                description: draft.description,
                                price: draft.price,
                                category: draft.category,
                                in_stock: draft.in_stock,
                            };
                            if let Some(p) =
                                request::<Product>(&d, &r, Method::Post, "/products", Some(&new))
                                    .await
                            {
                                d.dispatch(ShopAction::Notice(format!(
                                    "Added product {} ({})",
                                    p.id, p.name
                                )));
                            }
                        }
                    }
                })
            }));
        })
    };
    let oncancel = {
        let dispatch = state.dispatcher();
        Callback::from(move |()| dispatch.dispatch(ShopAction::Edit(None)))
    };
    let onedit = {
        let dispatch = state.dispatcher();
        Callback::from(move |p: Product| dispatch.dispatch(ShopAction::Edit(Some(p))))
    };
    let ondelete = {
        let act = act.clone();
        Callback::from(move |id: u64| {
            act(Box::new(move |d, r, _| {
                Box::pin(async move {
                    let path = format!("/products/{id}");
                    if let Some(deleted) =
                        request::<DeletedProduct>(&d, &r, Method::Delete, &path, NO_BODY).await
                    {
                        let p = deleted.product;
                        d.dispatch(ShopAction::Notice(format!(
                            "Deleted product {} ({})",
                            p.id, p.name
                        )));
                    }
                })
            }));
        })
    };
    let oncart = {
        let act = act.clone();
        Callback::from(move |id: u64| {
            act(Box::new(move |d, r, user| {
                Box::pin(async move {
                    let add = CartAdd { product_id: id, quantity: 1 };
                    let path = format!("/cart/{user}");
                    if request::<CartUpdate>(&d, &r, Method::Post, &path, Some(&add))
                        .await
                        .is_some()
                    {
                        d.dispatch(ShopAction::Notice(format!(
                            "Product {id} added to the cart of user {user}"
                        )));
                    }
                })
            }));
        })
    };
    let onorder = {
        let act = act.clone();
        Callback::from(move |id: u64| {
            act(Box::new(move |d, r, user| {
                Box::pin(async move {
                    let order = NewOrder {
                        user_id: user,
                        items: vec![OrderItem { product_id: id, quantity: 1 }],
                    };
                    if let Some(o) =
                        request::<PlacedOrder>(&d, &r, Method::Post, "/orders", Some(&order)).await
                    {
                        d.dispatch(ShopAction::Notice(format!(
                            "Order #{} placed: {}",
                            o.order_id, o.order.total
                        )));
                    }
                })
            }));
        })
    };
    let onremove = {
        let act = act.clone();
        Callback::from(move |id: u64| {
            act(Box::new(move |d, r, user| {
                Box::pin(async move {
                    let path = format!("/cart/{user}/item/{id}");
                    let _ = request::<CartUpdate>(&d, &r, Method::Delete, &path, NO_BODY).await;
                })
            }));
        })
    };
    let onuser = {
        let user = user.clone();
        Callback::from(move |value: String| {
            if let Ok(id) = value.trim().parse::<u64>() {
                if id > 0 {
                    user.set(id);
                }
            }
        })
    };
    let onreload = {
        let act = act.clone();
        Callback::from(move |_: MouseEvent| act(Box::new(|_, _, _| Box::pin(async {}))))
    };
    let bars: Vec<(String, u32)> = state.served.iter().map(|(s, n)| (s.clone(), *n)).collect();
    // A fresh form per product edited: its fields start from that product, not from what was
    // typed for the previous one.
    let form_key = editing.as_ref().map_or_else(|| "new".to_owned(), |p| p.id.to_string());

    html! {
        <main>
            <h1>{ "Shop" }</h1>
            <p class="summary">{ "Every request asks the registry for a healthy server first; a server that fails is skipped and the request retried on the next." }</p>
            if let Some(error) = &state.error { <p id="shop-error" class="error">{ error }</p> }
            if let Some(notice) = &state.notice { <p id="shop-notice" class="notice">{ notice }</p> }
            <ProductForm key={form_key} editing={editing} {onsubmit} {oncancel} />
            <p><button id="reload" onclick={onreload}>{ "Reload" }</button></p>
            <ProductTable products={state.products.clone()} {onedit} {ondelete} {oncart} {onorder} />
            <h2>
                { "User " }
                <Field id="user-id" label="user id" class="narrow" kind="number" min="1" initial={user.to_string()} onchange={onuser} />
            </h2>
            <CartPanel cart={state.cart.clone()} orders={state.orders.clone()} {onremove} />
            <div class="columns">
                <div>
                    <h2>{ "Registry" }</h2>
                    <RegistryTable status={state.registry.clone()} />
                    <h3>{ "Answers per server" }</h3>
                    <BarChart id="served-chart" {bars} />
                </div>
                <div>
                    <h2>{ "Requests" }</h2>
                    <RequestLog log={state.log.clone()} />
                </div>
            </div>
        </main>
    }
}
