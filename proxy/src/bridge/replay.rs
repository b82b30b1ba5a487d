//! Resumable session streams: event ids and the replay buffer behind `Last-Event-ID`.
//!
//! An event on a resumable stream has the id `SESSION-N`: the session's id, `-`, and a number that starts at
//! 1 and grows by one with every event of the session (so ids are unique within the session, across its
//! successive streams). The session keeps its last events (at most [`BridgeConfig::replay_events`] events
//! and [`BridgeConfig::replay_bytes`] bytes of JSON, oldest evicted first) for a client that reconnects with
//! `Last-Event-ID`.
//!
//! [`BridgeConfig::replay_events`]: super::BridgeConfig::replay_events
//! [`BridgeConfig::replay_bytes`]: super::BridgeConfig::replay_bytes

use std::collections::VecDeque;
use std::io;

use serde_json::Value;

/// One message on a session's stream, with its event id when the stream is resumable.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// `SESSION-N`; `None` on a stream that cannot be resumed (the legacy SSE transport, or replay turned off).
    pub id: Option<String>,
    /// The JSON-RPC message.
    pub message: Value,
}

/// Why a stream cannot resume after a `Last-Event-ID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// Not an event id the proxy issues.
    #[error(
        "Bad Request: malformed Last-Event-ID '{0}' (expected SESSION-N, as sent in the stream's id fields)"
    )]
    Malformed(String),
    /// An event id of another session.
    #[error("Bad Request: Last-Event-ID '{0}' belongs to another session")]
    OtherSession(String),
    /// An event id of this session that was never issued.
    #[error("Bad Request: Last-Event-ID '{0}' was never sent on this session's stream")]
    Unknown(String),
}

/// The id of the session's `n`th event.
pub(super) fn event_id(session: &str, n: u64) -> String {
    format!("{session}-{n}")
}

/// The event number in `id`, a `Last-Event-ID` sent for `session`.
pub(super) fn parse_event_id(session: &str, id: &str) -> Result<u64, ResumeError> {
    let malformed = || ResumeError::Malformed(id.to_owned());
    let (prefix, n) = id.rsplit_once('-').ok_or_else(malformed)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let n: u64 = n.parse().map_err(|_| malformed())?;
    if prefix == session {
        Ok(n)
    } else if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        Err(ResumeError::OtherSession(id.to_owned()))
    } else {
        Err(malformed())
    }
}

struct Stored {
    n: u64,
    size: usize,
    event: SessionEvent,
}

/// A session's event counter and its last events.
pub(super) struct ReplayLog {
    session: String,
    next: u64,
    events: VecDeque<Stored>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl ReplayLog {
    pub fn new(session: &str, max_events: usize, max_bytes: usize) -> Self {
        Self {
            session: session.to_owned(),
            next: 1,
            events: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
        }
    }

    /// Gives `message` the next id and keeps it (evicting the oldest events beyond the limits).
    pub fn record(&mut self, message: Value) -> SessionEvent {
        let n = self.next;
        self.next += 1;
        let event = SessionEvent {
            id: Some(event_id(&self.session, n)),
            message,
        };
        let size = json_size(&event.message);
        self.events.push_back(Stored {
            n,
            size,
            event: event.clone(),
        });
        self.bytes += size;
        while self.events.len() > self.max_events || self.bytes > self.max_bytes {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.size;
        }
        event
    }

    /// The kept events after event `n` (all of them when `n` is older than the buffer); `None` when `n` was
    /// never issued.
    pub fn after(&self, n: u64) -> Option<VecDeque<SessionEvent>> {
        if n >= self.next {
            return None;
        }
        Some(
            self.events
                .iter()
                .filter(|s| s.n > n)
                .map(|s| s.event.clone())
                .collect(),
        )
    }
}

/// The length of `v` serialized, without allocating it.
fn json_size(v: &Value) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    serde_json::to_writer(&mut c, v).expect("a JSON value serializes");
    c.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: &str = "00ff00ff00ff00ff00ff00ff00ff00ff";

    #[test]
    fn event_ids_name_the_session() {
        assert_eq!(event_id(S, 7), format!("{S}-7"));
        assert_eq!(parse_event_id(S, &format!("{S}-7")), Ok(7));
        let other = format!("{}-7", "ab".repeat(16));
        assert_eq!(
            parse_event_id(S, &other),
            Err(ResumeError::OtherSession(other))
        );
        for bad in [
            "",
            "7",
            "x-7",
            &format!("{S}-"),
            &format!("{S}-+7"),
            &format!("{S}-7a"),
        ] {
            assert_eq!(
                parse_event_id(S, bad),
                Err(ResumeError::Malformed(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_log_keeps_the_last_events_within_its_limits() {
        let mut log = ReplayLog::new(S, 3, 1 << 20);
        let ids: Vec<_> = (0..5)
            .map(|i| log.record(json!({"i": i})).id.unwrap())
            .collect();
        assert_eq!(ids[0], format!("{S}-1"));
        assert_eq!(ids[4], format!("{S}-5"));
        let after = |log: &ReplayLog, n| -> Vec<Value> {
            log.after(n)
                .unwrap()
                .into_iter()
                .map(|e| e.message["i"].clone())
                .collect()
        };
        assert_eq!(after(&log, 3), [json!(3), json!(4)]);
        assert_eq!(
            after(&log, 0),
            [json!(2), json!(3), json!(4)],
            "older than the buffer"
        );
        assert_eq!(after(&log, 5), Vec::<Value>::new());
        assert!(log.after(6).is_none());

        // The byte limit: {"i":N} is 7 bytes.
        let mut log = ReplayLog::new(S, 100, 15);
        for i in 0..4 {
            log.record(json!({"i": i}));
        }
        assert_eq!(after(&log, 0), [json!(2), json!(3)]);
    }
}
