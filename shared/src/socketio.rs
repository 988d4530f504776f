//! The Socket.IO v5 / Engine.IO v4 framing over a websocket, as text frames — enough for the
//! dashboard to be a Socket.IO client of the sync nodes without a JavaScript library.
//!
//! An Engine.IO packet is a type digit and a payload: `0` open (the handshake JSON), `1` close,
//! `2` ping, `3` pong, `4` message. A message carries a Socket.IO packet: a type digit, an
//! optional namespace (`/admin,`), an optional ack id, and JSON: `40` connect, `41` disconnect,
//! `42["event", data...]` event, `43` ack, `44` connect error. So an event on the default
//! namespace is the frame `42["data_updated",{...}]`; the server pings (`2`) and the client must
//! answer `3`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The handshake the server opens with (`0{...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The Engine.IO session id the server gave this connection.
    pub sid: String,
    /// Transports the client may upgrade to (empty: already on a websocket).
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// How often the server pings, in milliseconds.
    pub ping_interval: u64,
    /// How long the server waits for the pong before it drops the connection, in milliseconds.
    pub ping_timeout: u64,
    /// The largest message the server accepts, in bytes (0 when it does not say).
    #[serde(default)]
    pub max_payload: u64,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `0{...}`: the server's handshake, first on every connection.
    Open(Handshake),
    /// `1`: the connection is being closed.
    Close,
    /// `2`: the server's ping; answer [`PONG`] or be dropped.
    Ping,
    /// `3`: an answer to a ping.
    Pong,
    /// The server accepted the connection to a namespace.
    Connected {
        /// The namespace (`/` by default).
        namespace: String,
        /// The Socket.IO session id in that namespace, when the server sent one.
        sid: Option<String>,
    },
    /// `41`: the namespace's connection was ended.
    Disconnected {
        /// The namespace (`/` by default).
        namespace: String,
    },
    /// `42["name", args...]`: an event.
    Event {
        /// The namespace (`/` by default).
        namespace: String,
        /// The id the sender wants an ack for (`4212[...]`: 12), if any.
        ack: Option<u64>,
        /// The event's name (`data_updated`).
        name: String,
        /// Its arguments, after the name (usually one object).
        args: Vec<Value>,
    },
    /// `43<id>[args...]`: the answer to an event sent with an ack id.
    Ack {
        /// The namespace (`/` by default).
        namespace: String,
        /// The ack id of the event it answers.
        ack: u64,
        /// What the handler answered.
        args: Vec<Value>,
    },
    /// `44{...}`: the server refused the connection to a namespace.
    ConnectError {
        /// The namespace refused.
        namespace: String,
        /// Why, as the server said it (its `message`, or the raw payload).
        message: String,
    },
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn error(message: impl Into<String>) -> DecodeError {
    DecodeError(message.into())
}

/// The frame that connects to the default namespace.
pub const CONNECT: &str = "40";
/// The answer to a ping.
pub const PONG: &str = "3";

/// `42["name",data]`: an event on the default namespace with one argument.
pub fn event(name: &str, data: &Value) -> String {
    format!("42{}", Value::Array(vec![Value::String(name.to_owned()), data.clone()]))
}

/// `42["name"]`: an event without arguments.
pub fn bare_event(name: &str) -> String {
    format!("42{}", Value::Array(vec![Value::String(name.to_owned())]))
}

