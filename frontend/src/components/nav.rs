//! The navigation bar: the dashboard's pages, then the Workshop page (a bundle of its own).

use yew::prelude::*;
use yew_router::prelude::*;

use crate::route::Route;

#[function_component(Nav)]
pub fn nav() -> Html {
    let current = use_route::<Route>();
    html! {
        <nav class="nav">
            <span class="brand">{ "distributed lab" }</span>
            { for Route::PAGES.iter().map(|(route, title)| {
                let class = classes!("nav-link", (current == Some(*route)).then_some("active"));
                html! { <Link<Route> to={*route} classes={class}>{ *title }</Link<Route>> }
            }) }
            // A bundle of its own (like the run debugger): a full-page link, not a route.
            <a class="nav-link" href="/workshop/">{ "Workshop" }</a>
        </nav>
    }
}
