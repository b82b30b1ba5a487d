//! Rewriting the `endpoint` event of the legacy HTTP+SSE transport as it passes through the transparent proxy.
//!
//! An SSE server's first event, `endpoint`, tells the client where to POST its messages. When the proxy maps its
//! paths onto an upstream path prefix (see [`super::transparent::PathMapping`]), that URI must be rewritten into
//! the proxy's path space:
//!
//! - a path (`/some/path/messages?session_id=1`) under the prefix loses the prefix (`/messages?session_id=1`);
//! - an absolute URL of the upstream's origin (`https://remote.example/some/path/messages?…`) becomes the same
//!   proxy path (`/messages?…`), so the client keeps talking to the proxy;
//! - query parameters that come from the target URL itself are removed (the proxy adds them to every request);
//! - a relative reference (`messages?session_id=1`) is kept: it resolves against the client's `/sse` URL the
//!   way it did against the upstream's;
//! - anything else (another origin, a path outside the prefix) is passed unchanged, with a warning.
//!
//! The stream is processed event by event (lines are held only until the blank line that ends their event,
//! which is when a client acts on an event anyway); after the first `endpoint` event, or once an event grows
//! past [`MAX_HELD_EVENT`] without being one, the rest of the stream passes through untouched. Lines may end in
//! `\n` or `\r\n` (a lone `\r` line ending is not recognised).

use bytes::Bytes;
use futures::{Stream, StreamExt};
use url::Url;

/// The largest event held back while looking for the `endpoint` event.
pub const MAX_HELD_EVENT: usize = 64 * 1024;

/// What the rewrite needs to know about the upstream.
#[derive(Debug, Clone)]
pub(crate) struct EndpointMap {
    /// `scheme://host[:port]` of the upstream.
    pub origin: String,
    /// The upstream path prefix (`""` or `/a/b`, no trailing `/`).
    pub prefix: String,
    /// The target URL's own query pairs (`k=v`, raw).
    pub target_query: Vec<String>,
}

impl EndpointMap {
    /// The endpoint URI `value` as the proxy's client must see it.
    pub fn rewrite(&self, value: &str) -> String {
        let v = value.trim();
        let (path, query) = if v.starts_with('/') && !v.starts_with("//") {
            match v.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (v.to_owned(), None),
            }
        } else if let Ok(u) = Url::parse(v) {
            if u.origin().ascii_serialization() != self.origin {
                tracing::warn!(
                    endpoint = v,
                    "SSE endpoint on another origin: not rewritten"
                );
                return value.to_owned();
            }
            (u.path().to_owned(), u.query().map(str::to_owned))
        } else {
            return value.to_owned();
        };
        let Some(path) = self.strip_prefix(&path) else {
            tracing::warn!(endpoint = v, prefix = %self.prefix, "SSE endpoint outside the upstream prefix: not rewritten");
            return value.to_owned();
        };
        let query: Vec<&str> = query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !self.target_query.iter().any(|t| t == p))
            .collect();
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    fn strip_prefix(&self, path: &str) -> Option<String> {
        if self.prefix.is_empty() {
            return Some(path.to_owned());
        }
        let rest = path.strip_prefix(&self.prefix)?;
        if rest.is_empty() {
            Some("/".to_owned())
        } else if rest.starts_with('/') {
            Some(rest.to_owned())
        } else {
            None
        }
    }
}

/// The event-stream rewriter's state.
pub(crate) struct EndpointRewriter {
    map: EndpointMap,
    /// The bytes of an unfinished line.
    partial: Vec<u8>,
    /// The complete lines of the current event.
    held: Vec<u8>,
    is_endpoint: bool,
    /// Pass everything through from now on.
    done: bool,
}

impl EndpointRewriter {
    pub fn new(map: EndpointMap) -> Self {
        Self {
            map,
            partial: Vec::new(),
            held: Vec::new(),
            is_endpoint: false,
            done: false,
        }
    }

