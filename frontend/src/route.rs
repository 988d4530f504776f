//! The dashboard's routes: one [`Route`] per page. A module of its own so that the app (which
//! switches on it) and the navigation (which links to it) both depend on it, not on each other.

use yew_router::prelude::*;

/// A page of the dashboard, by its path.
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
    #[at("/runs")]
    Runs,
    #[not_found]
    #[at("/404")]
    NotFound,
}

impl Route {
    /// The pages in the navigation, in order, with their titles.
    pub const PAGES: [(Route, &'static str); 6] = [
        (Route::Overview, "Overview"),
        (Route::Models, "Models"),
        (Route::Shop, "Shop"),
        (Route::Replication, "Replication"),
        (Route::Sync, "Sync nodes"),
        (Route::Runs, "Runs"),
    ];
}
