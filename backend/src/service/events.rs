//! Every service's event stream: `GET /events` (server-sent events, JSON [`LabEvent`]s) and the
//! most recent events for whoever connects late (`GET /events/recent`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use shared::{EventKind, LabEvent};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{now_ms, ApiJson};

/// Events kept for late subscribers.
const RECENT: usize = 200;

/// Publishes a service's events; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    service: Arc<str>,
    sender: broadcast::Sender<LabEvent>,
    recent: Arc<Mutex<VecDeque<LabEvent>>>,
    /// Cancelled when the service stops: open `GET /events` streams end, so a graceful
    /// shutdown need not wait for subscribers that never hang up.
    stopping: CancellationToken,
}

impl EventBus {
    pub fn new(service: &str) -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self {
            service: service.into(),
            sender,
            recent: Arc::default(),
            stopping: CancellationToken::new(),
        }
    }

    /// Publish an event about this service.
    pub fn emit(&self, kind: EventKind, message: impl Into<String>) {
        self.publish(LabEvent {
            at_ms: now_ms(),
            service: self.service.to_string(),
            kind,
            message: message.into(),
        });
    }

    /// Publish an event as it is (the control plane relays other services' events).
    pub fn publish(&self, event: LabEvent) {
        {
            let mut recent = self.recent.lock().expect("event buffer lock poisoned");
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        // No subscriber is fine: the event is still in `recent`.
        let _ = self.sender.send(event);
    }

    /// End every open event stream (the service is stopping).
    pub fn close(&self) {
        self.stopping.cancel();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LabEvent> {
        self.sender.subscribe()
    }

    pub fn recent(&self) -> Vec<LabEvent> {
        self.recent.lock().expect("event buffer lock poisoned").iter().cloned().collect()
    }
}

/// `GET /events`: every event from now on, as server-sent events.
pub async fn stream(
    State(bus): State<EventBus>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(bus.subscribe()).filter_map(|event| {
        // A subscriber too slow to keep up skips what it missed rather than stalling the bus.
        let event = event.ok()?;
        Some(Ok(Event::default().json_data(&event).unwrap_or_else(|_| Event::default().data("{}"))))
    });
    let stopping = bus.stopping;
    Sse::new(futures::StreamExt::take_until(events, async move { stopping.cancelled().await }))
        .keep_alive(KeepAlive::default())
}

/// `GET /events/recent`: the last events, oldest first.
pub async fn recent(State(bus): State<EventBus>) -> ApiJson<Vec<LabEvent>> {
    ApiJson(bus.recent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_new_events_and_late_comers_the_recent_ones() {
        let bus = EventBus::new("svc");
        bus.emit(EventKind::Info, "before anyone listened");
        let mut listener = bus.subscribe();
        bus.emit(EventKind::Down, "gone");
        assert_eq!(listener.recv().await.unwrap().message, "gone");
        let recent = bus.recent();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].service, "svc");
        for n in 0..RECENT {
            bus.emit(EventKind::Info, n.to_string());
        }
        assert_eq!(bus.recent().len(), RECENT);
        assert_eq!(bus.recent().last().unwrap().message, (RECENT - 1).to_string());
    }
}
