//! Starting a classifier (`lab serve model`).

use shared::models::Behavior;

use crate::service::{process, CommonArgs};

use super::{Algorithm, Model};

/// `lab serve model`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The name in its answers (`"model":"A"`); defaults to the service name.
    #[arg(long)]
    pub model_name: Option<String>,
    #[arg(long, value_enum, default_value = "random-forest")]
    pub algo: Algorithm,
    /// honest, random, inverted, slow or flapping (also changeable at run time:
    /// `PUT /admin/behavior`).
    #[arg(long, default_value = "honest")]
    pub behavior: Behavior,
}

/// Train, then serve the classifier (default port 5001) until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.common.refuse_bugs()?;
    let name = args.common.name_or("model");
    let service = super::service(&name);
    let model_name = args.model_name.as_deref().unwrap_or(&name);
    let trained = Model::train(model_name, args.algo, args.behavior, service.events())?;
    let events = service.events();
    process::serve(args.common.addr(5001), super::router(service, trained), events).await
}
