//! Merges every child's event stream (`GET /events`) into the control plane's own, so the
//! control plane's `GET /events` is the whole lab's timeline.

use std::time::Duration;

use futures::StreamExt;
use shared::LabEvent;

use crate::service::EventBus;

/// Follow `url`'s event stream forever, reconnecting while the service is down or restarting.
pub async fn follow(client: reqwest::Client, url: String, into: EventBus) {
    loop {
        if let Ok(response) = client.get(format!("{url}/events")).send().await {
            if response.status().is_success() {
                let mut body = response.bytes_stream();
                let mut pending = Vec::new();
                while let Some(Ok(chunk)) = body.next().await {
                    pending.extend_from_slice(&chunk);
                    for line in complete_lines(&mut pending) {
                        if let Some(event) = parse_sse_line(&line) {
                            into.publish(event);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Take the complete lines out of `pending`. Bytes are split at newlines before they are decoded:
/// a chunk may end inside a multi-byte character (the sync nodes' messages have "≥").
fn complete_lines(pending: &mut Vec<u8>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    lines
}

/// One `data: {...}` line of a server-sent event stream, as a [`LabEvent`].
fn parse_sse_line(line: &str) -> Option<LabEvent> {
    let data = line.trim_end().strip_prefix("data:")?;
    serde_json::from_str(data.trim_start()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_between_two_chunks_arrives_whole() {
        let text = "data: instances ≥ 3\n".as_bytes();
        let cut = text.iter().position(|b| *b == 0xE2).unwrap() + 1; // inside "≥"
        let mut pending = text[..cut].to_vec();
        assert!(complete_lines(&mut pending).is_empty());
        pending.extend_from_slice(&text[cut..]);
        assert_eq!(complete_lines(&mut pending), ["data: instances ≥ 3\n"]);
        assert!(pending.is_empty());
    }

    #[test]
    fn data_lines_carry_events_and_everything_else_is_skipped() {
        let line = r#"data: {"at_ms":1,"service":"registry","kind":"failover","message":"x"}"#;
        assert_eq!(parse_sse_line(line).unwrap().service, "registry");
        assert_eq!(parse_sse_line(": keep-alive"), None);
        assert_eq!(parse_sse_line("event: message"), None);
        assert_eq!(parse_sse_line("data: not json"), None);
    }
}
