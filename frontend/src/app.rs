//! Routes, navigation and the page frame.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::nav::Nav;
use crate::pages::models::ModelsPage;
use crate::pages::overview::Overview;
use crate::pages::replication::ReplicationPage;
use crate::pages::shop::ShopPage;
use crate::pages::sync::SyncPage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Routable)]
pub enum Route {
    #[at("/")]
    Overview,
    #[at("/models")]
    Models,
    #[at("/shop")]
    Shop,
    #[at("/replication")]
    Replication,
    #[at("/sync")]
    Sync,
    #[not_found]
    #[at("/404")]
    NotFound,
}

impl Route {
    /// The pages in the navigation, in order, with their titles.
    pub const PAGES: [(Route, &'static str); 5] = [
        (Route::Overview, "Overview"),
        (Route::Models, "Models"),
        (Route::Shop, "Shop"),
        (Route::Replication, "Replication"),
        (Route::Sync, "Sync nodes"),
    ];
}

fn switch(route: Route) -> Html {
    match route {
        Route::Overview => html! { <Overview /> },
        Route::Models => html! { <ModelsPage /> },
        Route::Shop => html! { <ShopPage /> },
        Route::Replication => html! { <ReplicationPage /> },
        Route::Sync => html! { <SyncPage /> },
        Route::NotFound => html! { <main><h1>{ "Page not found" }</h1></main> },
    }
}

#[function_component(App)]
pub fn app() -> Html {
    html! {
        <BrowserRouter>
            <Nav />
            <Switch<Route> render={switch} />
        </BrowserRouter>
    }
}
