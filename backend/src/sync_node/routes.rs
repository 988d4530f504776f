//! A sync node's HTTP routes: the original project's, in its own shapes (`/`, `/get_data`,
//! `/add_name`, `/get_load`, `/switch_to_crdt_only`, `/prepare`, `/accept`, `/data_transfer`),
//! plus what peers and the dashboard use (`/paxos`, `/crdt/state`, `/crdt/merge`, `/paxos/log`,
//! `/paxos/status`, `/switch_to_normal`), and the highest number read linearizably or locally
//! (`/highest`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::sync::{
    AcceptAnswer, AcceptRequest, Added, HighestRead, LoadInfo, NodeData, NodeInfo, PaxosLogEntry,
    PaxosStatus, PersonRecord, PrepareAnswer, PrepareRequest, ReadConsistency, Switched, SyncMode,
    Transferred,
};
use shared::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{NodeError, OriginalError};
use super::node::{parse_update, CrdtState, SyncNode};
use super::paxos::Message;
use crate::service::{ApiJson, ApiQuery};

pub fn router() -> OpenApiRouter<SyncNode> {
    // Switching modes by hand: no foreign page may.
    let switches = crate::service::lab_only(
        OpenApiRouter::new().routes(routes!(switch_to_crdt_only)).routes(routes!(switch_to_normal)),
    );
    // The original's acceptor: any client (its own tests), but no foreign page.
    let acceptor = crate::service::lab_only(
        OpenApiRouter::new().routes(routes!(prepare)).routes(routes!(accept)),
    );
    // What only the lab's nodes send each other.
    let peers = crate::service::peer_only(
        OpenApiRouter::new().routes(routes!(paxos)).routes(routes!(crdt_merge)),
    );
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(get_data))
        .routes(routes!(highest))
        .routes(routes!(add_name))
        .routes(routes!(get_load))
        .merge(switches)
        .routes(routes!(data_transfer))
        .routes(routes!(paxos_log))
        .routes(routes!(paxos_status))
        .routes(routes!(crdt_state))
        .merge(acceptor)
        .merge(peers)
}

/// For a browser (`Accept: text/html`): the node's own page — active nodes, persons, the
/// highest number, add a person, save a number, sync — live over Socket.IO, with nothing
/// fetched from outside the node. Otherwise the node's name, id, address, port, peers and mode.
#[utoipa::path(get, path = "/", tag = "sync-node", responses(
    (status = 200, description = "JSON for API clients; the node's page for Accept: text/html", body = NodeInfo,
     content_type = "application/json"),
))]
async fn info(State(node): State<SyncNode>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let config = node.config();
    let vary = [(header::VARY, "accept")];
    if wants_html {
        return (vary, Html(super::page::render(&config.name, config.port))).into_response();
    }
    let info = NodeInfo {
        node: config.name.clone(),
        id: config.id,
        address: config.bind.clone(),
        port: config.port,
        peers: config.peers.iter().map(|(_, url)| url.clone()).collect(),
        mode: node.mode(),
    };
    (vary, ApiJson(info)).into_response()
}

/// Every person: `data` is the original's list (each name with the node's highest number);
/// `persons`, `highestNumber` and `mode` are the lab's. The highest number here is a *local*
/// read, stale-allowed: what this node holds, which may lag a number already agreed (a
/// linearizable read is `GET /highest`).
#[utoipa::path(get, path = "/get_data", tag = "sync-node", responses((status = 200, body = NodeData)))]
async fn get_data(State(node): State<SyncNode>) -> ApiJson<NodeData> {
    node.hit();
    ApiJson(node.data())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HighestQuery {
    /// `linearizable` (the default): at least every number agreed before the request, confirmed
    /// by a majority; `local`: what this node holds, at once (may be stale).
    #[param(inline)]
    read: Option<ReadConsistency>,
}

/// The highest number, read linearizably (by default: Paxos's ReadIndex — a majority confirms
/// the leader, and this node waits until its log reaches the leader's) or locally (`read=local`,
/// what `/get_data` answers). In CRDT-only mode Paxos is bypassed and the answer is the local
/// value whatever was asked: `"read": "local"`, with the `reason`.
#[utoipa::path(get, path = "/highest", tag = "sync-node", params(HighestQuery), responses(
    (status = 200, body = HighestRead),
    (status = 400, description = "`read` is neither `linearizable` nor `local`, or an unknown parameter", body = ErrorBody),
    (status = 503, description = "A linearizable read found no majority within 2 s (a partition, peers down)", body = OriginalError),
))]
async fn highest(
    State(node): State<SyncNode>,
    ApiQuery(query): ApiQuery<HighestQuery>,
) -> Result<ApiJson<HighestRead>, NodeError> {
    node.hit();
    Ok(ApiJson(node.read_highest(query.read.unwrap_or_default()).await?))
}