/// Split a Socket.IO packet body into (namespace, ack id, JSON rest).
fn split(body: &str) -> (String, Option<u64>, &str) {
    let (namespace, rest) = match body.strip_prefix('/') {
        Some(after) => match after.split_once(',') {
            Some((ns, rest)) => (format!("/{ns}"), rest),
            None => (format!("/{after}"), ""),
        },
        None => ("/".to_owned(), body),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = rest[..digits].parse().ok();
    (namespace, ack, &rest[digits..])
}

/// Read one websocket text frame.
pub fn decode(frame: &str) -> Result<Frame, DecodeError> {
    let mut chars = frame.chars();
    let engine = chars.next().ok_or_else(|| error("empty frame"))?;
    let rest = chars.as_str();
    match engine {
        '0' => serde_json::from_str(rest)
            .map(Frame::Open)
            .map_err(|e| error(format!("bad handshake: {e}"))),
        '1' => Ok(Frame::Close),
        '2' => Ok(Frame::Ping),
        '3' => Ok(Frame::Pong),
        '4' => {
            let mut chars = rest.chars();
            let kind = chars.next().ok_or_else(|| error("empty message"))?;
            let (namespace, ack, json) = split(chars.as_str());
            match kind {
                '0' => {
                    let sid = serde_json::from_str::<Value>(json)
                        .ok()
                        .and_then(|v| v["sid"].as_str().map(str::to_owned));
                    Ok(Frame::Connected { namespace, sid })
                }
                '1' => Ok(Frame::Disconnected { namespace }),
                '2' | '3' => {
                    let Value::Array(mut items) =
                        serde_json::from_str(json).map_err(|e| error(format!("bad event: {e}")))?
                    else {
                        return Err(error("an event is a JSON array"));
                    };
                    if kind == '3' {
                        return Ok(Frame::Ack {
                            namespace,
                            ack: ack.ok_or_else(|| error("an ack needs an id"))?,
                            args: items,
                        });
                    }
                    if items.is_empty() {
                        return Err(error("an event needs a name"));
                    }
                    let Value::String(name) = items.remove(0) else {
                        return Err(error("an event's name is a string"));
                    };
                    Ok(Frame::Event { namespace, ack, name, args: items })
                }
                '4' => {
                    let message = serde_json::from_str::<Value>(json)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| json.to_owned());
                    Ok(Frame::ConnectError { namespace, message })
                }
                other => Err(error(format!("unknown Socket.IO packet type {other:?}"))),
            }
        }
        other => Err(error(format!("unknown Engine.IO packet type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_frames_a_node_sends_are_read() {
        // As captured from socketioxide and python-socketio.
        let open = decode(r#"0{"sid":"Hs_F5","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#).unwrap();
        assert!(matches!(open, Frame::Open(h) if h.sid == "Hs_F5" && h.ping_interval == 25_000));
        assert_eq!(
            decode(r#"40{"sid":"abc"}"#).unwrap(),
            Frame::Connected { namespace: "/".into(), sid: Some("abc".into()) }
        );
        assert_eq!(decode("2").unwrap(), Frame::Ping);
        assert_eq!(decode("1").unwrap(), Frame::Close);
        let update = decode(r#"42["data_updated",{"persons":[],"highestNumber":7}]"#).unwrap();
        assert_eq!(
            update,
            Frame::Event {
                namespace: "/".into(),
                ack: None,
                name: "data_updated".into(),
                args: vec![json!({"persons":[],"highestNumber":7})]
            }
        );
        let with_ack = decode(r#"4212["get_data"]"#).unwrap();
        assert!(
            matches!(with_ack, Frame::Event { ack: Some(12), ref name, ref args, .. } if name == "get_data" && args.is_empty())
        );
        let other_ns = decode(r#"42/admin,["x",1,2]"#).unwrap();
        assert!(
            matches!(other_ns, Frame::Event { ref namespace, ref args, .. } if namespace == "/admin" && args.len() == 2)
        );
        assert_eq!(
            decode(r#"431[{"ok":true}]"#).unwrap(),
            Frame::Ack { namespace: "/".into(), ack: 1, args: vec![json!({"ok": true})] }
        );
        assert!(
            matches!(decode(r#"44{"message":"nope"}"#).unwrap(), Frame::ConnectError { message, .. } if message == "nope")
        );
    }

    #[test]
    fn what_the_client_sends_is_encoded() {
        assert_eq!(
            event("update_data", &json!({"name": "ana", "number": 7})),
            r#"42["update_data",{"name":"ana","number":7}]"#
        );
        assert_eq!(bare_event("get_data"), r#"42["get_data"]"#);
        assert_eq!((CONNECT, PONG), ("40", "3"));
        // A client's own event reads back as itself.
        let frame = event("update_data", &json!({"name": "ana"}));
        assert!(
            matches!(decode(&frame).unwrap(), Frame::Event { name, .. } if name == "update_data")
        );
    }

    /// Regression (found by `fuzz_socketio_frames`): serde_json's default float parsing is
    /// best-effort, so a number it had written itself could read back one ulp off.
    #[test]
    fn floats_read_back_as_they_were_written() {
        for number in [-9.223232337203685e18, 1.7976931348623157e308, 5e-324, 0.1, 299.99] {
            let data = json!(number);
            let frame = event("x", &data);
            assert!(
                matches!(decode(&frame).unwrap(), Frame::Event { ref args, .. } if args[..] == [data.clone()]),
                "{frame}"
            );
        }
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for bad in ["", "9", "4", "49", "42", "42{}", "42[]", "42[1]", "0{", "42[\"x\"", "43[]"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
