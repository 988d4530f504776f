//! The page frame: the navigation above whichever page the [`Route`] names.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::nav::Nav;
use crate::pages::models::ModelsPage;
use crate::pages::overview::Overview;
use crate::pages::replication::ReplicationPage;
use crate::pages::runs::RunsPage;
use crate::pages::shop::ShopPage;
use crate::pages::sync::SyncPage;
use crate::route::Route;

fn switch(route: Route) -> Html {
    match route {
        Route::Overview => html! { <Overview /> },
        Route::Models => html! { <ModelsPage /> },
        Route::Shop => html! { <ShopPage /> },
        Route::Replication => html! { <ReplicationPage /> },
        Route::Sync => html! { <SyncPage /> },
        Route::Runs => html! { <RunsPage /> },
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
