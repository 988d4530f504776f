//! `shared::socketio`: the dashboard's Engine.IO / Socket.IO codec. Decoding any text frame
//! never panics; what it reads, the encoders write back as the same frame; and whatever a
//! client puts in an event (any name, any JSON) reads back unchanged.

use serde_json::Value;
use shared::socketio::{bare_event, decode, event, Frame};

use super::harness::{fuzz, gist, Verdict};

/// Packet prefixes, event names and handshake fields.
const WORDS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "40",
    "41",
    "42",
    "43",
    "44",
    "/",
    "/admin,",
    "\"sid\"",
    "\"pingInterval\"",
    "\"pingTimeout\"",
    "\"upgrades\"",
    "\"maxPayload\"",
    "\"message\"",
    "\"data_updated\"",
    "\"update_data\"",
    "\"get_data\"",
];

/// What the frame decoded to, as an outcome's name.
fn outcome(decoded: &Result<Frame, shared::socketio::DecodeError>) -> String {
    match decoded {
        Ok(Frame::Open(_)) => "open".into(),
        Ok(Frame::Close) => "close".into(),
        Ok(Frame::Ping) => "ping".into(),
        Ok(Frame::Pong) => "pong".into(),
        Ok(Frame::Connected { namespace, sid }) => {
            format!("connected ns={} sid={}", namespace == "/", sid.is_some())
        }
        Ok(Frame::Disconnected { namespace }) => format!("disconnected ns={}", namespace == "/"),
        Ok(Frame::Event { namespace, ack, args, .. }) => {
            format!(
                "event ns={} ack={} args={}",
                namespace == "/",
                ack.is_some(),
                args.len().min(3)
            )
        }
        Ok(Frame::Ack { namespace, args, .. }) => {
            format!("ack ns={} args={}", namespace == "/", args.len().min(3))
        }
        Ok(Frame::ConnectError { .. }) => "connect error".into(),
        Err(e) => format!("error: {}", gist(&e.0, 40)),
    }
}

fn expect_same(
    what: &str,
    frame: &str,
    got: Result<Frame, shared::socketio::DecodeError>,
    want: &Frame,
) -> Result<(), String> {
    match got {
        Ok(got) if got == *want => Ok(()),
        got => Err(format!("{what}: {frame:?} decodes to {got:?}, not {want:?}")),
    }
}

fn check(input: &[u8]) -> Verdict {
    // Websocket text frames are UTF-8; other bytes arrive as U+FFFD.
    let text = String::from_utf8_lossy(input);
    let decoded = decode(&text);

    // What was read, written back by the encoders, reads the same.
    match &decoded {
        Ok(frame @ Frame::Event { namespace, ack: None, name, args }) if namespace == "/" => {
            let again = match args.as_slice() {
                [] => bare_event(name),
                [data] => event(name, data),
                _ => {
                    let mut items = vec![Value::String(name.clone())];
                    items.extend(args.iter().cloned());
                    format!("42{}", Value::Array(items))
                }
            };
            expect_same("an event written back", &again, decode(&again), frame)?;
        }
        Ok(frame @ Frame::Open(handshake)) => {
            let json = serde_json::to_string(handshake).map_err(|e| e.to_string())?;
            let again = format!("0{json}");
            expect_same("a handshake written back", &again, decode(&again), frame)?;
        }
        _ => {}
    }

    // The input as what a client sends: its text as the event's name, its JSON (or its text) as
    // the data.
    let data: Value =
        serde_json::from_slice(input).unwrap_or_else(|_| Value::String(text.to_string()));
    let name = text.chars().take(64).collect::<String>();
    let sent = event(&name, &data);
    let want =
        Frame::Event { namespace: "/".into(), ack: None, name: name.clone(), args: vec![data] };
    expect_same("event(name, data)", &sent, decode(&sent), &want)?;
    let sent = bare_event(&name);
    let want = Frame::Event { namespace: "/".into(), ack: None, name, args: vec![] };
    expect_same("bare_event(name)", &sent, decode(&sent), &want)?;

    Ok(outcome(&decoded))
}

#[test]
fn fuzz_socketio_frames() {
    fuzz("socketio_frames", WORDS, || (), |(), input| check(input));
}
