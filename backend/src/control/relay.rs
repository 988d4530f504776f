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
                let mut pending = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    pending.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
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

/// One `data: {...}` line of a server-sent event stream, as a [`LabEvent`].
fn parse_sse_line(line: &str) -> Option<LabEvent> {
    let data = line.trim_end().strip_prefix("data:")?;
    serde_json::from_str(data.trim_start()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_carry_events_and_everything_else_is_skipped() {
        let line = r#"data: {"at_ms":1,"service":"registry","kind":"failover","message":"x"}"#;
        assert_eq!(parse_sse_line(line).unwrap().service, "registry");
        assert_eq!(parse_sse_line(": keep-alive"), None);
        assert_eq!(parse_sse_line("event: message"), None);
        assert_eq!(parse_sse_line("data: not json"), None);
    }
}
