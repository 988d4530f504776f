//! A service's part of the lab's one recorded history (`shared::history`).
//!
//! While the control plane records, every service keeps what it saw in a bounded buffer, which
//! the control plane fetches (`GET /admin/recording/events`) and merges into one history:
//!
//! - every message it sends a peer: [`Outgoing`](super::Outgoing) calls [`Recorder::sent`]
//!   before the request leaves, and stamps it with two headers, [`MSG_HEADER`] (its id, kind and
//!   sender) and [`CLOCK_HEADER`] (the sender's vector clock);
//! - every such message it receives, and the reply it sends back: the layer on every route
//!   ([`Observed`](super::observe::Observed)) records the `recv`, then the reply's `send`,
//!   stamped on the response the same way, and the caller's `Outgoing` records that reply's
//!   `recv`;
//! - notes about itself (a new leader, a mode switch, a role change): [`Recorder::note`].
//!
//! So no call site has to remember to log. Times are nanoseconds since the recording's epoch,
//! (in microseconds) which the control plane hands over with [`RecordingStart`]: the lab runs on one machine, so
//! every process reads the same system clock. Off, recording costs one atomic load per request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use shared::history::{Event, Note, RecordedEvents, RecordingStart};

/// `{id} {kind} {from}`: which message a request (or its reply) is, in the history.
pub const MSG_HEADER: &str = "x-lab-msg";
/// The sender's vector clock: `node-1=3,node-2=5`.
pub const CLOCK_HEADER: &str = "x-lab-clock";

/// Events a service keeps for the control plane to fetch; older ones are dropped (and counted)
/// when nobody fetches them.
pub const BUFFER: usize = 200_000;

/// The kind a handler gives its reply in the history (a response extension; the default is
/// the request's kind with `-reply`).
#[derive(Debug, Clone)]
pub struct ReplyKind(pub String);

/// One service's recorder; cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: Arc<str>,
    /// The top bits of this service's message ids (see [`Recorder::message_id`]).
    tag: u64,
    /// Checked before anything else: off costs this load.
    on: AtomicBool,
    state: Mutex<Buffer>,
}

#[derive(Debug, Default)]
struct Recording {
    id: String,
    epoch_ns: u64,
    /// `host:port` → service name.
    names: HashMap<String, Arc<str>>,
}

/// A vector clock: events per service, sorted by name (what [`CLOCK_HEADER`] carries).
type Clock = Vec<(Arc<str>, u64)>;

#[derive(Debug, Default)]
struct Buffer {
    recording: Option<Recording>,
    /// Events per service this one has seen (its own included), merged from what it received.
    clock: Clock,
    /// Every service name and message kind seen, kept once: an event shares them.
    words: HashSet<Arc<str>>,
    next_message: u64,
    /// Shared with fetches, which serialize them after letting go of the lock.
    buffer: VecDeque<(u64, Arc<Kept>)>,
    next_seq: u64,
    dropped: u64,
}

impl Buffer {
    /// `word`, shared with every event that has it.
    fn word(&mut self, word: &str) -> Arc<str> {
        if let Some(kept) = self.words.get(word) {
            return Arc::clone(kept);
        }
        let kept: Arc<str> = Arc::from(word);
        self.words.insert(Arc::clone(&kept));
        kept
    }

    /// `service`'s count in the clock (found, or added at 0).
    fn count(&mut self, service: &str) -> &mut u64 {
        let at = match self.clock.binary_search_by(|(s, _)| (**s).cmp(service)) {
            Ok(at) => at,
            Err(at) => {
                let name = self.word(service);
                self.clock.insert(at, (name, 0));
                at
            }
        };
        &mut self.clock[at].1
    }
}

/// An event as a recorder keeps it: a [`Message`](shared::history::Message) with its names
/// shared and its body kept as the JSON text it was sent as, or a [`Note`]. It is written out
/// exactly as the [`Event`] it stands for.
#[derive(Debug)]
enum Kept {
    Message {
        send: bool,
        from: Arc<str>,
        to: Arc<str>,
        msg: Arc<str>,
        id: u64,
        clock: Box<[(Arc<str>, u64)]>,
        time: u64,
        /// A reply's HTTP status.
        status: Option<u16>,
        /// A request's JSON body.
        body: Option<Box<RawValue>>,
    },
    Note(Note),
}