/// Add a person: `{"name": "abcd"}` (the original's), or with an account number,
/// `{"name": "ana", "number": 7}`.
#[utoipa::path(post, path = "/add_name", tag = "sync-node", request_body = PersonRecord, responses(
    (status = 200, body = Added),
    (status = 400, description = "No name, or a bad number", body = OriginalError),
    (status = 500, description = "The node's database failed", body = OriginalError),
))]
async fn add_name(
    State(node): State<SyncNode>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<ApiJson<Added>, NodeError> {
    node.hit();
    let named = body.get("name").and_then(|n| n.as_str()).is_some_and(|n| !n.trim().is_empty());
    if !named {
        return Err(NodeError::NameRequired);
    }
    let update = parse_update(&body).map_err(NodeError::BadRequest)?;
    let name = update.name.ok_or(NodeError::NameRequired)?;
    Ok(ApiJson(node.add(PersonRecord { name, number: update.number }).await?))
}

/// The load: requests in the current window (`load`, the original's field), thresholds, mode.
#[utoipa::path(get, path = "/get_load", tag = "sync-node", responses((status = 200, body = LoadInfo)))]
async fn get_load(State(node): State<SyncNode>) -> ApiJson<LoadInfo> {
    ApiJson(node.load_info())
}

fn switched(load: LoadInfo) -> ApiJson<Switched> {
    let crdt_only = load.mode == SyncMode::CrdtOnly;
    let message = if crdt_only { "Switched to CRDT only" } else { "Switched to CRDT + Paxos" };
    ApiJson(Switched { message: message.to_owned(), load_increased: crdt_only, load })
}

/// Force CRDT-only for both fields (load no longer switches back).
#[utoipa::path(post, path = "/switch_to_crdt_only", tag = "sync-node", responses(
    (status = 200, body = Switched),
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
))]
async fn switch_to_crdt_only(State(node): State<SyncNode>) -> ApiJson<Switched> {
    switched(node.force_crdt_only(true))
}

/// Release the force: CRDT + Paxos again, and load decides from now on.
#[utoipa::path(post, path = "/switch_to_normal", tag = "sync-node", responses(
    (status = 200, body = Switched),
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
))]
async fn switch_to_normal(State(node): State<SyncNode>) -> ApiJson<Switched> {
    switched(node.force_crdt_only(false))
}

/// The original's manual pull: fetch every peer's state now, merge, answer `Done` with the
/// result.
#[utoipa::path(get, path = "/data_transfer", tag = "sync-node", responses((status = 200, body = Transferred)))]
async fn data_transfer(State(node): State<SyncNode>) -> ApiJson<Transferred> {
    let peers_reached = node.pull_peers().await;
    ApiJson(Transferred { message: "Done".to_owned(), peers_reached, node_data: node.data() })
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

/// The largest proposal number the original's acceptor takes (what every JSON client holds
/// exactly).
const MAX_PROPOSAL: u64 = 1 << 53;

fn bounded(proposal_number: u64) -> Result<u64, NodeError> {
    if proposal_number > MAX_PROPOSAL {
        return Err(NodeError::BadRequest(format!(
            "proposal_number must be at most {MAX_PROPOSAL}"
        )));
    }
    Ok(proposal_number)
}

/// What `/prepare` and `/accept` take: the original's body, or (as before) one of the lab's own
/// peer messages.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AcceptorRequest<T> {
    Original(T),
    Peer(Envelope),
}

fn read_acceptor_request<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
    expected: &str,
) -> Result<AcceptorRequest<T>, NodeError> {
    serde_json::from_value(body).map_err(|_| {
        NodeError::BadRequest(format!(
            "expected {expected} (the original's single-decree acceptor), or a peer message \
             {{\"from\": <node id>, \"message\": ...}}"
        ))
    })
}