    /// Takes the next chunk of the stream and returns what can be sent on now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.done {
            return chunk.to_vec();
        }
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i + 1);
            rest = tail;
            self.partial.extend_from_slice(line);
            let line = std::mem::take(&mut self.partial);
            self.line(&line, &mut out);
            if self.done {
                out.extend_from_slice(rest);
                return out;
            }
        }
        self.partial.extend_from_slice(rest);
        if self.held.len() + self.partial.len() > MAX_HELD_EVENT {
            tracing::debug!("SSE event too large to be an endpoint event: passed through");
            self.done = true;
            out.append(&mut self.held);
            out.append(&mut self.partial);
        }
        out
    }

    /// The end of the stream: whatever is still held.
    pub fn finish(&mut self) -> Vec<u8> {
        self.done = true;
        let mut out = std::mem::take(&mut self.held);
        out.append(&mut self.partial);
        out
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let content = strip_eol(line);
        if content.is_empty() {
            if self.is_endpoint {
                let event = std::mem::take(&mut self.held);
                out.extend(self.rewrite_event(&event));
                self.done = true;
            } else {
                out.append(&mut self.held);
            }
            out.extend_from_slice(line);
            return;
        }
        if field(content, b"event").is_some_and(|v| v == b"endpoint") {
            self.is_endpoint = true;
        }
        self.held.extend_from_slice(line);
    }

    fn rewrite_event(&self, event: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(event.len());
        for line in event.split_inclusive(|&b| b == b'\n') {
            let content = strip_eol(line);
            match field(content, b"data").map(std::str::from_utf8) {
                Some(Ok(value)) => {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(self.map.rewrite(value).as_bytes());
                    out.extend_from_slice(&line[content.len()..]);
                }
                _ => out.extend_from_slice(line),
            }
        }
        out
    }
}

/// The line without its `\n` or `\r\n`.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The value of an SSE field line `name: value` (one space after the colon is not part of the value).
fn field<'a>(content: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let value = content.strip_prefix(name)?.strip_prefix(b":")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

/// `inner` (an event stream) with its `endpoint` event rewritten by `map`.
pub(crate) fn rewrite_stream<S, E>(
    inner: S,
    map: EndpointMap,
) -> impl Stream<Item = Result<Bytes, E>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Send + 'static,
{
    let state = (Box::pin(inner), Some(EndpointRewriter::new(map)));
    futures::stream::unfold(state, |(mut inner, rewriter)| async move {
        let mut rw = rewriter?;
        match inner.next().await {
            Some(Ok(chunk)) => {
                let out = Bytes::from(rw.push(&chunk));
                Some((Ok(out), (inner, Some(rw))))
            }
            Some(Err(e)) => Some((Err(e), (inner, None))),
            None => Some((Ok(Bytes::from(rw.finish())), (inner, None))),
        }
    })
    .filter(|r| futures::future::ready(r.as_ref().map_or(true, |b| !b.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(prefix: &str) -> EndpointMap {
        EndpointMap {
            origin: "https://remote.example".to_owned(),
            prefix: prefix.to_owned(),
            target_query: vec!["key=abc".to_owned()],
        }
    }

    #[test]
    fn rewrites_paths_and_urls_under_the_prefix() {
        let m = map("/some/path");
        assert_eq!(
            m.rewrite("/some/path/messages?session_id=1"),
            "/messages?session_id=1"
        );
        assert_eq!(
            m.rewrite("https://remote.example/some/path/messages?key=abc&session_id=1"),
            "/messages?session_id=1"
        );
        assert_eq!(m.rewrite("messages?session_id=1"), "messages?session_id=1");
        assert_eq!(m.rewrite("/other/messages"), "/other/messages");
        assert_eq!(m.rewrite("/some/pathology"), "/some/pathology");
        assert_eq!(
            m.rewrite("https://elsewhere.example/some/path/m"),
            "https://elsewhere.example/some/path/m"
        );
        assert_eq!(map("").rewrite("/messages?a=1"), "/messages?a=1");
    }

    #[test]
    fn rewrites_the_endpoint_event_split_across_chunks() {
        let mut rw = EndpointRewriter::new(map("/p"));
        let mut out = rw.push(b": ping\n\nevent: endp");
        assert_eq!(out, b": ping\n\n");
        out = rw.push(b"oint\r\ndata: /p/messages?s=1\r\n");
        assert!(out.is_empty());
        out = rw.push(b"\r\nevent: message\ndata: {}\n\n");
        assert_eq!(
            out,
            b"event: endpoint\r\ndata: /messages?s=1\r\n\r\nevent: message\ndata: {}\n\n".to_vec()
        );
        assert_eq!(rw.push(b"data: /p/x\n"), b"data: /p/x\n");
    }

    #[test]
    fn gives_up_on_large_events() {
        let mut rw = EndpointRewriter::new(map("/p"));
        let big = vec![b'x'; MAX_HELD_EVENT + 1];
        let mut chunk = b"data: ".to_vec();
        chunk.extend_from_slice(&big);
        assert_eq!(rw.push(&chunk), chunk);
        assert_eq!(rw.push(b"\n\n"), b"\n\n");
    }
}
