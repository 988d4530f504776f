//! What every route can answer besides what its handler documents: the plumbing's own answers,
//! added to every operation of a service's OpenAPI document so that the document tells the whole
//! truth (a client generated from it must expect them).
//!
//! - a route with a JSON body: 400 (not JSON), 413 (larger than the body limit), 415 (no
//!   `Content-Type: application/json`), 422 (JSON, but not the fields the route takes) — what
//!   [`super::ApiJson`] answers when axum rejects the body;
//! - a route with path or query parameters: 400 (a parameter that does not parse);
//! - a guarded route (`service::guarded`, `lab_only`, `peer_only`): 403, and the tag `admin` or
//!   `peer` that says who the route is for ([`document_guard`]).

use shared::ErrorBody;

use super::admin::Scope;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

const BODY: [(&str, &str); 4] = [
    ("400", "The body is not JSON"),
    ("413", "The body is larger than the service accepts"),
    ("415", "No `Content-Type: application/json`"),
    ("422", "JSON, but not the fields this route takes"),
];
const PARAMETERS: (&str, &str) = ("400", "A path or query parameter that does not parse");

/// The tag of routes only this machine's clients may call (fault injection, behaviour, roles).
pub const ADMIN_TAG: &str = "admin";
/// The tag of routes the lab's services call on each other (Paxos, CRDT merges).
pub const PEER_TAG: &str = "peer";

/// Document what `service::guarded` (at [`Scope::Admin`]) or `lab_only` / `peer_only` (at
/// [`Scope::Changes`]: only requests that change something) answer: 403 with the reason; and
/// tag the guarded operations with `tag`.
pub fn document_guard(openapi: &mut OpenApi, scope: Scope, tag: Option<&str>) {
    let why = match scope {
        Scope::Admin => {
            "Refused: a client not on this machine, a web page of another origin, or a foreign \
             Host (DNS rebinding); LAB_ADMIN_TOKEN admits a client from anywhere"
        }
        Scope::Changes => {
            "Refused: a web page of another origin, or a foreign Host (DNS rebinding)"
        }
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, true),
            (&mut item.head, true),
            (&mut item.options, true),
            (&mut item.trace, true),
            (&mut item.put, false),
            (&mut item.post, false),
            (&mut item.delete, false),
            (&mut item.patch, false),
        ];
        for (operation, safe) in operations {
            let Some(operation) = operation else { continue };
            if scope == Scope::Changes && safe {
                continue; // the guard lets reads through at this scope
            }
            add_error(operation, "403", why);
            if let Some(tag) = tag {
                let tags = operation.tags.get_or_insert_with(Vec::new);
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
    }
}

/// Add the plumbing's answers to every operation of `openapi`.
pub fn document_plumbing(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .schemas
        .entry("ErrorBody".to_owned())
        .or_insert_with(<ErrorBody as utoipa::PartialSchema>::schema);
    for item in openapi.paths.paths.values_mut() {
        let shared_params = item.parameters.as_ref().is_some_and(|p| has_path_or_query(p));
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            document(operation, shared_params);
        }
    }
}

fn has_path_or_query(parameters: &[utoipa::openapi::path::Parameter]) -> bool {
    parameters.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
}

fn document(operation: &mut Operation, shared_params: bool) {
    let mut answers = Vec::new();
    if operation.request_body.is_some() {
        answers.extend(BODY);
    }
    if shared_params || operation.parameters.as_ref().is_some_and(|p| has_path_or_query(p)) {
        answers.push(PARAMETERS);
    }
    for (status, description) in answers {
        add_error(operation, status, description);
    }
}

/// Document that `operation` may answer `status` with an [`ErrorBody`] (unless it already says
/// what it answers then).
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build(),
        )
    });
}
