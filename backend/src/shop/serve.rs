//! Starting a shop server (`lab serve shop`) and a store process (`lab serve store`).

use std::path::PathBuf;

use crate::service::{process, CommonArgs, EventBus};

use super::ShopStore;

/// `lab serve shop`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The SQLite file; servers given the same file share the shop.
    #[arg(long, env = "LAB_SHOP_DB", default_value = "data/shop.sqlite3")]
    pub db: PathBuf,
}

/// Run a shop server (default port 3001) until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let name = args.common.name_or("shop");
    let store = ShopStore::open(&args.db).await?;
    tracing::info!(service = %name, db = %args.db.display(), "shop store open");
    let service = super::service(&name, &store);
    let events = service.events();
    let app = service.into_router(super::routes(store));
    process::serve(args.common.addr(3001), app, events).await
}

/// `lab serve store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, env = "LAB_STORE_DB", default_value = "data/store.sqlite3")]
    pub db: PathBuf,
    /// The role of a new store (a store keeps the role it has, e.g. after a promotion).
    #[arg(long, value_enum, default_value_t = InitialRole::Primary)]
    pub role: InitialRole,
}

/// What a new store starts as (`--role`; the role it reports is `shared::replication::StoreRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitialRole {
    Primary,
    Mirror,
}

/// Run a store process (default port 3011) until Ctrl-C or SIGTERM.
pub async fn serve_store(args: StoreArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let name = args.common.name_or("store");
    let store = ShopStore::open_logged(&args.db).await?;
    store.init_role(args.role == InitialRole::Mirror).await?;
    let state = store.replication_state(true).await?;
    tracing::info!(service = %name, db = %args.db.display(), role = %state.role, seq = state.last_seq, integrity = %state.integrity, "store open");
    let app = super::store_router(&name, store);
    process::serve(args.common.addr(3011), app, EventBus::new(&name)).await
}
