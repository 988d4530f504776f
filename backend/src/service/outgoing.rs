//! The one way a service calls another service of the lab.
//!
//! Every request a service sends a peer (the registry checking a shop server, a front writing
//! to a store, the meta-model asking a model, a sync node's Paxos messages and CRDT deltas)
//! goes through its [`Outgoing`] client: the link's fault is applied first (a cut link fails at
//! once, a slow one waits, a lossy one drops the call), so no call site can forget it, and this
//! is the one place that sees everything a service sends: while the lab records, each call is a
//! `send` in the history and its reply a `recv` ([`super::recorder`]).

use std::time::Duration;

use reqwest::Method;

use super::links::{LinkError, LinkFaults};
use super::recorder::{Recorder, CLOCK_HEADER, MSG_HEADER};

/// A service's client for its peers: HTTP through the service's link faults, recorded.
#[derive(Debug, Clone)]
pub struct Outgoing {
    http: reqwest::Client,
    links: LinkFaults,
    recorder: Recorder,
}

/// Why a call to a peer got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The link is cut, or dropped the call (simulated).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Nobody listens there (connection refused or reset before any answer).
    #[error("connection refused")]
    Refused(#[source] reqwest::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Http(reqwest::Error),
}

impl CallError {
    /// What a failed `send` says, for a call that had `timeout` to answer.
    pub fn from_reqwest(err: reqwest::Error, timeout: Option<Duration>) -> CallError {
        if err.is_connect() {
            CallError::Refused(err)
        } else if err.is_timeout() {
            CallError::Timeout(timeout.unwrap_or_default())
        } else {
            CallError::Http(err)
        }
    }

    /// The call certainly never reached the peer: the link failed it, or nobody was listening.
    /// (A timeout says less: the peer may be slow or paused, and may have acted.)
    pub fn never_arrived(&self) -> bool {
        matches!(self, CallError::Link(_) | CallError::Refused(_))
    }
}

impl Outgoing {
    /// Calls with `http` (its pool settings are the caller's) through `links`, recorded by
    /// `recorder`.
    pub fn new(http: reqwest::Client, links: LinkFaults, recorder: Recorder) -> Self {
        Self { http, links, recorder }
    }

    /// A client with a pool of `idle_per_host` keep-alive connections per peer.
    pub fn pooled(idle_per_host: usize, links: LinkFaults, recorder: Recorder) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(idle_per_host)
            .build()
            .expect("an HTTP client with default TLS-less settings");
        Self::new(http, links, recorder)
    }

    pub fn get(&self, url: impl Into<String>) -> Call {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl Into<String>) -> Call {
        self.request(Method::POST, url)
    }

    pub fn request(&self, method: Method, url: impl Into<String>) -> Call {
        let url = url.into();
        Call {
            links: self.links.clone(),
            recorder: self.recorder.clone(),
            request: self.http.request(method, &url),
            url,
            timeout: None,
            kind: None,
            body: None,
        }
    }

    /// `GET {base_url}/health` through the link: `Ok` on a 2xx within `timeout`, else why not.
    pub async fn check_health(&self, base_url: &str, timeout: Duration) -> Result<(), String> {
        super::probe::health_of(
            self.get(format!("{base_url}/health")).timeout(timeout).send().await,
        )
    }
}

/// One request being built; [`Call::send`] passes the link, then sends it.
#[derive(Debug)]
pub struct Call {
    links: LinkFaults,
    recorder: Recorder,
    request: reqwest::RequestBuilder,
    /// Where it goes: the link fault is looked up by its host and port.
    url: String,
    timeout: Option<Duration>,
    /// The message's kind in the history (default: the URL's path).
    kind: Option<String>,
    /// The JSON body as sent, kept for the history while recording.
    body: Option<Box<serde_json::value::RawValue>>,
}

impl Call {
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        if !self.recorder.is_on() {
            self.request = self.request.json(body);
            return self;
        }
        // Recording: the body is written once, kept as the text that was sent, and sent.
        match serde_json::value::to_raw_value(body) {
            Ok(raw) => {
                self.request = self
                    .request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(raw.get().to_owned());
                self.body = Some(raw);
            }
            Err(_) => self.request = self.request.json(body),
        }
        self
    }

    /// Name the message's kind in the history (`prepare`, `gossip`, ...); without it, the kind
    /// is the URL's path (`replication/apply`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.request = self.request.body(body);
        self
    }

    pub fn header(mut self, name: reqwest::header::HeaderName, value: impl AsRef<[u8]>) -> Self {
        if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_ref()) {
            self.request = self.request.header(name, value);
        }
        self
    }

    /// How long the peer may take to answer (the link's latency not included).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.request = self.request.timeout(timeout);
        self
    }

    /// Record the call (while recording), pass the link, send it; record the reply's receipt.
    /// A call the link drops stays a `send` with no `recv`, as a lost message should.
    pub async fn send(self) -> Result<reqwest::Response, CallError> {
        let Call { links, recorder, mut request, url, timeout, kind, body } = self;
        if recorder.is_on() {
            let kind = kind.as_deref().unwrap_or_else(|| path_of(&url));
            // Under `body`: a body's own `from` or `id` must not pose as the message's.
            if let Some(stamp) = recorder.sent(&url, kind, body) {
                request = request.header(MSG_HEADER, stamp.msg).header(CLOCK_HEADER, stamp.clock);
            }
        }
        links.pass(&url).await?;
        let response = request.send().await.map_err(|err| CallError::from_reqwest(err, timeout))?;
        recorder.received(response.headers());
        Ok(response)
    }
}

/// `replication/apply` of `http://127.0.0.1:3011/replication/apply?x=1`.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::control::LinkFault;

    #[tokio::test]
    async fn a_cut_link_fails_the_call_before_it_leaves() {
        // Port 9 (discard) on loopback: nothing listens, so an attempt would be refused.
        let links = LinkFaults::default();
        let client = Outgoing::new(reqwest::Client::new(), links.clone(), Recorder::new("test"));
        let refused = client.get("http://127.0.0.1:9/x").send().await.unwrap_err();
        assert!(matches!(refused, CallError::Refused(_)), "{refused:?}");
        links.set("127.0.0.1:9", LinkFault { cut: true, ..LinkFault::default() });
        let cut = client.get("http://127.0.0.1:9/x").send().await.unwrap_err();
        assert!(matches!(cut, CallError::Link(LinkError::Cut(_))), "{cut:?}");
        assert!(cut.never_arrived() && refused.never_arrived());
        assert_eq!(
            client.check_health("http://localhost:9", Duration::from_secs(1)).await,
            Err("link to 127.0.0.1:9 is cut (simulated partition)".to_owned())
        );
    }
}