impl serde::Serialize for Kept {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Kept::Note(note) => Event::Note(note.clone()).serialize(serializer),
            Kept::Message { send, from, to, msg, id, clock, time, status, body } => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("type", if *send { "send" } else { "recv" })?;
                map.serialize_entry("from", &**from)?;
                map.serialize_entry("to", &**to)?;
                map.serialize_entry("msg", &**msg)?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("clock", &ClockMap(clock))?;
                map.serialize_entry("time", time)?;
                if let Some(status) = status {
                    map.serialize_entry("status", status)?;
                }
                if let Some(body) = body {
                    map.serialize_entry("body", body)?;
                }
                map.end()
            }
        }
    }
}

struct ClockMap<'a>(&'a [(Arc<str>, u64)]);

impl serde::Serialize for ClockMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(service, count)| (&**service, count)))
    }
}

/// What [`Recorder::sent`] stamped on a message, to send in its headers.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub id: u64,
    /// [`MSG_HEADER`]'s value.
    pub msg: HeaderValue,
    /// [`CLOCK_HEADER`]'s value.
    pub clock: HeaderValue,
}

/// Unix time in nanoseconds (the clock every process of the lab shares).
pub fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A message as [`Recorder::message`] records it.
struct Outline<'a> {
    send: bool,
    /// The other end: the receiver of a send, the sender of a receipt.
    peer: Arc<str>,
    msg: &'a str,
    /// `None`: a new id (a send); a receipt has its sender's.
    id: Option<u64>,
    status: Option<u16>,
    body: Option<Box<RawValue>>,
}

