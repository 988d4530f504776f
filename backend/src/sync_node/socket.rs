//! The node's Socket.IO face (socketioxide: the real Socket.IO v5 protocol, so official clients
//! connect), in the original project's shapes: events `update_data` (a person, a name alone, or
//! a number alone), `get_data`, `get_socket_list`, `get_highest_number`; the node emits
//! `data_updated` (to every client, on every change — local or from a peer), `data`
//! (`{"data": [{"name": ...}, ...], ...}`), `socket_list` (`{"sockets": [ports]}`),
//! `highest_number` (`{"number": N}`), and `error` (to the sender only) for a bad payload.

use serde_json::{json, Value};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;

use shared::sync::{HighestNumber, PersonRecord, SocketList};

use super::error::NodeError;
use super::node::{parse_update_event, SyncNode};

/// Tell the sender (only) why its `event` failed: `{"event": ..., "message": ...}`.
fn error(socket: &SocketRef, event: &str, err: NodeError) {
    let (_, message) = err.reported();
    let _ = socket.emit("error", &json!({ "event": event, "message": message }));
}

/// The Socket.IO layer for `node`, and the handle to emit with.
pub fn layer(node: SyncNode) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::new_layer();
    let on_connect = {
        let node = node.clone();
        move |socket: SocketRef| {
            let node = node.clone();
            async move { register(&socket, node) }
        }
    };

    io.ns("/", on_connect);

    // Every change of the node's data goes to every client, whoever caused it: the latest
    // state, at most once per few milliseconds (a burst of a thousand updates is one send).
    let (relay_io, mut changes) = (io.clone(), node.changes());
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            changes.borrow_and_update();
            if relay_io.sockets().is_empty() {
                continue; // nobody listening: do not build the whole list for no one
            }
            if let Err(err) = relay_io.emit("data_updated", &node.data()).await {
                tracing::debug!(%err, "relaying data_updated");
            }
        }
    });
    (layer, io)
}

/// The event handlers of one connected client.
fn register(socket: &SocketRef, node: SyncNode) {
    tracing::debug!(id = %socket.id, "socket.io client connected");
    let n = node.clone();
    socket.on("update_data", move |socket: SocketRef, TryData(payload): TryData<Value>| {
        let node = n.clone();
        async move {
            node.hit();
            match payload.map_err(|e| format!("bad payload: {e}")).and_then(parse_update_event) {
                Ok(update) => {
                    // Its own task: a burst of events from one client is stored in shared
                    // commits instead of one fsync after another. data_updated reaches every
                    // client through the relay.
                    tokio::spawn(async move {
                        let done = match update.name {
                            Some(name) => node
                                .add(PersonRecord { name, number: update.number })
                                .await
                                .map(drop),
                            None => node.apply(update).await.map(drop),
                        };
                        if let Err(err) = done {
                            error(&socket, "update_data", err.into());
                        }
                    });
                }
                Err(why) => error(&socket, "update_data", NodeError::BadRequest(why)),
            }
        }
    });
    let n = node.clone();
    socket.on("get_data", move |socket: SocketRef| {
        let node = n.clone();
        async move {
            node.hit();
            let _ = socket.emit("data", &node.data());
        }
    });
    let n = node.clone();
    socket.on("get_highest_number", move |socket: SocketRef| {
        let node = n.clone();
        async move {
            node.hit();
            let mode = node.mode();
            let answer = HighestNumber {
                number: node.highest_number(mode),
                node: node.config().name.clone(),
                mode,
            };
            let _ = socket.emit("highest_number", &answer);
        }
    });
    socket.on("get_socket_list", move |socket: SocketRef, io: SocketIo| async move {
        node.hit();
        let clients: Vec<String> = io.sockets().iter().map(|s| s.id.to_string()).collect();
        let sockets = node.reachable_ports().await;
        let _ = socket.emit("socket_list", &SocketList { sockets, clients });
    });
}
