//! A client session as the bridge keeps it: when it was last used, its open stream, and (once it opened a
//! resumable stream) its replay log.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::replay::{ReplayLog, ResumeError, SessionEvent};
use super::{Inner, lock};

pub(super) struct Session {
    id: String,
    last_seen: Mutex<Instant>,
    out: Mutex<Outbox>,
    /// The protocol version negotiated for the session (once it initialized).
    version: std::sync::OnceLock<String>,
}

#[derive(Default)]
struct Outbox {
    /// The open stream: its generation and sender.
    stream: Option<(u64, mpsc::Sender<SessionEvent>)>,
    /// Set when the session opens a resumable stream; kept when the stream closes.
    log: Option<ReplayLog>,
}

impl Outbox {
    /// The message as an event: numbered and kept when the session is resumable.
    fn event(&mut self, message: Value) -> SessionEvent {
        match &mut self.log {
            Some(log) => log.record(message),
            None => SessionEvent { id: None, message },
        }
    }
}

/// The limits of a session's replay log.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplayLimits {
    pub events: usize,
    pub bytes: usize,
}

impl Session {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            last_seen: Mutex::new(Instant::now()),
            out: Mutex::new(Outbox::default()),
            version: std::sync::OnceLock::new(),
        }
    }

    pub fn set_version(&self, version: &str) {
        let _ = self.version.set(version.to_owned());
    }

    /// Whether the session's protocol version lacks the message (a notification of a later version): such a
    /// message is not delivered to it.
    fn lacks(&self, message: &Value) -> bool {
        let notification = message.get("id").is_none();
        match (
            self.version.get(),
            message.get("method").and_then(Value::as_str),
        ) {
            (Some(v), Some(m)) if notification => !super::versions::has_method(v, m),
            _ => false,
        }
    }

    pub fn has_stream(&self) -> bool {
        lock(&self.out).stream.is_some()
    }

    pub fn touch(&self, now: Instant) {
        *lock(&self.last_seen) = now;
    }

    pub fn expired(&self, now: Instant, ttl: Duration) -> bool {
        !self.has_stream() && now.saturating_duration_since(*lock(&self.last_seen)) >= ttl
    }

    /// Sends a message on the stream without waiting (dropped for the live stream when its buffer is full); a
    /// resumable session keeps it for replay even without a stream. `false` when the live stream did not get
    /// it.
    pub fn deliver(&self, message: Value) -> bool {
        if self.lacks(&message) {
            return true;
        }
        let mut out = lock(&self.out);
        if out.stream.is_none() && out.log.is_none() {
            return false;
        }
        let event = out.event(message);
        let Some((_, tx)) = &out.stream else {
            return false;
        };
        match tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(session = %self.id, "a session's stream is full: message dropped for it");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Sends a message on the stream, waiting while its buffer is full; `false` when there is no stream (a
    /// resumable session keeps the message for replay all the same).
    pub async fn send(&self, message: Value) -> bool {
        if self.lacks(&message) {
            return true;
        }
        loop {
            let (generation, tx) = {
                let mut out = lock(&self.out);
                match out.stream.clone() {
                    Some(s) => s,
                    None => {
                        if out.log.is_some() {
                            out.event(message);
                        }
                        return false;
                    }
                }
            };
            let permit = tx.reserve().await;
            let mut out = lock(&self.out);
            if out.stream.as_ref().is_some_and(|(g, _)| *g == generation) {
                let Ok(permit) = permit else {
                    return false;
                };
                // Numbered under the lock, as it is sent: ids are in order on the stream.
                permit.send(out.event(message));
                return true;
            }
            // Another stream replaced this one meanwhile: send on that one.
        }
    }

    /// Makes `tx` the session's stream (ending the previous one). With `replay`, the session is resumable
    /// and `after` (a `Last-Event-ID`: number and text) selects the kept events to send first, returned.
    pub fn attach(
        &self,
        generation: u64,
        tx: mpsc::Sender<SessionEvent>,
        replay: Option<ReplayLimits>,
        after: Option<(u64, &str)>,
    ) -> Result<VecDeque<SessionEvent>, ResumeError> {
        let mut out = lock(&self.out);
        if let Some(limits) = replay
            && out.log.is_none()
        {
            out.log = Some(ReplayLog::new(&self.id, limits.events, limits.bytes));
        }
        let replayed = match after {
            Some((n, text)) => out
                .log
                .as_ref()
                .and_then(|log| log.after(n))
                .ok_or_else(|| ResumeError::Unknown(text.to_owned()))?,
            None => VecDeque::new(),
        };
        out.stream = Some((generation, tx));
        Ok(replayed)
    }

    /// Detaches the stream `generation` if it is still the session's; `true` when it was.
    pub fn detach(&self, generation: u64) -> bool {
        let mut out = lock(&self.out);
        let current = out.stream.as_ref().is_some_and(|(g, _)| *g == generation);
        if current {
            out.stream = None;
        }
        self.touch(Instant::now());
        current
    }
}

/// A session's stream of server messages ([`StdioBridge::open_stream`](super::StdioBridge::open_stream)).
/// Ends when the session is removed or another stream replaces it; dropping it detaches it from the session.
/// As a [`Stream`] it yields the messages; [`SessionStream::events`] yields them with their event ids.
pub struct SessionStream {
    replay: VecDeque<SessionEvent>,
    rx: mpsc::Receiver<SessionEvent>,
    inner: Weak<Inner>,
    session: String,
    generation: u64,
    remove_session_on_close: bool,
}

impl SessionStream {
    pub(super) fn new(
        replay: VecDeque<SessionEvent>,
        rx: mpsc::Receiver<SessionEvent>,
        inner: Weak<Inner>,
        session: &str,
        generation: u64,
        remove_session_on_close: bool,
    ) -> Self {
        Self {
            replay,
            rx,
            inner,
            session: session.to_owned(),
            generation,
            remove_session_on_close,
        }
    }

    /// The session's id.
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// The stream as [`SessionEvent`]s (with their event ids): the replayed events first, then live ones.
    pub fn events(self) -> SessionEvents {
        SessionEvents(self)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        match self.replay.pop_front() {
            Some(event) => Poll::Ready(Some(event)),
            None => self.rx.poll_recv(cx),
        }
    }
}

impl Stream for SessionStream {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        self.poll_event(cx).map(|e| e.map(|e| e.message))
    }
}

impl Drop for SessionStream {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut sessions = lock(&inner.sessions);
        let Some(s) = sessions.get(&self.session).cloned() else {
            return;
        };
        if s.detach(self.generation) && self.remove_session_on_close {
            sessions.remove(&self.session);
            drop(sessions);
            tracing::debug!(session = %self.session, "session closed with its stream");
            inner.end_sessions(vec![self.session.clone()]);
        }
    }
}

/// A [`SessionStream`] yielding [`SessionEvent`]s ([`SessionStream::events`]).
pub struct SessionEvents(SessionStream);

impl SessionEvents {
    /// The session's id.
    pub fn session_id(&self) -> &str {
        self.0.session_id()
    }
}

impl Stream for SessionEvents {
    type Item = SessionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.0.poll_event(cx)
    }
}