impl Recorder {
    pub fn new(service: impl Into<String>) -> Self {
        let service: String = service.into();
        let hash =
            service.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Self {
            inner: Arc::new(Inner {
                tag: (hash % 4095 + 1) << 40,
                service: Arc::from(service),
                on: AtomicBool::new(false),
                state: Mutex::new(Buffer::default()),
            }),
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    pub fn is_on(&self) -> bool {
        self.inner.on.load(Ordering::Relaxed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.inner.state.lock().expect("recorder lock poisoned")
    }

    /// Take part in a recording (replacing any other): the buffer and the clock start afresh.
    pub fn start(&self, start: RecordingStart) {
        let mut state = self.state();
        let mut fresh = Buffer {
            // Message ids stay unique across recordings of the same process.
            next_message: state.next_message,
            ..Buffer::default()
        };
        let names = start.services.into_iter().map(|(at, name)| (at, fresh.word(&name))).collect();
        fresh.recording = Some(Recording { id: start.id, epoch_ns: start.epoch_us * 1000, names });
        *state = fresh;
        self.inner.on.store(true, Ordering::Relaxed);
    }

    /// Stop recording; what is buffered can still be fetched.
    pub fn stop(&self) {
        self.inner.on.store(false, Ordering::Relaxed);
        self.state().recording = None;
    }

    /// The events after `after` (up to `limit`); those up to `after` are forgotten, since the
    /// control plane has them.
    pub fn fetch(&self, after: u64, limit: usize) -> RecordedEvents {
        serde_json::from_str(&self.fetch_json(after, limit)).expect("recorded events read back")
    }

    /// [`Recorder::fetch`] as its JSON text, made after the lock is let go: the service's
    /// requests are not held up while thousands of events are written out.
    pub fn fetch_json(&self, after: u64, limit: usize) -> String {
        let (recording, events, next, dropped) = self.take_after(after, limit);
        let answer = RawAnswer { recording, events: EventList(&events), next, dropped };
        serde_json::to_string(&answer).expect("events serialize")
    }

    /// Forget the events before `after`; the next `limit` (shared, not copied), and the rest of
    /// an answer.
    fn take_after(&self, after: u64, limit: usize) -> (Option<String>, Vec<Arc<Kept>>, u64, u64) {
        let mut state = self.state();
        while state.buffer.front().is_some_and(|(seq, _)| *seq < after) {
            state.buffer.pop_front();
        }
        let events: Vec<Arc<Kept>> =
            state.buffer.iter().take(limit).map(|(_, event)| Arc::clone(event)).collect();
        let next =
            state.buffer.front().map_or(state.next_seq, |(seq, _)| *seq) + events.len() as u64;
        (state.recording.as_ref().map(|r| r.id.clone()), events, next, state.dropped)
    }

    /// Record that this service sends a `kind` message to `url`, with its JSON `body` (made
    /// only when recording). `None` when not recording.
    pub fn sent(&self, url: &str, kind: &str, body: Option<Box<RawValue>>) -> Option<Stamp> {
        if !self.is_on() {
            return None;
        }
        let mut state = self.state();
        let recording = state.recording.as_ref()?;
        let peer = super::links::peer_key(url);
        let to = match recording.names.get(&peer) {
            Some(name) => Arc::clone(name),
            None => state.word(&peer),
        };
        let outline = Outline { send: true, peer: to, msg: kind, id: None, status: None, body };
        self.message(&mut state, outline)
    }

    /// Record the receipt of a message stamped with `headers` (nothing when it carries no
    /// stamp, or when not recording). Returns the message's kind and sender.
    pub fn received(&self, headers: &HeaderMap) -> Option<Received> {
        if !self.is_on() {
            return None;
        }
        let (id, kind, from) = parse_msg(headers.get(MSG_HEADER)?.to_str().ok()?)?;
        let mut state = self.state();
        state.recording.as_ref()?;
        let theirs = headers.get(CLOCK_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        for (service, count) in clock_pairs(theirs) {
            let mine = state.count(service);
            *mine = (*mine).max(count);
        }
        let from = state.word(from);
        let kind = state.word(kind);
        let outline = Outline {
            send: false,
            peer: Arc::clone(&from),
            msg: &kind,
            id: Some(id),
            status: None,
            body: None,
        };
        self.message(&mut state, outline);
        Some(Received { kind, from })
    }

    /// Record a note about this service (`leader`, `mode`, `role`, ...).
    pub fn note(&self, f: &str, value: impl FnOnce() -> Value) {
        if !self.is_on() {
            return;
        }
        let mut state = self.state();
        let Some(recording) = state.recording.as_ref() else { return };
        let time = unix_ns().saturating_sub(recording.epoch_ns);
        let note =
            Note { service: self.inner.service.to_string(), f: f.to_owned(), value: value(), time };
        push(&mut state, Kept::Note(note));
    }

    /// Record the reply this service sends `to` the sender of the message it just received
    /// (the caller's `Outgoing` records its receipt from the response's stamp).
    fn reply(&self, to: Arc<str>, kind: &str, status: u16) -> Option<Stamp> {
        let mut state = self.state();
        state.recording.as_ref()?;
        let outline =
            Outline { send: true, peer: to, msg: kind, id: None, status: Some(status), body: None };
        self.message(&mut state, outline)
    }

    /// Tick the clock and keep the message; a sent one's stamp.
    fn message(&self, state: &mut Buffer, outline: Outline<'_>) -> Option<Stamp> {
        let epoch = state.recording.as_ref()?.epoch_ns;
        let time = unix_ns().saturating_sub(epoch);
        let id = match outline.id {
            Some(id) => id,
            None => self.message_id(state),
        };
        *state.count(&self.inner.service) += 1;
        let msg = state.word(outline.msg);
        let stamp = if outline.send { self.stamp(id, &msg, &state.clock) } else { None };
        let me = Arc::clone(&self.inner.service);
        let (from, to) = if outline.send { (me, outline.peer) } else { (outline.peer, me) };
        let kept = Kept::Message {
            send: outline.send,
            from,
            to,
            msg,
            id,
            clock: state.clock.as_slice().into(),
            time,
            status: outline.status,
            body: outline.body,
        };
        push(state, kept);
        stamp
    }

    /// Ids unique across the lab and below 2^53 (a browser reads them exactly): 12 bits of the
    /// service's name, 40 of a counter.
    fn message_id(&self, state: &mut Buffer) -> u64 {
        state.next_message = (state.next_message + 1) & ((1 << 40) - 1);
        self.inner.tag | state.next_message
    }

    fn stamp(&self, id: u64, kind: &str, clock: &Clock) -> Option<Stamp> {
        let mut text = String::with_capacity(16 * clock.len());
        for (i, (service, count)) in clock.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let _ = write!(text, "{comma}{service}={count}");
        }
        let clock = HeaderValue::from_str(&text).ok()?;
        text.clear();
        let _ = write!(text, "{id} {kind} {}", self.inner.service);
        Some(Stamp { id, msg: HeaderValue::from_str(&text).ok()?, clock })
    }
}

/// [`RecordedEvents`], written from shared events.
#[derive(serde::Serialize)]
struct RawAnswer<'a> {
    recording: Option<String>,
    events: EventList<'a>,
    next: u64,
    dropped: u64,
}

struct EventList<'a>(&'a [Arc<Kept>]);

impl serde::Serialize for EventList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|event| &**event))
    }
}

