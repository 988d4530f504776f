//! A sync node's HTTP routes: the original project's (`/`, `/get_data`, `/add_name`,
//! `/get_load`, `/switch_to_crdt_only`, `/prepare`, `/accept`, `/data_transfer`) plus what peers
//! and the dashboard use (`/paxos`, `/crdt/state`, `/crdt/merge`, `/paxos/log`, `/paxos/status`,
//! `/switch_to_normal`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::sync::{Added, LoadInfo, NodeData, NodeInfo, PaxosLogEntry, PaxosStatus};
use shared::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::node::{parse_person, CrdtState, SyncNode};
use super::paxos::Message;
use crate::service::{error_response, ApiJson};

pub fn router() -> OpenApiRouter<SyncNode> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(get_data))
        .routes(routes!(add_name))
        .routes(routes!(get_load))
        .routes(routes!(switch_to_crdt_only))
        .routes(routes!(switch_to_normal))
        .routes(routes!(data_transfer))
        .routes(routes!(paxos_log))
        .routes(routes!(paxos_status))
        .route("/prepare", axum::routing::post(paxos))
        .route("/accept", axum::routing::post(paxos))
        .route("/paxos", axum::routing::post(paxos))
        .route("/crdt/state", axum::routing::get(crdt_state))
        .route("/crdt/merge", axum::routing::post(crdt_merge))
}

/// The node: name, id, address, port, peers, mode.
#[utoipa::path(get, path = "/", tag = "sync-node", responses((status = 200, body = NodeInfo)))]
async fn info(State(node): State<SyncNode>) -> ApiJson<NodeInfo> {
    let config = node.config();
    ApiJson(NodeInfo {
        node: config.name.clone(),
        id: config.id,
        address: config.bind.clone(),
        port: config.port,
        peers: config.peers.iter().map(|(_, url)| url.clone()).collect(),
        mode: node.mode(),
    })
}

/// Every person, the highest account number, the mode.
#[utoipa::path(get, path = "/get_data", tag = "sync-node", responses((status = 200, body = NodeData)))]
async fn get_data(State(node): State<SyncNode>) -> ApiJson<NodeData> {
    node.hit();
    ApiJson(node.data())
}

/// Add a person: `{"name": "ana", "number": 7}`.
#[utoipa::path(post, path = "/add_name", tag = "sync-node", request_body = shared::sync::PersonRecord, responses(
    (status = 200, body = Added),
    (status = 400, body = ErrorBody),
))]
async fn add_name(
    State(node): State<SyncNode>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Response {
    node.hit();
    let person = match parse_person(&body) {
        Ok(person) => person,
        Err(why) => return error_response(StatusCode::BAD_REQUEST, why),
    };
    match node.add(person).await {
        Ok(data) => ApiJson(data).into_response(),
        Err(err) => {
            tracing::error!(%err, "adding a person");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "the node's database failed")
        }
    }
}

/// Requests in the current window, thresholds, mode.
#[utoipa::path(get, path = "/get_load", tag = "sync-node", responses((status = 200, body = LoadInfo)))]
async fn get_load(State(node): State<SyncNode>) -> ApiJson<LoadInfo> {
    ApiJson(node.load_info())
}

/// Force CRDT-only for both fields (load no longer switches back).
#[utoipa::path(post, path = "/switch_to_crdt_only", tag = "sync-node", responses((status = 200, body = LoadInfo)))]
async fn switch_to_crdt_only(State(node): State<SyncNode>) -> ApiJson<LoadInfo> {
    ApiJson(node.force_crdt_only(true))
}

/// Release the force: CRDT + Paxos again, and load decides from now on.
#[utoipa::path(post, path = "/switch_to_normal", tag = "sync-node", responses((status = 200, body = LoadInfo)))]
async fn switch_to_normal(State(node): State<SyncNode>) -> ApiJson<LoadInfo> {
    ApiJson(node.force_crdt_only(false))
}

/// The original's manual pull: fetch every peer's state now, merge, answer the result.
#[utoipa::path(get, path = "/data_transfer", tag = "sync-node", responses((status = 200, body = NodeData)))]
async fn data_transfer(State(node): State<SyncNode>) -> ApiJson<NodeData> {
    node.pull_peers().await;
    ApiJson(node.data())
}

/// This node's role in Multi-Paxos (leader, preparing, follower), the leader it knows, how many
/// instances it has seen decided.
#[utoipa::path(get, path = "/paxos/status", tag = "sync-node", responses((status = 200, body = PaxosStatus)))]
async fn paxos_status(State(node): State<SyncNode>) -> ApiJson<PaxosStatus> {
    ApiJson(node.paxos_status())
}

/// The latest Paxos messages this node sent (each message is logged once, by its sender).
#[utoipa::path(get, path = "/paxos/log", tag = "sync-node", responses((status = 200, body = [PaxosLogEntry])))]
async fn paxos_log(State(node): State<SyncNode>) -> ApiJson<Vec<PaxosLogEntry>> {
    ApiJson(node.paxos_log())
}

/// Paxos messages from a peer: `{"from": 2, "message": {...}}` (one, as the original's
/// `/prepare` and `/accept` took them) or `{"from": 2, "messages": [...]}` (a batch).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    from: u64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    messages: Vec<Message>,
}

/// Paxos messages from a peer (`/prepare`, `/accept`, `/paxos`); answers the replies.
async fn paxos(
    State(node): State<SyncNode>,
    ApiJson(envelope): ApiJson<Envelope>,
) -> ApiJson<Vec<Message>> {
    let mut messages = envelope.messages;
    messages.extend(envelope.message);
    ApiJson(node.receive(envelope.from, messages).await)
}

async fn crdt_state(State(node): State<SyncNode>) -> ApiJson<CrdtState> {
    ApiJson(node.crdt_state())
}

async fn crdt_merge(State(node): State<SyncNode>, ApiJson(state): ApiJson<CrdtState>) -> Response {
    match node.merge(state).await {
        Ok(changed) => ApiJson(serde_json::json!({ "changed": changed })).into_response(),
        Err(err) => {
            tracing::error!(%err, "merging");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "the node's database failed")
        }
    }
}