/// The original's single-decree acceptor, phase 1: promise not to accept proposals below
/// `proposal_number` if it is above every number promised so far; report what was accepted.
#[utoipa::path(post, path = "/prepare", tag = "sync-node", request_body = PrepareRequest, responses(
    (status = 200, body = PrepareAnswer),
    (status = 400, description = "Neither body shape", body = OriginalError),
    (status = 500, description = "The node's database failed", body = OriginalError),
))]
async fn prepare(
    State(node): State<SyncNode>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, NodeError> {
    match read_acceptor_request::<PrepareRequest>(body, "{\"proposal_number\": N}")? {
        AcceptorRequest::Original(PrepareRequest { proposal_number }) => {
            let proposal_number = bounded(proposal_number)?;
            let (promise, promised_proposal) = node.original_prepare(proposal_number).await?;
            let (accepted_proposal, accepted_value) = promise.accepted.unzip();
            let answer = PrepareAnswer {
                promised: promise.promised,
                accepted_proposal,
                accepted_value,
                promised_proposal,
            };
            Ok(ApiJson(answer).into_response())
        }
        AcceptorRequest::Peer(envelope) => {
            Ok(paxos(State(node), ApiJson(envelope)).await.into_response())
        }
    }
}

/// The original's single-decree acceptor, phase 2: accept `value` unless a proposal above
/// `proposal_number` was promised. An accepted account number also raises the node's highest
/// number.
#[utoipa::path(post, path = "/accept", tag = "sync-node", request_body = AcceptRequest, responses(
    (status = 200, body = AcceptAnswer),
    (status = 400, description = "Neither body shape", body = OriginalError),
    (status = 500, description = "The node's database failed", body = OriginalError),
))]
async fn accept(
    State(node): State<SyncNode>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, NodeError> {
    match read_acceptor_request::<AcceptRequest>(body, "{\"proposal_number\": N, \"value\": V}")? {
        AcceptorRequest::Original(AcceptRequest { value: serde_json::Value::Null, .. }) => {
            Err(NodeError::BadRequest(
                "value is required: {\"proposal_number\": N, \"value\": V}".into(),
            ))
        }
        AcceptorRequest::Original(AcceptRequest { proposal_number, value }) => {
            let proposal_number = bounded(proposal_number)?;
            let (accepted, promised_proposal) =
                node.original_accept(proposal_number, value).await?;
            Ok(ApiJson(AcceptAnswer { accepted, promised_proposal }).into_response())
        }
        AcceptorRequest::Peer(envelope) => {
            Ok(paxos(State(node), ApiJson(envelope)).await.into_response())
        }
    }
}

/// Paxos messages from a peer: `{"from": 2, "message": {...}}` (one) or
/// `{"from": 2, "messages": [...]}` (a batch).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Envelope {
    /// The sending node's id.
    from: u64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    messages: Vec<Message>,
}

/// The lab's own Multi-Paxos messages from a peer node; answers this node's replies.
#[utoipa::path(post, path = "/paxos", tag = "sync-node", request_body = Envelope, responses(
    (status = 200, description = "This node's replies", body = [Message]),
))]
async fn paxos(
    State(node): State<SyncNode>,
    ApiJson(envelope): ApiJson<Envelope>,
) -> ApiJson<Vec<Message>> {
    let mut messages = envelope.messages;
    messages.extend(envelope.message);
    ApiJson(node.receive(envelope.from, messages).await)
}

/// This node's CRDT state (persons as an add-wins set, the highest number as a max register):
/// what peers pull for anti-entropy.
#[utoipa::path(get, path = "/crdt/state", tag = "sync-node", responses((status = 200, body = CrdtState)))]
async fn crdt_state(State(node): State<SyncNode>) -> ApiJson<CrdtState> {
    ApiJson(node.crdt_state())
}

/// `POST /crdt/merge`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Merged {
    /// Whether the merge changed this node's state.
    changed: bool,
}

/// Merge a peer's CRDT state into this node's.
#[utoipa::path(post, path = "/crdt/merge", tag = "sync-node", request_body = CrdtState, responses(
    (status = 200, body = Merged),
    (status = 500, description = "The node's database failed", body = OriginalError),
))]
async fn crdt_merge(
    State(node): State<SyncNode>,
    ApiJson(state): ApiJson<CrdtState>,
) -> Result<ApiJson<Merged>, NodeError> {
    let changed = node.merge(state).await?;
    Ok(ApiJson(Merged { changed }))
}