fn push(state: &mut Buffer, event: Kept) {
    if state.buffer.len() == BUFFER {
        state.buffer.pop_front();
        state.dropped += 1;
    }
    let seq = state.next_seq;
    state.next_seq += 1;
    state.buffer.push_back((seq, Arc::new(event)));
}

fn parse_msg(text: &str) -> Option<(u64, &str, &str)> {
    let mut parts = text.splitn(3, ' ');
    let id = parts.next()?.parse().ok()?;
    Some((id, parts.next()?, parts.next()?))
}

/// The `service=count` pairs of a [`CLOCK_HEADER`] (malformed ones skipped).
fn clock_pairs(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.split(',').filter_map(|pair| {
        let (service, count) = pair.split_once('=')?;
        Some((service, count.parse().ok()?))
    })
}

/// A message a peer sent this service, recorded on receipt: what its reply is recorded as.
#[derive(Debug)]
pub struct Received {
    /// The message's kind.
    pub kind: Arc<str>,
    /// Its sender.
    pub from: Arc<str>,
}

impl Recorder {
    /// Record the reply to `received` (its kind: the handler's [`ReplyKind`], or the request's
    /// with `-reply`) and stamp `response` with it. The route layer
    /// ([`Observed`](super::observe::Observed)) calls this for every message it saw received.
    pub fn replied(&self, received: Received, response: &mut Response) {
        let status = response.status().as_u16();
        let stamp = match response.extensions().get::<ReplyKind>() {
            Some(reply) => self.reply(received.from, &reply.0, status),
            None => self.reply(received.from, &format!("{}-reply", received.kind), status),
        };
        if let Some(stamp) = stamp {
            response.headers_mut().insert(MSG_HEADER, stamp.msg);
            response.headers_mut().insert(CLOCK_HEADER, stamp.clock);
        }
    }
}

/// Which events `GET /admin/recording/events` answers.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Fetch {
    /// The `next` of the previous answer (0 at first): the events from there on.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9007199254740991_u64)]
    after: u64,
    /// At most this many events.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 50000)]
    limit: u32,
}

fn default_limit() -> u32 {
    10_000
}

/// Take part in a recording: from now on, record what this service sends, receives and notes.
#[utoipa::path(put, path = "/admin/recording", tag = "recording", request_body = RecordingStart,
    responses(
        (status = 200, description = "Recording", body = RecordedEvents),
        (status = 400, description = "An epoch past 2^53 - 1", body = shared::ErrorBody),
    ))]
pub(super) async fn start(
    State(recorder): State<Recorder>,
    super::ApiJson(start): super::ApiJson<RecordingStart>,
) -> Response {
    if start.epoch_us > MAX_EXACT {
        let why = format!("epochUs must be at most 2^53 - 1, got {}", start.epoch_us);
        return super::error_response(StatusCode::BAD_REQUEST, why);
    }
    tracing::info!(recording = %start.id, "recording started");
    recorder.start(start);
    super::ApiJson(recorder.fetch(0, 0)).into_response()
}

/// The largest whole number every JSON client holds exactly (2^53 - 1).
const MAX_EXACT: u64 = (1 << 53) - 1;

/// Stop recording (what is buffered can still be fetched).
#[utoipa::path(delete, path = "/admin/recording", tag = "recording",
    responses((status = 200, description = "Stopped", body = RecordedEvents)))]
pub(super) async fn stop(State(recorder): State<Recorder>) -> super::ApiJson<RecordedEvents> {
    if recorder.is_on() {
        tracing::info!("recording stopped");
    }
    recorder.stop();
    super::ApiJson(recorder.fetch(0, 0))
}

/// The events recorded after `after`; the ones before it are forgotten (the caller has them).
#[utoipa::path(get, path = "/admin/recording/events", tag = "recording", params(Fetch),
    responses(
        (status = 200, body = RecordedEvents),
        (status = 400, description = "A limit outside 1 to 50,000, or an `after` past 2^53 - 1", body = shared::ErrorBody),
    ))]
pub(super) async fn events(
    State(recorder): State<Recorder>,
    super::ApiQuery(fetch): super::ApiQuery<Fetch>,
) -> Response {
    if !(1..=MAX_FETCH).contains(&fetch.limit) {
        let why = format!("limit must be between 1 and {MAX_FETCH}, got {}", fetch.limit);
        return super::error_response(StatusCode::BAD_REQUEST, why);
    }
    if fetch.after > MAX_EXACT {
        let why = format!("after must be at most 2^53 - 1, got {}", fetch.after);
        return super::error_response(StatusCode::BAD_REQUEST, why);
    }
    let json = recorder.fetch_json(fetch.after, fetch.limit as usize);
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// The most events one fetch answers.
const MAX_FETCH: u32 = 50_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn start(recorder: &Recorder) {
        recorder.start(RecordingStart {
            id: "r1".into(),
            epoch_us: unix_ns() / 1000,
            services: [("127.0.0.1:2".to_owned(), "b".to_owned())].into(),
        });
    }

    #[test]
    fn off_records_nothing() {
        let a = Recorder::new("a");
        assert!(a.sent("http://127.0.0.1:2/paxos", "paxos", None).is_none());
        a.note("leader", || Value::from("a"));
        assert_eq!(a.fetch(0, 100).events, vec![]);
        assert_eq!(a.fetch(0, 100).recording, None);
    }

    #[test]
    fn a_message_and_its_reply_carry_merged_vector_clocks() {
        let (a, b) = (Recorder::new("a"), Recorder::new("b"));
        start(&a);
        start(&b);
        b.note("leader", || Value::from("b"));
        let stamp = a.sent("http://localhost:2/paxos", "prepare", None).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(MSG_HEADER, stamp.msg);
        headers.insert(CLOCK_HEADER, stamp.clock);
        let Received { kind, from } = b.received(&headers).unwrap();
        assert_eq!((&*kind, &*from), ("prepare", "a"));
        let reply = b.reply(from, "promise", 200).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(MSG_HEADER, reply.msg);
        headers.insert(CLOCK_HEADER, reply.clock);
        a.received(&headers).unwrap();

        let sent = a.fetch(0, 10).events;
        let Event::Send(send) = &sent[0] else { panic!("{sent:?}") };
        assert_eq!((send.from.as_str(), send.to.as_str(), send.id), ("a", "b", stamp.id));
        assert_eq!(send.clock, [("a".to_owned(), 1)].into());
        let Event::Recv(back) = &sent[1] else { panic!("{sent:?}") };
        // a knows that b's receipt and b's reply happened before (notes are not clocked).
        assert_eq!(back.clock, [("a".to_owned(), 2), ("b".to_owned(), 2)].into());
        assert_eq!((back.msg.as_str(), back.id), ("promise", reply.id));
        let at_b = b.fetch(0, 10).events;
        assert!(
            matches!(&at_b[1], Event::Recv(m) if m.id == stamp.id && m.clock == [("a".to_owned(), 1), ("b".to_owned(), 1)].into())
        );
        assert!(matches!(&at_b[2], Event::Send(m) if m.to == "a" && m.fields["status"] == 200));
        assert_ne!(stamp.id, reply.id);
    }

    #[test]
    fn the_fetch_routes_json_is_the_fetch() {
        let a = Recorder::new("a");
        start(&a);
        a.note("leader", || Value::from("a"));
        let body = RawValue::from_string(r#"{"ballot": [1, "a"]}"#.into()).unwrap();
        a.sent("http://127.0.0.1:2/paxos", "prepare", Some(body));
        let json: RecordedEvents = serde_json::from_str(&a.fetch_json(0, 10)).unwrap();
        assert_eq!(json, a.fetch(0, 10));
        assert_eq!(json.events.len(), 2);
        let Event::Send(sent) = &json.events[1] else { panic!("{json:?}") };
        assert_eq!(sent.fields["body"], serde_json::json!({"ballot": [1, "a"]}));
        assert_eq!((sent.to.as_str(), sent.msg.as_str()), ("b", "prepare"));
    }

    #[test]
    fn fetching_forgets_what_was_fetched_and_a_full_buffer_counts_its_drops() {
        let a = Recorder::new("a");
        start(&a);
        for i in 0..5 {
            a.note("n", || Value::from(i));
        }
        let first = a.fetch(0, 2);
        assert_eq!((first.events.len(), first.next), (2, 2));
        let rest = a.fetch(first.next, 100);
        assert_eq!((rest.events.len(), rest.next), (3, 5));
        assert_eq!(a.fetch(rest.next, 100).events, vec![]);
        let mut state = a.state();
        for _ in 0..BUFFER + 3 {
            push(
                &mut state,
                Kept::Note(Note {
                    service: "a".into(),
                    f: "n".into(),
                    value: Value::Null,
                    time: 0,
                }),
            );
        }
        assert_eq!((state.buffer.len(), state.dropped), (BUFFER, 3));
    }
}
